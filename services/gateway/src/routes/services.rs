//! Exposing service dataflows. An exposed service is a record in the configuration
//! database and, written through the outbox in the same transaction, a
//! `ServiceSpec` in the bucket `prism_services` that executors watch: they never
//! read the store. Exposing and unexposing are audited changes.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::Entity;
use prism_bus::{envelope, subjects};
use prism_dataflow::Kind;
use prism_schemas::v1::{OutboxMessage, ServiceRecord, ServiceSpec};
use prism_store::Tx;
use prism_store::records::{dataflows, now_ms, services};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::bodies;
use crate::error::{ApiError, ApiResult};
use crate::input;
use crate::state::{AppState, Change, stage};

const DEFAULT_TIMEOUT_MS: u32 = 5_000;
const MAX_TIMEOUT_MS: u32 = 60_000;
const DEFAULT_MAX_INFLIGHT: u32 = 64;
const MAX_INFLIGHT: u32 = 10_000;

fn to_json(s: &ServiceRecord) -> Value {
    json!(bodies::Service {
        name: s.name.clone(),
        dataflow: s.dataflow.clone(),
        version: s.version,
        pinned: s.pinned,
        timeout_ms: s.timeout_ms,
        max_inflight: s.max_inflight,
        exposed_by: s.exposed_by.clone(),
        created_at: input::time_text(s.created_at_ms),
        updated_at: input::time_text(s.updated_at_ms),
    })
}

/// An optional bounded integer field.
fn bounded(map: &Map<String, Value>, field: &str, default: u32, max: u32) -> ApiResult<u32> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=u64::from(max)).contains(n))
            .map(|n| n as u32)
            .ok_or_else(|| ApiError::invalid(field, format!("an integer from 1 to {max}"))),
    }
}

/// `{"dataflow","version"?,"timeout_ms"?,"max_inflight"?}`: serves the given
/// version (pinned), or the latest and every later one as it is saved.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    input::check_name("name", &name)?;
    let map = input::json_object(&body)?;
    input::reject_unknown(&map, &["dataflow", "version", "timeout_ms", "max_inflight"])?;
    let dataflow = input::required_str(&map, "dataflow")?.to_string();
    let version = match map.get("version") {
        None | Some(Value::Null) => None,
        Some(_) => Some(bounded(&map, "version", 0, u32::MAX)?),
    };
    let wanted = ServiceRecord {
        name: name.clone(),
        dataflow,
        version: version.unwrap_or(0),
        pinned: version.is_some(),
        timeout_ms: bounded(&map, "timeout_ms", DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)?,
        max_inflight: bounded(&map, "max_inflight", DEFAULT_MAX_INFLIGHT, MAX_INFLIGHT)?,
        exposed_by: caller.name().to_string(),
        ..Default::default()
    };
    let (record, created, staged) = state
        .store
        .transact(|tx| {
            let wanted = &wanted;
            async move { expose(&tx, wanted).await }
        })
        .await??;
    state.announce(&staged).await;
    state.forget_service(&name);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_json(&record))))
}

type Staged = prism_outbox::Staged;

async fn expose(
    tx: &Tx,
    wanted: &ServiceRecord,
) -> prism_store::Result<ApiResult<(ServiceRecord, bool, Staged)>> {
    let existing = services::get(tx, &wanted.name).await?;
    let now = now_ms();
    let mut record = ServiceRecord {
        created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
        updated_at_ms: now,
        ..wanted.clone()
    };
    let spec = match spec_for(tx, &mut record).await? {
        Ok(spec) => spec,
        Err(refused) => return Ok(Err(refused)),
    };
    services::put(tx, &record).await?;
    let change = Change::new(
        &record.exposed_by,
        "service",
        "expose",
        &record.name,
        to_json(&record),
    );
    let staged = stage(tx, vec![change.message(), spec]).await?;
    Ok(Ok((record, existing.is_none(), staged)))
}

