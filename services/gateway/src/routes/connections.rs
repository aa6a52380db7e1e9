use std::path::Path as FsPath;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::Entity;
use prism_schemas::v1::ConnectionRecord;
use prism_store::records::{connections, now_ms};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::bodies;
use crate::error::{ApiError, ApiResult};
use crate::input;
use crate::state::{AppState, Change};

fn to_json(c: &ConnectionRecord) -> Value {
    json!(bodies::Connection {
        name: c.name.clone(),
        kind: c.kind.clone(),
        root: c.root.clone(),
        created_at: input::time_text(c.created_at_ms),
        updated_at: input::time_text(c.updated_at_ms),
    })
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    input::check_name("name", &name)?;
    let map = input::json_object(&body)?;
    input::reject_unknown(&map, &["kind", "root"])?;
    let kind = input::required_str(&map, "kind")?;
    if kind != "local" {
        return Err(ApiError::invalid("kind", "supported kinds: \"local\""));
    }
    let root = input::required_str(&map, "root")?;
    prism_dataflow::paths::within_roots(&state.file_roots, FsPath::new(root))
        .map_err(|e| ApiError::invalid("root", e))?;
    let (kind, root) = (kind.to_string(), root.to_string());
    let (record, created, staged) = state
        .store
        .transact(|tx| {
            let (name, kind, root) = (name.clone(), kind.clone(), root.clone());
            let actor = caller.name();
            async move {
                let now = now_ms();
                let existing = connections::get(&tx, &name).await?;
                let record = ConnectionRecord {
                    created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
                    name,
                    kind,
                    root,
                    updated_at_ms: now,
                };
                connections::put(&tx, &record).await?;
                let change =
                    Change::new(actor, "connection", "put", &record.name, to_json(&record));
                let staged = change.stage(&tx).await?;
                Ok((record, existing.is_none(), staged))
            }
        })
        .await?;
    state.announce(&staged).await;
    let body = to_json(&record);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { connections::get(&tx, &name).await }
        })
        .await?;
    match record {
        Some(record) => Ok(Json(to_json(&record))),
        None => Err(ApiError::not_found(
            "name",
            format!("no connection named {name:?}"),
        )),
    }
}

/// The connections the caller may view.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let records = state
        .store
        .transact(|tx| async move { connections::list(&tx).await })
        .await?;
    let visible = caller
        .visible(&state, Entity::Connections, records, |r| &r.name)
        .await?;
    let visible: Vec<Value> = visible.iter().map(to_json).collect();
    Ok(Json(json!({ "connections": visible })))
}
