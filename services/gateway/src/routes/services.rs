//! Exposing service dataflows. An exposed service is a record in the configuration
//! database and, written through the outbox in the same transaction, a
//! `ServiceSpec` in the bucket `prism_services` that executors watch: they never
//! read the store. Exposing and unexposing are audited changes.
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use prism_bus::subjects::ConfigOp;
use prism_schemas::v1::{ServiceRecord, ServiceSpec};
use prism_store::Tx;
use prism_store::records::now_ms;

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{self, Draft, Saved};
use crate::error::{ApiError, ApiResult};
use crate::exposure;
use crate::input::{self, Typed};
use crate::state::AppState;

const DEFAULT_TIMEOUT_MS: u32 = 5_000;
const MAX_TIMEOUT_MS: u32 = 60_000;
const DEFAULT_MAX_INFLIGHT: u32 = 64;
const MAX_INFLIGHT: u32 = 10_000;

/// An optional bounded integer field.
fn bounded(value: Option<u32>, field: &str, default: u32, max: u32) -> ApiResult<u32> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("an integer from 1 to {max}"),
        )),
    }
}

/// Serves the given version (pinned), or the latest and every later one as it is
/// saved.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(spec): Typed<bodies::ServiceSpec>,
) -> ApiResult<Saved<ServiceRecord>> {
    input::check_name("name", &name)?;
    input::non_empty("dataflow", &spec.dataflow)?;
    let wanted = ServiceRecord {
        name: name.clone(),
        version: bounded(spec.version, "version", 0, u32::MAX)?,
        pinned: spec.version.is_some(),
        dataflow: spec.dataflow,
        timeout_ms: bounded(
            spec.timeout_ms,
            "timeout_ms",
            DEFAULT_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        )?,
        max_inflight: bounded(
            spec.max_inflight,
            "max_inflight",
            DEFAULT_MAX_INFLIGHT,
            MAX_INFLIGHT,
        )?,
        exposed_by: caller.name().to_string(),
        ..Default::default()
    };
    let wanted = &wanted;
    let saved = catalog::save(
        &state,
        caller.name(),
        &name,
        ConfigOp::Expose,
        |tx, existing| async move { expose(&tx, wanted, existing).await },
    )
    .await?;
    state.forget_service(&name);
    Ok(saved)
}

/// `wanted` with its bucket entry, if it names a service dataflow's version.
async fn expose(
    tx: &Tx,
    wanted: &ServiceRecord,
    existing: Option<ServiceRecord>,
) -> prism_store::Result<ApiResult<Draft<ServiceRecord>>> {
    let now = now_ms();
    let mut record = ServiceRecord {
        created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
        updated_at_ms: now,
        ..wanted.clone()
    };
    let spec = match exposure::spec_for(tx, &mut record).await? {
        Ok(spec) => spec,
        Err(refused) => return Ok(Err(refused)),
    };
    Ok(Ok(Draft {
        also: vec![spec],
        ..Draft::of(record)
    }))
}

/// Unexposes: executors stop answering it (its bucket entry says so).
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let gone = |_, record: ServiceRecord| async move {
        let gone = ServiceSpec {
            name: record.name,
            exposed: false,
            updated_at_ms: now_ms(),
            ..Default::default()
        };
        Ok(Ok(vec![exposure::spec_message(&gone)]))
    };
    let answer = catalog::delete(&state, caller.name(), &name, ConfigOp::Unexpose, gone).await?;
    state.forget_service(&name);
    Ok(answer)
}