/// The bucket entry that serves `record`'s dataflow version (resolving the latest
/// when it is not pinned), checked to be a service.
async fn spec_for(
    tx: &Tx,
    record: &mut ServiceRecord,
) -> prism_store::Result<ApiResult<OutboxMessage>> {
    let found = if record.pinned {
        dataflows::get_version(tx, &record.dataflow, record.version).await?
    } else {
        dataflows::latest(tx, &record.dataflow).await?
    };
    let Some(version) = found else {
        let (field, message) = if record.pinned {
            (
                "version",
                format!(
                    "dataflow {:?} has no version {}",
                    record.dataflow, record.version
                ),
            )
        } else {
            (
                "dataflow",
                format!("no dataflow named {:?}", record.dataflow),
            )
        };
        return Ok(Err(ApiError::invalid(field, message)));
    };
    let Ok(dataflow) = prism_dataflow::validate::from_stored(&version.document_json) else {
        return Ok(Err(ApiError::invalid(
            "dataflow",
            "the stored dataflow is invalid",
        )));
    };
    if dataflow.kind != Kind::Service {
        let message = format!(
            "{:?} is a job dataflow; services expose \"kind\":\"service\"",
            record.dataflow
        );
        return Ok(Err(ApiError::invalid("dataflow", message)));
    }
    let connections = match prism_jobs::snapshot_connections(tx, &dataflow).await? {
        Ok(connections) => connections,
        Err(refused) => return Ok(Err(refused.into())),
    };
    record.version = version.version;
    let spec = ServiceSpec {
        name: record.name.clone(),
        exposed: true,
        dataflow: record.dataflow.clone(),
        version: version.version,
        dataflow_document: version.document_json,
        connections,
        timeout_ms: record.timeout_ms,
        max_inflight: record.max_inflight,
        updated_at_ms: record.updated_at_ms,
    };
    Ok(Ok(spec_message(&spec)))
}

fn spec_message(spec: &ServiceSpec) -> OutboxMessage {
    let msg_id = format!("svc.{}.{}", spec.name, spec.updated_at_ms);
    envelope(subjects::service_spec(&spec.name), &msg_id, spec)
}

/// Within the transaction that saved a new version of `dataflow`: every service
/// that follows its latest version moves to it. Answers the messages to stage.
pub async fn roll_out(tx: &Tx, dataflow: &str) -> prism_store::Result<Vec<OutboxMessage>> {
    let mut messages = Vec::new();
    for mut record in services::list(tx).await? {
        if record.pinned || record.dataflow != dataflow {
            continue;
        }
        record.updated_at_ms = now_ms();
        // A new version that is not a service leaves the running one in place.
        if let Ok(spec) = spec_for(tx, &mut record).await? {
            services::put(tx, &record).await?;
            messages.push(spec);
        }
    }
    Ok(messages)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { services::get(&tx, &name).await }
        })
        .await?;
    found
        .map(|record| Json(to_json(&record)))
        .ok_or_else(|| ApiError::not_found("name", format!("no service named {name:?}")))
}

/// The services the caller may view.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let all = state
        .store
        .transact(|tx| async move { services::list(&tx).await })
        .await?;
    let visible = caller
        .visible(&state, Entity::Services, all, |s| &s.name)
        .await?;
    Ok(Json(
        json!({ "services": visible.iter().map(to_json).collect::<Vec<_>>() }),
    ))
}

/// Unexposes: executors stop answering it (its bucket entry says so).
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let staged = state
        .store
        .transact(|tx| {
            let (name, actor) = (name.clone(), caller.name());
            async move {
                if services::get(&tx, &name).await?.is_none() {
                    return Ok(None);
                }
                services::delete(&tx, &name).await?;
                let gone = ServiceSpec {
                    name: name.clone(),
                    exposed: false,
                    updated_at_ms: now_ms(),
                    ..Default::default()
                };
                let change = Change::new(actor, "service", "unexpose", &name, json!({}));
                stage(&tx, vec![change.message(), spec_message(&gone)])
                    .await
                    .map(Some)
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("name", format!("no service named {name:?}")))?;
    state.announce(&staged).await;
    state.forget_service(&name);
    Ok(StatusCode::NO_CONTENT)
}
