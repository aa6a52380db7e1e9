//! Calling a service: the gateway forwards the request on `prism.svc.<name>`, where
//! executors answer in one queue group, and turns the outcome into a real status:
//! 400 for a request the service refuses, 404 for an unknown service, 503 with
//! `Retry-After` at `max_inflight` or when no executor answers, 504 past
//! `timeout_ms`. A call that finds no executor, or gets no answer in half its time
//! (its executor died with it), is tried once more (services have no side effects),
//! so a dying executor costs a retry, not an error.
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use prism_bus::service_call::{CallAnswer, CallError, CallReply, CallRequest, RowError};
use prism_bus::subjects;
use prism_schemas::v1::ServiceRecord;
use prism_store::records::services;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::auth::Caller;
use crate::bodies;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::routes::history;
use crate::state::AppState;

/// Pause before the one retry of a call that found no executor.
const RETRY_AFTER_NO_RESPONDER: Duration = Duration::from_millis(100);

/// The body is read into its type after the service is found, so that a call
/// with a malformed body is still a call of the service, in its history.
pub async fn invoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<bodies::ServiceAnswer>> {
    let request = input::typed::<bodies::ServiceRequest>(&body).map(|request| CallRequest {
        rows: request.rows,
        parameters: request.parameters.unwrap_or_default(),
        text_values: false,
    });
    let answer = forward(&state, caller.name(), &name, request).await?;
    Ok(Json(bodies::ServiceAnswer {
        rows: answer.rows,
        errors: row_errors(answer.errors),
        rows_in: answer.rows_in,
        node: answer.node,
        version: answer.version,
        duration_ms: answer.duration_ms,
        request_id: answer.request_id,
    }))
}

fn row_errors(errors: Vec<RowError>) -> Option<Vec<bodies::RowError>> {
    let errors: Vec<bodies::RowError> = errors
        .into_iter()
        .map(|e| bodies::RowError {
            row: e.row as u64,
            field: e.field,
            message: e.message,
        })
        .collect();
    (!errors.is_empty()).then_some(errors)
}

/// The compatibility shape, one row: `GET /rest/{name}/results.json?Data.<field>=…&Option.<parameter>=…`
/// answers `{"Output":[…]}`. Query values are text; the executor reads them as the
/// declared field types.
pub async fn rest_get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<bodies::RestAnswer>> {
    let (mut row, mut parameters) = (Map::new(), Map::new());
    for (key, value) in query {
        if let Some(field) = key.strip_prefix("Data.") {
            row.insert(field.to_string(), Value::String(value));
        } else if let Some(parameter) = key.strip_prefix("Option.") {
            parameters.insert(parameter.to_string(), Value::String(value));
        } else {
            return Err(ApiError::invalid(
                &key,
                "expected Data.<field> or Option.<parameter>",
            ));
        }
    }
    let request = CallRequest {
        rows: vec![Value::Object(row)],
        parameters,
        text_values: true,
    };
    compat(&state, caller.name(), &name, Ok(request)).await
}

