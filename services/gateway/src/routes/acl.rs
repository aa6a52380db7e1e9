//! Per-entity overrides: `PUT /v1/acl/{entity}/{name}` with entries for users and
//! roles. An explicit deny beats an explicit allow, which beats the role grants.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::Entity;
use prism_auth::model::{MAX_GRANTS, parse_actions};
use prism_schemas::v1::{AclEntry, AclRecord};
use prism_store::records::{acls, now_ms};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::catalog::Change;
use crate::error::{ApiError, ApiResult};
use crate::input;
use crate::state::AppState;
use prism_bus::subjects::{ConfigEntity, ConfigOp};

fn to_json(acl: &AclRecord) -> Value {
    json!({
        "entity": acl.entity,
        "name": acl.name,
        "entries": acl.entries.iter().map(|e| json!({"principal": e.principal, "allow": e.allow, "deny": e.deny})).collect::<Vec<_>>(),
        "updated_at": input::time(acl.updated_at_ms),
    })
}

/// The entity type and name of the path, checked.
fn target(entity: &str, name: &str) -> ApiResult<(Entity, String)> {
    let entity = Entity::parse(entity)
        .ok_or_else(|| ApiError::invalid("entity", "an entity type, e.g. dataflows"))?;
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid("name", "1 to 200 bytes"));
    }
    Ok((entity, name.to_string()))
}

fn read_entries(body: &Bytes) -> ApiResult<Vec<AclEntry>> {
    let map = input::json_object(body)?;
    input::reject_unknown(&map, &["entries"])?;
    let list = map
        .get("entries")
        .and_then(Value::as_array)
        .filter(|l| l.len() <= MAX_GRANTS)
        .ok_or_else(|| {
            ApiError::invalid("entries", format!("a list of at most {MAX_GRANTS} entries"))
        })?;
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("entries[{i}]");
            let object = item.as_object().ok_or_else(|| ApiError::invalid(&field, "an object"))?;
            input::reject_unknown(object, &["principal", "allow", "deny"])?;
            let principal = input::required_str(object, "principal").map_err(|_| ApiError::invalid(&format!("{field}.principal"), "user:<name> or role:<name>"))?;
            let valid = matches!(principal.split_once(':'), Some(("user" | "role", n)) if !n.is_empty() && n.len() <= 64);
            if !valid {
                return Err(ApiError::invalid(&format!("{field}.principal"), "user:<name> or role:<name>"));
            }
            let actions = |key: &str| -> ApiResult<Vec<String>> {
                let names: Vec<String> = match object.get(key) {
                    None => Vec::new(),
                    Some(v) => v
                        .as_array()
                        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
                        .ok_or_else(|| ApiError::invalid(&format!("{field}.{key}"), "a list of actions"))?,
                };
                parse_actions(&names).map_err(|e| ApiError::invalid(&format!("{field}.{key}"), e))?;
                Ok(names)
            };
            Ok(AclEntry { principal: principal.into(), allow: actions("allow")?, deny: actions("deny")? })
        })
        .collect()
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((entity, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (entity, name) = target(&entity, &name)?;
    let found = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { acls::get(&tx, entity.name(), &name).await }
        })
        .await?;
    found
        .map(|acl| Json(to_json(&acl)))
        .ok_or_else(|| ApiError::not_found("name", format!("no overrides on {entity}/{name}")))
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((entity, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (entity, name) = target(&entity, &name)?;
    let entries = read_entries(&body)?;
    let record = AclRecord {
        entity: entity.name().into(),
        name,
        entries,
        updated_at_ms: now_ms(),
    };
    let target = format!("{}/{}", record.entity, record.name);
    let change = Change::new(
        caller.name(),
        ConfigEntity::Acl,
        ConfigOp::Put,
        &target,
        to_json(&record),
    );
    state
        .change_auth(&change, |tx| {
            let record = &record;
            async move { acls::put(&tx, record).await.map(|()| true) }
        })
        .await?;
    Ok(Json(to_json(&record)))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((entity, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (entity, name) = target(&entity, &name)?;
    let target = format!("{entity}/{name}");
    let change = Change::new(
        caller.name(),
        ConfigEntity::Acl,
        ConfigOp::Delete,
        &target,
        json!({}),
    );
    let deleted = state
        .change_auth(&change, |tx| {
            let name = &name;
            async move {
                let found = acls::get(&tx, entity.name(), name).await?.is_some();
                if found {
                    acls::delete(&tx, entity.name(), name).await?;
                }
                Ok(found)
            }
        })
        .await?;
    if !deleted {
        return Err(ApiError::not_found(
            "name",
            format!("no overrides on {target}"),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
