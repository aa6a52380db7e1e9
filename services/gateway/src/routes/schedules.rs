use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use prism_schemas::v1::ScheduleRecord;
use prism_store::records::{dataflows, now_ms, schedules};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::input;
use crate::state::{AppState, Change};

fn to_json(s: &ScheduleRecord) -> Value {
    json!({
        "name": s.name,
        "dataflow": s.dataflow,
        "cron": s.cron,
        "parameters": s.parameters,
        "enabled": s.enabled,
        "created_at": input::time(s.created_at_ms),
        "updated_at": input::time(s.updated_at_ms),
    })
}

pub async fn put(
    State(state): State<Arc<AppState>>,
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
    let parameters = input::parameters(&map)?;
    let enabled = match map.get("enabled") {
        None => true,
        Some(value) => value
            .as_bool()
            .ok_or_else(|| ApiError::invalid("enabled", "expected true or false"))?,
    };
    let saved = state
        .store
        .transact(|tx| {
            let (name, dataflow, cron_expression, parameters) = (
                name.clone(),
                dataflow.clone(),
                cron_expression.clone(),
                parameters.clone(),
            );
            async move {
                let Some(latest) = dataflows::latest(&tx, &dataflow).await? else {
                    return Ok(Err(ApiError::invalid(
                        "dataflow",
                        format!("no dataflow named {dataflow:?}"),
                    )));
                };
                // The schedule runs the latest version; its parameters must fit it now.
                let declared = prism_dataflow::validate::from_stored(&latest.document_json)
                    .map(|d| d.parameters)
                    .unwrap_or_default();
                if let Err((param, message)) =
                    prism_dataflow::parameters::resolve(&declared, &parameters)
                {
                    return Ok(Err(ApiError::invalid(
                        &format!("parameters.{param}"),
                        message,
                    )));
                }
                let now = now_ms();
                let existing = schedules::get(&tx, &name).await?;
                let record = ScheduleRecord {
                    name,
                    dataflow,
                    cron: cron_expression,
                    parameters: parameters.into_iter().collect(),
                    enabled,
                    created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
                    updated_at_ms: now,
                    // Never fire retroactively for the time before this save.
                    handled_through_ms: existing
                        .as_ref()
                        .map_or(now, |e| e.handled_through_ms.max(now)),
                };
                schedules::put(&tx, &record).await?;
                let change = Change {
                    entity: "schedule",
                    op: "put",
                    name: &record.name,
                    version: 0,
                    details: to_json(&record),
                };
                let staged = change.stage(&tx).await?;
                Ok(Ok((record, existing.is_none(), staged)))
            }
        })
        .await?;
    let (record, created, staged) = saved?;
    state.announce(&staged).await;
    let body = to_json(&record);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)))
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
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let staged = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move {
                if schedules::get(&tx, &name).await?.is_none() {
                    return Ok(None);
                }
                schedules::delete(&tx, &name).await?;
                let change = Change {
                    entity: "schedule",
                    op: "delete",
                    name: &name,
                    version: 0,
                    details: json!({}),
                };
                change.stage(&tx).await.map(Some)
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("name", format!("no schedule named {name:?}")))?;
    state.announce(&staged).await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let records = state
        .store
        .transact(|tx| async move { schedules::list(&tx).await })
        .await?;
    Ok(Json(
        json!({ "schedules": records.iter().map(to_json).collect::<Vec<_>>() }),
    ))
}