/// The compatibility shape: `{"Input":{"Row":[{…}]}}` answers `{"Output":[{…}]}`
/// (the body read as `invoke` reads its own).
pub async fn rest_post(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<bodies::RestAnswer>> {
    let request = input::typed::<bodies::RestRequest>(&body).map(|request| CallRequest {
        rows: request.input.row,
        parameters: request.options.unwrap_or_default(),
        text_values: false,
    });
    compat(&state, caller.name(), &name, request).await
}

async fn compat(
    state: &Arc<AppState>,
    caller: &str,
    name: &str,
    request: ApiResult<CallRequest>,
) -> ApiResult<Json<bodies::RestAnswer>> {
    let answer = forward(state, caller, name, request).await?;
    Ok(Json(bodies::RestAnswer {
        output: answer.rows,
        errors: row_errors(answer.errors),
    }))
}

/// Sends one call to the service's executors, reads the answer, and adds the call
/// to the service's history.
async fn forward(
    state: &Arc<AppState>,
    caller: &str,
    name: &str,
    request: ApiResult<CallRequest>,
) -> ApiResult<CallAnswer> {
    let record = load(state, name).await?;
    let started = Instant::now();
    let result = match request {
        Ok(request) => {
            let body = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
            exchange(state, &record, body).await
        }
        Err(refused) => Err(refused),
    };
    history::record(state, caller, &record, started, &result);
    let status = match &result {
        Ok(_) => 200,
        Err(error) => error.code.http_status(),
    };
    prism_metrics::get().service_call(status, started.elapsed());
    result
}

async fn exchange(state: &AppState, record: &ServiceRecord, body: Bytes) -> ApiResult<CallAnswer> {
    let name = record.name.as_str();
    let slots = slots(state, record);
    let Ok(_slot) = slots.try_acquire_owned() else {
        return Err(unavailable(format!(
            "service {name:?} is at its max_inflight of {}",
            record.max_inflight
        )));
    };
    let deadline = Instant::now() + Duration::from_millis(u64::from(record.timeout_ms));
    // The first attempt gets half the time: an executor that died with the request
    // never answers, and the second attempt goes to another one.
    let first = Duration::from_millis(u64::from(record.timeout_ms).div_ceil(2));
    let reply = match call(state, name, body.clone(), first).await {
        Ok(Some(reply)) => reply,
        Ok(None) => {
            tokio::time::sleep(RETRY_AFTER_NO_RESPONDER).await;
            retry(state, name, body, deadline).await?
        }
        Err(error) if error.code == Code::DeadlineExceeded => {
            retry(state, name, body, deadline).await?
        }
        Err(error) => return Err(error),
    };
    // Read once, into the contract's type: an answer, or the service's refusal.
    let reply: CallReply = serde_json::from_slice(&reply).map_err(|e| {
        ApiError::new(
            Code::Internal,
            None,
            format!("unreadable service reply: {e}"),
        )
    })?;
    match reply {
        CallReply::Answered(answer) => Ok(answer),
        CallReply::Refused(refused) => Err(refusal(refused.error)),
    }
}

/// How long a gateway answers calls from the service record it read: a change
/// made through another gateway (a new `max_inflight`, an unexposed service) takes
/// effect within this; one made through this gateway, at once.
const RECORD_TTL: Duration = Duration::from_secs(1);

async fn load(state: &AppState, name: &str) -> ApiResult<ServiceRecord> {
    let not_found = || ApiError::not_found("name", format!("no service named {name:?}"));
    if let Some((read_at, record)) = state
        .service_records
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        && read_at.elapsed() < RECORD_TTL
    {
        return record.clone().ok_or_else(not_found);
    }
    let owned = name.to_string();
    let found = state
        .store
        .transact(|tx| {
            let name = owned.clone();
            async move { services::get(&tx, &name).await }
        })
        .await?;
    let mut records = state
        .service_records
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if records.len() >= 10_000 {
        records.clear();
    }
    records.insert(name.to_string(), (Instant::now(), found.clone()));
    found.ok_or_else(not_found)
}

/// The service's places for calls in flight on this gateway, resized when its
/// `max_inflight` changes.
fn slots(state: &AppState, record: &ServiceRecord) -> Arc<Semaphore> {
    let mut all = state
        .service_slots
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let entry = all.entry(record.name.clone()).or_insert_with(|| {
        (
            record.max_inflight,
            Arc::new(Semaphore::new(record.max_inflight as usize)),
        )
    });
    if entry.0 != record.max_inflight {
        *entry = (
            record.max_inflight,
            Arc::new(Semaphore::new(record.max_inflight as usize)),
        );
    }
    entry.1.clone()
}

/// One request; `None` when no executor answers the service.
async fn call(
    state: &AppState,
    name: &str,
    body: Bytes,
    timeout: Duration,
) -> ApiResult<Option<Bytes>> {
    let request = state
        .bus
        .client
        .request(subjects::service_request(name), body);
    match tokio::time::timeout(timeout, request).await {
        Err(_) => Err(ApiError::new(
            Code::DeadlineExceeded,
            None,
            format!(
                "service {name:?} did not answer within {} ms",
                timeout.as_millis()
            ),
        )),
        Ok(Ok(message)) => Ok(Some(message.payload)),
        Ok(Err(error)) if error.kind() == async_nats::RequestErrorKind::NoResponders => Ok(None),
        Ok(Err(error)) => Err(unavailable(format!("bus: {error}"))),
    }
}

/// The one retry, with what is left of the call's time.
async fn retry(state: &AppState, name: &str, body: Bytes, deadline: Instant) -> ApiResult<Bytes> {
    let left = deadline.saturating_duration_since(Instant::now());
    call(state, name, body, left.max(Duration::from_millis(1)))
        .await?
        .ok_or_else(|| unavailable(format!("no executor answers service {name:?}")))
}

fn unavailable(message: String) -> ApiError {
    let mut error = ApiError::new(Code::Unavailable, None, message);
    error.retry_after_secs = Some(1);
    error
}

/// The service's own refusal, with its status: a request it could not read is 400,
/// one it could not compute 422.
fn refusal(error: CallError) -> ApiError {
    let code = match error.code.as_str() {
        "invalid_argument" => Code::InvalidArgument,
        _ => Code::Unprocessable,
    };
    let field = error.field.filter(|f| !f.is_empty());
    ApiError::new(code, field.as_deref(), error.message)
}
