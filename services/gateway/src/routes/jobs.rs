use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission};
use prism_bus::attempts::CancelOutcome;
use prism_bus::{envelope, subjects};
use prism_jobs::SubmitRequest;
use prism_schemas::v1::{JobEvent, JobRecord, JobState};
use prism_store::records::jobs::{self, JobFilter};
use prism_store::records::now_ms;
use serde_json::Value;

use crate::auth::{Caller, on_job};
use crate::bodies;
use crate::catalog;
use crate::catalog::{Change, stage};
use crate::error::{ApiError, ApiResult, Code};
use crate::input::{self, Typed};
use crate::state::AppState;
use prism_bus::subjects::{ConfigEntity, ConfigOp};

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

fn body(job: &JobRecord) -> bodies::Job {
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    bodies::Job {
        id: job.id.clone(),
        dataflow: job.dataflow.clone(),
        version: job.dataflow_version,
        status: job.state().api_name().to_string(),
        attempt: job.attempt,
        created_at: input::time_text(job.created_at_ms),
        started_at: input::time_text(job.started_at_ms),
        finished_at: input::time_text(job.finished_at_ms),
        rows_read: job.rows_read,
        rows_written: job.rows_written,
        error: nonempty(&job.error),
        parameters: job.parameters.clone().into_iter().collect(),
        schedule: nonempty(&job.schedule),
        idempotency_key: nonempty(&job.idempotency_key),
        cancel_requested: job.cancel_requested,
        submitted_by: nonempty(&job.submitted_by),
        executor: nonempty(&job.executor),
        trace_id: nonempty(&job.trace_id),
        stages: job
            .stages
            .iter()
            .map(|stage| bodies::StageStats {
                id: stage.id.clone(),
                rows_in: stage.rows_in,
                rows_out: stage.rows_out,
                elapsed_ms: stage.elapsed_ms,
            })
            .collect(),
    }
}

/// Runs a dataflow: needs `execute` on it.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Typed(request): Typed<bodies::JobRequest>,
) -> ApiResult<(StatusCode, Json<bodies::JobAccepted>)> {
    let _admitted = state.admit_submission()?;
    let dataflow = request.dataflow;
    input::non_empty("dataflow", &dataflow)?;
    caller
        .require(
            &state,
            Permission::on(Action::Execute, Entity::Dataflows, &dataflow),
        )
        .await?;
    if request.version == Some(0) {
        return Err(ApiError::invalid("version", "a positive integer"));
    }
    let version = request.version;
    let parameters = input::parameter_values(request.parameters.iter().flatten())?;
    let idempotency_key = match headers.get(IDEMPOTENCY_HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?
                .to_string(),
        ),
        None => None,
    };
    let mut request = SubmitRequest {
        dataflow,
        version,
        parameters,
        idempotency_key,
        schedule: None,
        submitted_by: caller.name().to_string(),
        permitted_connections: None,
    };
    request.permitted_connections = Some(caller.require_connections(&state, &request).await?);
    let submitted = state.submit(request).await.map_err(|e| match e {
        prism_jobs::SubmitError::Invalid { field, message } if field == "idempotency_key" => {
            ApiError::invalid("Idempotency-Key", message)
        }
        prism_jobs::SubmitError::Conflict { message, .. } => {
            ApiError::new(Code::Conflict, Some("Idempotency-Key"), message)
        }
        other => other.into(),
    })?;
    let job = submitted.job;
    Ok((
        StatusCode::ACCEPTED,
        Json(bodies::JobAccepted {
            status: job.state().api_name().to_string(),
            id: job.id,
        }),
    ))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<bodies::Job>> {
    let job = catalog::job(&state, &id).await?;
    caller.require(&state, on_job(Action::View, &job)).await?;
    Ok(Json(body(&job)))
}

