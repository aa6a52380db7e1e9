//! `GET /v1/reports/jobs?from=&to=&group_by=dataflow|day|node&format=json|csv`: the
//! jobs created in a window, grouped (see [`crate::report`]). Only jobs the caller
//! may view are counted.
use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use prism_auth::Action;
use prism_store::records::jobs::{self, JobFilter};

use crate::auth::Caller;
use crate::bodies::JobReport;
use crate::error::{ApiError, ApiResult};
use crate::input;
use crate::report::{GroupBy, Report, csv};
use crate::state::AppState;

/// One report reads at most this many jobs (newest first); beyond, it says
/// `truncated`.
const MAX_JOBS: usize = 100_000;
const PAGE: usize = 1000;
/// The widest window one report covers.
const MAX_DAYS: i64 = 366;
/// The window when `from` is not given.
const DEFAULT_DAYS: i64 = 7;

/// RFC 3339, or a day (`2026-11-28`, midnight UTC).
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn window(query: &HashMap<String, String>) -> ApiResult<Window> {
    let to = input::query_time(query, "to")?.unwrap_or_else(Utc::now);
    let from =
        input::query_time(query, "from")?.unwrap_or(to - chrono::Duration::days(DEFAULT_DAYS));
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    if to - from > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    Ok(Window { from, to })
}

pub async fn jobs(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    input::reject_unknown_query(&query, &["from", "to", "group_by", "format"])?;
    let window = window(&query)?;
    let by_name = query.get("group_by").map_or("dataflow", String::as_str);
    let by = GroupBy::parse(by_name)
        .ok_or_else(|| ApiError::invalid("group_by", "one of dataflow, day, node"))?;
    let as_csv = match query.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format", "json or csv")),
    };
    let (report, truncated) = gather(&state, &caller, &window, by).await?;
    let groups = report.groups();
    if as_csv {
        let headers = [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"prism-jobs.csv\"",
            ),
        ];
        return Ok((headers, csv(&groups)).into_response());
    }
    let body = JobReport {
        from: window
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        to: window
            .to
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        group_by: by_name.to_string(),
        groups,
        truncated,
    };
    Ok(axum::Json(body).into_response())
}

/// Reads the window's jobs newest first, page by page, counting the visible ones.
async fn gather(
    state: &Arc<AppState>,
    caller: &Caller,
    window: &Window,
    by: GroupBy,
) -> ApiResult<(Report, bool)> {
    let (from_ms, to_ms) = (window.from.timestamp_millis(), window.to.timestamp_millis());
    let mut report = Report::new(by);
    // Permissions are per dataflow: asked once each.
    let mut visible: HashMap<String, bool> = HashMap::new();
    let (mut read, mut cursor) = (0, None::<String>);
    loop {
        let page = state
            .store
            .transact(|tx| {
                let cursor = cursor.clone();
                async move { jobs::list(&tx, &JobFilter::default(), cursor.as_deref(), PAGE).await }
            })
            .await?;
        for job in &page.jobs {
            if job.created_at_ms < from_ms {
                return Ok((report, false));
            }
            read += 1;
            if job.created_at_ms >= to_ms {
                continue;
            }
            let may = match visible.get(&job.dataflow) {
                Some(may) => *may,
                None => {
                    let may = caller
                        .may(state, crate::auth::on_job(Action::View, job))
                        .await?;
                    visible.insert(job.dataflow.clone(), may);
                    may
                }
            };
            if may {
                report.add(job);
            }
        }
        match page.next_cursor {
            Some(next) if read < MAX_JOBS => cursor = Some(next),
            Some(_) => return Ok((report, true)),
            None => return Ok((report, false)),
        }
    }
}
