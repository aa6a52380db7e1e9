//! Roles: the built-in ones (read-only) and custom ones made of globbed grants.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::model::{Grant, MAX_GRANTS};
use prism_auth::{Entity, builtin};
use prism_schemas::v1::{Grant as GrantRecord, RoleRecord};
use prism_store::records::{auth_generation, now_ms, roles};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::state::{AppState, Change};

fn grants_json(grants: &[Grant]) -> Vec<Value> {
    grants
        .iter()
        .map(|g| json!({"entity": g.entity.name(), "match": g.pattern, "actions": g.actions.iter().map(|a| a.name()).collect::<Vec<_>>()}))
        .collect()
}

fn builtin_json(name: &str) -> Value {
    let grants = builtin::grants(name).unwrap_or_default();
    json!({ "name": name, "builtin": true, "grants": grants_json(&grants) })
}

fn to_json(role: &RoleRecord) -> Value {
    let grants: Vec<Grant> = role
        .grants
        .iter()
        .filter_map(|g| Grant::from_record(g).ok())
        .collect();
    json!({
        "name": role.name,
        "builtin": false,
        "grants": grants_json(&grants),
        "created_at": input::time(role.created_at_ms),
        "updated_at": input::time(role.updated_at_ms),
    })
}

/// The built-in and custom roles the caller may view.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let custom = state
        .store
        .transact(|tx| async move { roles::list(&tx).await })
        .await?;
    let mut all: Vec<Value> = builtin::NAMES.iter().map(|n| builtin_json(n)).collect();
    all.extend(custom.iter().map(to_json));
    let visible = caller
        .visible(&state, Entity::Roles, all, |r| {
            r["name"].as_str().unwrap_or("")
        })
        .await?;
    Ok(Json(json!({ "roles": visible })))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    if builtin::is_builtin(&name) {
        return Ok(Json(builtin_json(&name)));
    }
    let found = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { roles::get(&tx, &name).await }
        })
        .await?;
    found
        .map(|role| Json(to_json(&role)))
        .ok_or_else(|| ApiError::not_found("name", format!("no role named {name:?}")))
}

fn refuse_builtin(name: &str) -> ApiResult<()> {
    if builtin::is_builtin(name) {
        return Err(ApiError::new(
            Code::Conflict,
            Some("name"),
            format!("{name} is a built-in role and cannot be changed"),
        ));
    }
    Ok(())
}

/// `{"grants":[{"entity","match","actions"}]}`, each checked.
fn read_grants(body: &Bytes) -> ApiResult<Vec<GrantRecord>> {
    let map = input::json_object(body)?;
    input::reject_unknown(&map, &["grants"])?;
    let list = map
        .get("grants")
        .and_then(Value::as_array)
        .filter(|l| l.len() <= MAX_GRANTS)
        .ok_or_else(|| {
            ApiError::invalid("grants", format!("a list of at most {MAX_GRANTS} grants"))
        })?;
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("grants[{i}]");
            let object = item
                .as_object()
                .ok_or_else(|| ApiError::invalid(&field, "an object"))?;
            input::reject_unknown(object, &["entity", "match", "actions"])?;
            let strings = |key: &str| -> ApiResult<Vec<String>> {
                object
                    .get(key)
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
                    .ok_or_else(|| ApiError::invalid(&format!("{field}.{key}"), "a list of names"))
            };
            let record = GrantRecord {
                entity: object
                    .get("entity")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                r#match: object
                    .get("match")
                    .and_then(Value::as_str)
                    .unwrap_or("*")
                    .into(),
                actions: strings("actions")?,
            };
            Grant::from_record(&record).map_err(|e| ApiError::invalid(&field, e))?;
            Ok(record)
        })
        .collect()
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    input::check_name("name", &name)?;
    refuse_builtin(&name)?;
    let grants = read_grants(&body)?;
    let (record, created, generation, staged) = state
        .store
        .transact(|tx| {
            let (name, grants, actor) = (name.clone(), grants.clone(), caller.name());
            async move {
                let now = now_ms();
                let existing = roles::get(&tx, &name).await?;
                let record = RoleRecord {
                    name,
                    grants,
                    created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
                    updated_at_ms: now,
                };
                roles::put(&tx, &record).await?;
                let generation = auth_generation::bump(&tx).await?;
                let staged = Change::new(actor, "role", "put", &record.name, to_json(&record))
                    .stage(&tx)
                    .await?;
                Ok((record, existing.is_none(), generation, staged))
            }
        })
        .await?;
    state.auth_committed(generation, &staged).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_json(&record))))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    refuse_builtin(&name)?;
    let change = Change::new(caller.name(), "role", "delete", &name, json!({}));
    let deleted = state
        .change_auth(&change, |tx| {
            let name = &name;
            async move {
                let found = roles::get(&tx, name).await?.is_some();
                if found {
                    roles::delete(&tx, name).await?;
                }
                Ok(found)
            }
        })
        .await?;
    if !deleted {
        return Err(ApiError::not_found(
            "name",
            format!("no role named {name:?}"),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
