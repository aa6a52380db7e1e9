//! `GET /v1/jobs/{id}/logs[?follow=true]`: a job's own log lines from the bus
//! (stream `LOGS`, subject `prism.logs.job.<id>`), as JSON lines. With `follow`, the
//! answer streams new lines until the job has ended and its last line is read.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use prism_auth::Action;
use prism_bus::subjects;

use crate::auth::{Caller, on_job};
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::state::AppState;

/// A follower waits this long for a line before checking whether the job ended.
const IDLE: Duration = Duration::from_secs(1);
/// The longest a follow lasts: a job that never ends cannot hold a connection forever.
const MAX_FOLLOW: Duration = Duration::from_secs(3600);
const JSON_LINES: &str = "application/x-ndjson";

/// What the bus gave within one wait.
enum Chunk {
    /// A line (ending with a line break); `last` when no stored line is left.
    Line { text: Vec<u8>, last: bool },
    /// Nothing new within [`IDLE`] (or nothing stored at all).
    Quiet,
}

type Lines = std::pin::Pin<Box<dyn Stream<Item = Chunk> + Send>>;

pub async fn logs(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    input::reject_unknown_query(&query, &["follow"])?;
    let follow = match query.get("follow").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("follow", "true or false")),
    };
    // A job that exists names the subject: ids come from the store, never the path.
    let job = crate::catalog::job(&state, &id).await?;
    caller.require(&state, on_job(Action::View, &job)).await?;
    let lines = open(&state, &job.id).await?;
    let body = if follow {
        Body::from_stream(following(state, job.id, lines).map(Ok::<_, std::io::Error>))
    } else {
        Body::from(so_far(lines).await)
    };
    Ok(([(header::CONTENT_TYPE, JSON_LINES)], body).into_response())
}

fn bus_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::Unavailable, None, format!("bus: {e}"))
}

/// An ordered consumer over the job's lines, from the first.
async fn open(state: &AppState, job_id: &str) -> ApiResult<Lines> {
    let stream = state
        .bus
        .jetstream
        .get_stream(subjects::LOGS_STREAM)
        .await
        .map_err(bus_error)?;
    let mut consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subjects::job_log(job_id),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(bus_error)?;
    let stored = consumer.info().await.map_err(bus_error)?.num_pending;
    let messages = consumer.messages().await.map_err(bus_error)?;
    let lines = futures::stream::unfold((messages, stored), |(mut messages, stored)| async move {
        if stored == 0 {
            // Nothing stored yet: say so at once, then wait like a follower.
            return Some((Chunk::Quiet, (messages, u64::MAX)));
        }
        match tokio::time::timeout(IDLE, messages.next()).await {
            Ok(Some(Ok(message))) => {
                let left = message.info().map(|i| i.pending).unwrap_or(0);
                let mut text = message.payload.to_vec();
                text.push(b'\n');
                let chunk = Chunk::Line {
                    text,
                    last: left == 0,
                };
                Some((chunk, (messages, left.max(1))))
            }
            Ok(_) => None,
            Err(_) => Some((Chunk::Quiet, (messages, stored))),
        }
    });
    Ok(Box::pin(lines))
}

/// Every line stored now.
async fn so_far(mut lines: Lines) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Chunk::Line { text, last }) = lines.next().await {
        out.extend_from_slice(&text);
        if last {
            break;
        }
    }
    out
}

/// Lines as they come, until the job has ended and the lines stored by then are
/// read (its executor tells the last line before the job's end is recorded).
fn following(state: Arc<AppState>, job_id: String, lines: Lines) -> impl Stream<Item = Vec<u8>> {
    let deadline = tokio::time::Instant::now() + MAX_FOLLOW;
    futures::stream::unfold((lines, false), move |(mut lines, ended)| {
        let (state, job_id) = (state.clone(), job_id.clone());
        async move {
            loop {
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                match lines.next().await? {
                    Chunk::Line { text, .. } => return Some((text, (lines, ended))),
                    // Quiet after the job ended: every line it told is read.
                    Chunk::Quiet if ended => return None,
                    Chunk::Quiet => {
                        let ended = crate::catalog::job(&state, &job_id)
                            .await
                            .is_ok_and(|job| job.state().is_terminal());
                        if ended {
                            // One more wait, for lines still on their way.
                            return Some((Vec::new(), (lines, true)));
                        }
                    }
                }
            }
        }
    })
    .filter(|text| futures::future::ready(!text.is_empty()))
}
