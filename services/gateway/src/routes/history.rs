//! Service history: every call becomes one `ServiceCall` event on
//! `prism.events.svc.<name>.<outcome>` (no payloads), published off the caller's
//! path; statistics are read back from the stream, so every gateway of a cluster
//! answers the same.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use axum::Json;
use axum::extract::{Path, Query, State};
use futures::StreamExt;
use prism_bus::service_call::CallAnswer;
use prism_bus::subjects;
use prism_schemas::v1::{ServiceCall, ServiceRecord};
use prism_store::records::now_ms;
use prost::Message;

use crate::bodies;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::state::AppState;

/// The longest window statistics look back over, and the most calls they read.
const MAX_WINDOW_SECS: u64 = 3600;
const MAX_CALLS_READ: usize = 100_000;

fn outcome(result: &ApiResult<CallAnswer>) -> (&'static str, u16) {
    match result {
        Ok(_) => ("ok", 200),
        Err(error) => {
            let outcome = match error.code {
                Code::InvalidArgument | Code::NotFound => "invalid",
                Code::Unavailable | Code::ResourceExhausted => "unavailable",
                Code::DeadlineExceeded => "timeout",
                _ => "failed",
            };
            (outcome, error.code.http_status())
        }
    }
}

/// Publishes the call's event without waiting for its acknowledgement: history
/// never slows a call, and a bus hiccup loses one history entry, never an answer.
pub fn record(
    state: &Arc<AppState>,
    caller: &str,
    service: &ServiceRecord,
    started: Instant,
    result: &ApiResult<CallAnswer>,
) {
    let (outcome, status) = outcome(result);
    let answer = result.as_ref().ok();
    let event = ServiceCall {
        event_id: answer.map_or_else(
            || uuid::Uuid::now_v7().to_string(),
            |a| a.request_id.clone(),
        ),
        service: service.name.clone(),
        version: answer.map_or(service.version, |a| a.version),
        caller: caller.to_string(),
        node: answer.map(|a| a.node.clone()).unwrap_or_default(),
        status: u32::from(status),
        outcome: outcome.to_string(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        rows_in: answer.map_or(0, |a| a.rows_in),
        rows_out: answer.map_or(0, |a| a.rows.len() as u64),
        row_errors: answer.map_or(0, |a| a.errors.len() as u64),
        occurred_at_ms: now_ms(),
    };
    let bus = state.bus.clone();
    tokio::spawn(async move {
        let subject = subjects::service_call_event(&event.service, &event.outcome);
        if let Err(error) = bus
            .publish_unacknowledged(subject, &event.event_id, &event)
            .await
        {
            tracing::debug!(%error, "service call not added to history");
        }
    });
}

/// `GET /v1/services/{name}/stats?window=<seconds>` (default 300, at most 3600):
/// requests, error rate and latency percentiles over the window.
pub async fn stats(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<bodies::ServiceStats>> {
    // The name becomes part of a subject filter: only names that can be one.
    input::check_name("name", &name)?;
    input::reject_unknown_query(&query, &["window"])?;
    let window = match query.get("window") {
        None => 300,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|w| (1..=MAX_WINDOW_SECS).contains(w))
            .ok_or_else(|| {
                ApiError::invalid("window", format!("seconds, from 1 to {MAX_WINDOW_SECS}"))
            })?,
    };
    let calls = read_calls(&state, &name, Duration::from_secs(window)).await?;
    let mut durations: Vec<f64> = calls.iter().map(|c| c.duration_ms).collect();
    durations.sort_by(f64::total_cmp);
    let percentile = |p: f64| -> Option<f64> {
        if durations.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * durations.len() as f64).ceil() as usize;
        Some(durations[rank.clamp(1, durations.len()) - 1])
    };
    let errors = calls.iter().filter(|c| c.status >= 500).count();
    let requests = calls.len();
    Ok(Json(bodies::ServiceStats {
        service: name,
        window_seconds: window,
        requests: requests as u64,
        errors: errors as u64,
        error_rate: if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        },
        p50_ms: percentile(50.0),
        p95_ms: percentile(95.0),
        p99_ms: percentile(99.0),
        truncated: requests >= MAX_CALLS_READ,
    }))
}

/// The calls of `name` in the last `window`, from the stream, at most
/// [`MAX_CALLS_READ`].
async fn read_calls(state: &AppState, name: &str, window: Duration) -> ApiResult<Vec<ServiceCall>> {
    let bus_error = |e: String| ApiError::new(Code::Unavailable, None, format!("bus: {e}"));
    let stream = state
        .bus
        .jetstream
        .get_stream(subjects::EVENTS_STREAM)
        .await
        .map_err(|e| bus_error(e.to_string()))?;
    let start = time::OffsetDateTime::now_utc() - window;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subjects::service_calls(name),
            deliver_policy: DeliverPolicy::ByStartTime { start_time: start },
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|e| bus_error(e.to_string()))?;
    let mut pending = consumer.cached_info().num_pending as usize;
    let mut calls = Vec::new();
    while pending > 0 && calls.len() < MAX_CALLS_READ {
        let wanted = pending.min(1000).min(MAX_CALLS_READ - calls.len());
        let mut batch = consumer
            .fetch()
            .max_messages(wanted)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .map_err(|e| bus_error(e.to_string()))?;
        let mut got = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| bus_error(e.to_string()))?;
            got += 1;
            if let Ok(call) = ServiceCall::decode(message.payload.as_ref()) {
                calls.push(call);
            }
        }
        if got == 0 {
            break;
        }
        pending = pending.saturating_sub(got);
    }
    Ok(calls)
}
