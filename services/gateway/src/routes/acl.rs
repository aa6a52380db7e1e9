//! Per-entity overrides: `PUT /v1/acl/{entity}/{name}` with entries for users and
//! roles. An explicit deny beats an explicit allow, which beats the role grants.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::Entity;
use prism_auth::model::{MAX_GRANTS, parse_actions};
use prism_schemas::v1::{AclEntry, AclRecord};
use prism_store::records::{acls, now_ms};
use serde_json::Value;

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::Change;
use crate::error::{ApiError, ApiResult};
use crate::input::{self, Typed};
use crate::state::AppState;
use prism_bus::subjects::{ConfigEntity, ConfigOp};

fn body(acl: &AclRecord) -> bodies::Acl {
    bodies::Acl {
        entity: acl.entity.clone(),
        name: acl.name.clone(),
        entries: acl
            .entries
            .iter()
            .map(|e| bodies::AclEntry {
                principal: e.principal.clone(),
                allow: e.allow.clone(),
                deny: e.deny.clone(),
            })
            .collect(),
        updated_at: input::time_text(acl.updated_at_ms),
    }
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

/// Each entry checked: a principal `user:<name>` or `role:<name>`, known actions.
fn checked(entries: Vec<bodies::AclEntry>) -> ApiResult<Vec<AclEntry>> {
    if entries.len() > MAX_GRANTS {
        let message = format!("a list of at most {MAX_GRANTS} entries");
        return Err(ApiError::invalid("entries", message));
    }
    let mut checked = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let field = format!("entries[{i}]");
        let valid = matches!(entry.principal.split_once(':'),
            Some(("user" | "role", n)) if !n.is_empty() && n.len() <= 64);
        if !valid {
            let field = format!("{field}.principal");
            return Err(ApiError::invalid(&field, "user:<name> or role:<name>"));
        }
        for (key, names) in [("allow", &entry.allow), ("deny", &entry.deny)] {
            parse_actions(names)
                .map_err(|e| ApiError::invalid(&format!("{field}.{key}"), e.to_string()))?;
        }
        checked.push(AclEntry {
            principal: entry.principal,
            allow: entry.allow,
            deny: entry.deny,
        });
    }
    Ok(checked)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((entity, name)): Path<(String, String)>,
) -> ApiResult<Json<bodies::Acl>> {
    let (entity, name) = target(&entity, &name)?;
    let found = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { acls::get(&tx, entity.name(), &name).await }
        })
        .await?;
    found
        .map(|acl| Json(body(&acl)))
        .ok_or_else(|| ApiError::not_found("name", format!("no overrides on {entity}/{name}")))
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((entity, name)): Path<(String, String)>,
    Typed(change): Typed<bodies::AclChange>,
) -> ApiResult<Json<bodies::Acl>> {
    let (entity, name) = target(&entity, &name)?;
    let entries = checked(change.entries)?;
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
        serde_json::to_value(body(&record)).unwrap_or_default(),
    );
    state
        .change_auth(&change, |tx| {
            let record = &record;
            async move { acls::put(&tx, record).await.map(|()| true) }
        })
        .await?;
    Ok(Json(body(&record)))
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
        Value::Object(Default::default()),
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
