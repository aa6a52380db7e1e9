//! `GET`/`PUT /v1/settings/logging`: log levels for every process of the platform,
//! global and per dataflow, changed while they run (each process watches the
//! setting, see `prism_bus::settings`). `GET`/`PUT /v1/settings/retention`: days of
//! finished jobs' history kept (see `crate::retention`). Each change is an audited
//! configuration change.
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use prism_bus::settings::{self, LEVELS, LOGGING_KEY, Logging, RETENTION_KEY};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::catalog::Change;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::retention::{self, MAX_DAYS};
use crate::state::AppState;
use prism_bus::subjects::{ConfigEntity, ConfigOp};

/// Dataflows with a level of their own, at most.
const MAX_DATAFLOWS: usize = 100;

fn to_json(logging: &Logging) -> Value {
    json!({ "level": logging.level, "dataflows": logging.dataflows })
}

fn level_of(value: &Value, field: &str) -> ApiResult<String> {
    value
        .as_str()
        .filter(|l| LEVELS.contains(l))
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid(field, "one of error, warn, info, debug, trace"))
}

fn parse(body: &Bytes) -> ApiResult<Logging> {
    let map = input::json_object(body)?;
    input::reject_unknown(&map, &["level", "dataflows"])?;
    let level = level_of(map.get("level").unwrap_or(&Value::Null), "level")?;
    let mut dataflows = BTreeMap::new();
    match map.get("dataflows") {
        None | Some(Value::Null) => {}
        Some(Value::Object(levels)) if levels.len() <= MAX_DATAFLOWS => {
            for (name, value) in levels {
                input::check_name("dataflows", name)?;
                dataflows.insert(name.clone(), level_of(value, &format!("dataflows.{name}"))?);
            }
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "dataflows",
                format!("an object of at most {MAX_DATAFLOWS} dataflow names to levels"),
            ));
        }
    }
    Ok(Logging { level, dataflows })
}

fn bus_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::Unavailable, None, format!("bus: {e}"))
}

/// Stores setting `key` for every process, then records the change in the audit
/// log (`settings.put`, target `settings/<key>`).
async fn save(
    state: &AppState,
    caller: &Caller,
    key: &str,
    value: Vec<u8>,
    details: Value,
) -> ApiResult<()> {
    let store = settings::bucket(&state.bus, &state.topology).await?;
    store.put(key, value.into()).await.map_err(bus_error)?;
    let change = Change::new(
        caller.name(),
        ConfigEntity::Settings,
        ConfigOp::Put,
        key,
        details,
    );
    let staged = state.stage_alone(&change).await?;
    state.announce(&staged).await;
    Ok(())
}

pub async fn get_logging(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let store = settings::bucket(&state.bus, &state.topology).await?;
    let current = store
        .get(LOGGING_KEY)
        .await
        .map_err(bus_error)?
        .and_then(|bytes| Logging::from_bytes(&bytes));
    Ok(Json(match current {
        Some(logging) => to_json(&logging),
        // Never set: each process logs as it was started (`PRISM_LOG`).
        None => json!({ "level": null, "dataflows": {} }),
    }))
}

pub async fn put_logging(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let logging = parse(&body)?;
    save(
        &state,
        &caller,
        LOGGING_KEY,
        logging.to_bytes(),
        to_json(&logging),
    )
    .await?;
    Ok(Json(to_json(&logging)))
}

pub async fn get_retention(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "days": retention::days(&state).await? })))
}

/// Sets the days kept and purges at once; answers how many jobs went.
pub async fn put_retention(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = input::json_object(&body)?;
    input::reject_unknown(&map, &["days"])?;
    let days = map
        .get("days")
        .and_then(Value::as_u64)
        .filter(|d| (1..=u64::from(MAX_DAYS)).contains(d))
        .ok_or_else(|| ApiError::invalid("days", format!("an integer from 1 to {MAX_DAYS}")))?
        as u32;
    let value = days.to_string().into_bytes();
    save(
        &state,
        &caller,
        RETENTION_KEY,
        value,
        json!({ "days": days }),
    )
    .await?;
    let purged = retention::purge(&state, days).await?;
    Ok(Json(json!({ "days": days, "purged": purged })))
}
