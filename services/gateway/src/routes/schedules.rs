use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission};
use prism_outbox::Staged;
use prism_schemas::v1::ScheduleRecord;
use prism_store::Tx;
use prism_store::records::{dataflows, now_ms, schedules};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::bodies;
use crate::error::{ApiError, ApiResult};
use crate::input;
use crate::state::{AppState, Change};

fn to_json(s: &ScheduleRecord) -> Value {
    json!(bodies::Schedule {
        name: s.name.clone(),
        dataflow: s.dataflow.clone(),
        cron: s.cron.clone(),
        parameters: s.parameters.clone().into_iter().collect(),
        enabled: s.enabled,
        owner: s.owner.clone(),
        created_at: input::time_text(s.created_at_ms),
        updated_at: input::time_text(s.updated_at_ms),
    })
}

/// Saves a schedule owned by the caller: it will run with the caller's permissions,
/// so the caller must be allowed to execute its dataflow now.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    input::check_name("name", &name)?;
    let map = input::json_object(&body)?;
    input::reject_unknown(&map, &["dataflow", "cron", "parameters", "enabled"])?;
    let dataflow = input::required_str(&map, "dataflow")?.to_string();
    let cron_expression = input::required_str(&map, "cron")?.to_string();
    prism_cron::parse(&cron_expression)
        .map_err(|e| ApiError::invalid("cron", format!("invalid cron expression: {e}")))?;
    let enabled = match map.get("enabled") {
        None => true,
        Some(value) => value
            .as_bool()
            .ok_or_else(|| ApiError::invalid("enabled", "expected true or false"))?,
    };
    caller
        .require(
            &state,
            Permission::on(Action::Execute, Entity::Dataflows, &dataflow),
        )
        .await?;
    let wanted = ScheduleRecord {
        name: name.clone(),
        owner: caller.name().to_string(),
        dataflow,
        cron: cron_expression,
        parameters: input::parameters(&map)?.into_iter().collect(),
        enabled,
        ..Default::default()
    };
    let (record, created, staged) = state
        .store
        .transact(|tx| {
            let wanted = &wanted;
            async move { save(&tx, wanted).await }
        })
        .await??;
    state.announce(&staged).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_json(&record))))
}

/// Saves `wanted` if its dataflow exists and its parameters fit the dataflow's latest
/// version (which the schedule runs); answers the record, whether it is new, and the
/// staged announcement.
async fn save(
    tx: &Tx,
    wanted: &ScheduleRecord,
) -> prism_store::Result<ApiResult<(ScheduleRecord, bool, Staged)>> {
    let Some(latest) = dataflows::latest(tx, &wanted.dataflow).await? else {
        let message = format!("no dataflow named {:?}", wanted.dataflow);
        return Ok(Err(ApiError::invalid("dataflow", message)));
    };
    let stored = prism_dataflow::validate::from_stored(&latest.document_json).ok();
    if stored
        .as_ref()
        .is_some_and(|d| d.kind != prism_dataflow::Kind::Job)
    {
        let message = format!(
            "{:?} is a service dataflow: only jobs run on schedules",
            wanted.dataflow
        );
        return Ok(Err(ApiError::invalid("dataflow", message)));
    }
    let declared = stored.map(|d| d.parameters).unwrap_or_default();
    let given = wanted.parameters.clone().into_iter().collect();
    if let Err((param, message)) = prism_dataflow::parameters::resolve(&declared, &given) {
        return Ok(Err(ApiError::invalid(
            &format!("parameters.{param}"),
            message,
        )));
    }
    let now = now_ms();
    let existing = schedules::get(tx, &wanted.name).await?;
    let record = ScheduleRecord {
        created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
        updated_at_ms: now,
        // Never fire retroactively for the time before this save.
        handled_through_ms: existing
            .as_ref()
            .map_or(now, |e| e.handled_through_ms.max(now)),
        ..wanted.clone()
    };
    schedules::put(tx, &record).await?;
    let change = Change::new(
        &record.owner,
        "schedule",
        "put",
        &record.name,
        to_json(&record),
    );
    let staged = change.stage(tx).await?;
    Ok(Ok((record, existing.is_none(), staged)))
}

async fn load(state: &AppState, name: &str) -> ApiResult<Option<ScheduleRecord>> {
    let name = name.to_string();
    Ok(state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { schedules::get(&tx, &name).await }
        })
        .await?)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    match load(&state, &name).await? {
        Some(record) => Ok(Json(to_json(&record))),
        None => Err(ApiError::not_found(
            "name",
            format!("no schedule named {name:?}"),
        )),
    }
}

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
                if schedules::get(&tx, &name).await?.is_none() {
                    return Ok(None);
                }
                schedules::delete(&tx, &name).await?;
                let change = Change::new(actor, "schedule", "delete", &name, json!({}));
                change.stage(&tx).await.map(Some)
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("name", format!("no schedule named {name:?}")))?;
    state.announce(&staged).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The schedules the caller may view.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let records = state
        .store
        .transact(|tx| async move { schedules::list(&tx).await })
        .await?;
    let visible = caller
        .visible(&state, Entity::Schedules, records, |r| &r.name)
        .await?;
    let visible: Vec<Value> = visible.iter().map(to_json).collect();
    Ok(Json(json!({ "schedules": visible })))
}

pub async fn enable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    switch(&state, caller.name(), &name, true).await
}

pub async fn disable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    switch(&state, caller.name(), &name, false).await
}

/// Turns a schedule on or off without changing what it runs or whose it is.
/// Turning it on never fires the occurrences missed while it was off.
async fn switch(
    state: &AppState,
    actor: &str,
    name: &str,
    enabled: bool,
) -> ApiResult<Json<Value>> {
    let switched = state
        .store
        .transact(|tx| async move {
            let Some(mut record) = schedules::get(&tx, name).await? else {
                return Ok(None);
            };
            let now = now_ms();
            if enabled && !record.enabled {
                record.handled_through_ms = record.handled_through_ms.max(now);
            }
            record.enabled = enabled;
            record.updated_at_ms = now;
            schedules::put(&tx, &record).await?;
            let op = if enabled { "enable" } else { "disable" };
            let staged = Change::new(actor, "schedule", op, name, to_json(&record))
                .stage(&tx)
                .await?;
            Ok(Some((record, staged)))
        })
        .await?;
    let Some((record, staged)) = switched else {
        return Err(ApiError::not_found(
            "name",
            format!("no schedule named {name:?}"),
        ));
    };
    state.announce(&staged).await;
    Ok(Json(to_json(&record)))
}
