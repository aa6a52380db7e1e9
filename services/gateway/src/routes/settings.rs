//! `GET`/`PUT /v1/settings/logging`: log levels for every process of the platform,
//! global and per dataflow, changed while they run (each process watches the
//! setting, see `prism_bus::settings`). `GET`/`PUT /v1/settings/retention`: days of
//! finished jobs' history kept (see `crate::retention`). Each change is an audited
//! configuration change.
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use prism_bus::settings::{self, LEVELS, LOGGING_KEY, Logging, RETENTION_KEY};
use serde_json::Value;

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::Change;
use crate::error::{ApiError, ApiResult, Code};
use crate::input::{self, Typed};
use crate::retention::{self, MAX_DAYS};
use crate::state::AppState;
use prism_bus::subjects::{ConfigEntity, ConfigOp};

/// Dataflows with a level of their own, at most.
const MAX_DATAFLOWS: usize = 100;

fn body(logging: &Logging) -> bodies::LoggingSettings {
    bodies::LoggingSettings {
        level: Some(logging.level.clone()),
        dataflows: logging.dataflows.clone(),
    }
}

fn level_of(value: Option<&str>, field: &str) -> ApiResult<String> {
    value
        .filter(|l| LEVELS.contains(l))
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid(field, "one of error, warn, info, debug, trace"))
}

fn checked(wanted: &bodies::LoggingSettings) -> ApiResult<Logging> {
    let level = level_of(wanted.level.as_deref(), "level")?;
    if wanted.dataflows.len() > MAX_DATAFLOWS {
        return Err(ApiError::invalid(
            "dataflows",
            format!("an object of at most {MAX_DATAFLOWS} dataflow names to levels"),
        ));
    }
    let mut dataflows = BTreeMap::new();
    for (name, value) in &wanted.dataflows {
        input::check_name("dataflows", name)?;
        let level = level_of(Some(value), &format!("dataflows.{name}"))?;
        dataflows.insert(name.clone(), level);
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

pub async fn get_logging(
    State(state): State<Arc<AppState>>,
) -> ApiResult<Json<bodies::LoggingSettings>> {
    let store = settings::bucket(&state.bus, &state.topology).await?;
    let current = store
        .get(LOGGING_KEY)
        .await
        .map_err(bus_error)?
        .and_then(|bytes| Logging::from_bytes(&bytes));
    Ok(Json(match current {
        Some(logging) => body(&logging),
        // Never set: each process logs as it was started (`PRISM_LOG`).
        None => bodies::LoggingSettings {
            level: None,
            dataflows: BTreeMap::new(),
        },
    }))
}

pub async fn put_logging(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Typed(wanted): Typed<bodies::LoggingSettings>,
) -> ApiResult<Json<bodies::LoggingSettings>> {
    let logging = checked(&wanted)?;
    let answer = body(&logging);
    let details = serde_json::to_value(&answer).unwrap_or_default();
    save(&state, &caller, LOGGING_KEY, logging.to_bytes(), details).await?;
    Ok(Json(answer))
}

pub async fn get_retention(
    State(state): State<Arc<AppState>>,
) -> ApiResult<Json<bodies::Retention>> {
    let days = retention::days(&state).await?;
    Ok(Json(bodies::Retention { days }))
}

/// Sets the days kept and purges at once; answers how many jobs went.
pub async fn put_retention(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Typed(wanted): Typed<bodies::Retention>,
) -> ApiResult<Json<bodies::RetentionSet>> {
    let days = wanted
        .days
        .filter(|d| (1..=MAX_DAYS).contains(d))
        .ok_or_else(|| ApiError::invalid("days", format!("an integer from 1 to {MAX_DAYS}")))?;
    let value = days.to_string().into_bytes();
    let details = serde_json::to_value(&wanted).unwrap_or_default();
    save(&state, &caller, RETENTION_KEY, value, details).await?;
    let purged = retention::purge(&state, days).await?;
    Ok(Json(bodies::RetentionSet {
        days,
        purged: purged as u64,
    }))
}