/// A page of the jobs the caller may view (a page may hold fewer than `limit`
/// when some are hidden; `next_cursor` still moves on).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<bodies::Jobs>> {
    input::reject_unknown_query(
        &query,
        &["status", "dataflow", "created_before", "limit", "cursor"],
    )?;
    let limit = input::limit(query.get("limit"))?;
    let state_filter = match query.get("status") {
        None => None,
        Some(name) => Some(JobState::from_api_name(name).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "one of queued, running, succeeded, failed, cancelled",
            )
        })?),
    };
    let filter = JobFilter {
        state: state_filter,
        dataflow: query.get("dataflow").cloned(),
    };
    // Job ids are UUIDv7, ordered by creation: a time is a cursor too.
    let before_time =
        input::query_time(&query, "created_before")?.map(|t| first_id_at(t.timestamp_millis()));
    let cursor = match (query.get("cursor").cloned(), before_time) {
        (Some(cursor), Some(bound)) => Some(cursor.min(bound)),
        (cursor, bound) => cursor.or(bound),
    };
    let page = state
        .store
        .transact(|tx| {
            let (filter, cursor) = (filter.clone(), cursor.clone());
            async move { jobs::list(&tx, &filter, cursor.as_deref(), limit).await }
        })
        .await?;
    // A job is named by its dataflow (see `on_job`).
    let visible = caller
        .visible(&state, Entity::Jobs, page.jobs, |j| &j.dataflow)
        .await?;
    Ok(Json(bodies::Jobs {
        jobs: visible.iter().map(body).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The smallest UUIDv7 of millisecond `ms`: every job created before it has a
/// smaller id, every job created at or after it a larger one.
fn first_id_at(ms: i64) -> String {
    let ms = ms.max(0) as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff
    )
}

/// Cancels a job through the attempt fence, its one mechanism: a job no executor
/// claimed yet is `cancelled` at once (the executor that later pulls it acknowledges
/// it without running it); a running one is asked to stop, and becomes `cancelled`
/// when its executor acts. A finished job cannot be cancelled. The request itself
/// reaches the audit log as `job.cancel`, with the terminal event when there is one.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<bodies::Job>)> {
    let job = catalog::job(&state, &id).await?;
    caller.require(&state, on_job(Action::Modify, &job)).await?;
    let job = cancel_job(&state, caller.name(), job).await?;
    Ok((StatusCode::ACCEPTED, Json(body(&job))))
}

/// Cancels `job` for `actor` (whose permission the caller checked) through the
/// attempt fence, announcing it; answers the job as it now stands. 409 when it
/// had finished already.
pub(crate) async fn cancel_job(
    state: &AppState,
    actor: &str,
    mut job: JobRecord,
) -> ApiResult<JobRecord> {
    let id = job.id.clone();
    let already_finished = |job_state: JobState| {
        ApiError::new(
            Code::Conflict,
            Some("id"),
            format!("job already {}", job_state.api_name()),
        )
    };
    if job.state().is_terminal() {
        return Err(already_finished(job.state()));
    }
    let cancelled = cancelled_event(&job);
    let outcome = state
        .attempts
        .request_cancel(&id, &cancelled, actor)
        .await?;
    let mut messages = vec![
        Change::new(
            actor,
            ConfigEntity::Job,
            ConfigOp::Cancel,
            &id,
            Value::Object(Default::default()),
        )
        .message(),
    ];
    match outcome {
        CancelOutcome::AlreadyFinished(job_state) => return Err(already_finished(job_state)),
        CancelOutcome::CancelledQueued(event) => {
            let subject = subjects::job_event(&id, JobState::Cancelled.event_kind());
            messages.push(envelope(subject, &event.event_id, &*event));
            job.state = JobState::Cancelled as i32;
            job.finished_at_ms = event.finished_at_ms;
        }
        CancelOutcome::Requested => {}
    }
    job.cancel_requested = true;
    let staged = state
        .store
        .transact(|tx| {
            let messages = messages.clone();
            async move { stage(&tx, messages).await }
        })
        .await?;
    state.announce(&staged).await;
    Ok(job)
}

/// The terminal event of a job cancelled before any executor claimed it.
fn cancelled_event(job: &JobRecord) -> JobEvent {
    let now = now_ms();
    JobEvent {
        event_id: subjects::job_event_id(&job.id, 0, JobState::Cancelled.event_kind()),
        job_id: job.id.clone(),
        state: JobState::Cancelled as i32,
        attempt: 0,
        dataflow: job.dataflow.clone(),
        dataflow_version: job.dataflow_version,
        occurred_at_ms: now,
        created_at_ms: job.created_at_ms,
        finished_at_ms: now,
        actor: job_actor(job),
        ..Default::default()
    }
}

/// Who a job's events name: its submitter, or `schedule:<name>`.
pub fn job_actor(job: &JobRecord) -> String {
    if job.schedule.is_empty() {
        job.submitted_by.clone()
    } else {
        format!("schedule:{}", job.schedule)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_orders_like_the_ids_made_at_it() {
        let ms = 1_780_000_000_123_i64;
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            (ms / 1000) as u64,
            ((ms % 1000) * 1_000_000) as u32,
        ))
        .to_string();
        assert!(
            super::first_id_at(ms) <= id,
            "{} > {id}",
            super::first_id_at(ms)
        );
        assert!(super::first_id_at(ms + 1) > id);
        assert!(super::first_id_at(ms - 1) < id);
    }
}
