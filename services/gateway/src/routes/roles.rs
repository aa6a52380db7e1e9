//! Roles: the built-in ones (read-only) and custom ones made of globbed grants.
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use prism_auth::builtin;
use prism_auth::model::{Grant, MAX_GRANTS};
use prism_bus::subjects::ConfigOp;
use prism_schemas::v1::{Grant as GrantRecord, RoleRecord};
use prism_store::records::now_ms;

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{self, Draft, Saved};
use crate::error::{ApiError, ApiResult, Code};
use crate::input::{self, Typed};
use crate::state::AppState;

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

/// Each grant checked: an unknown entity or action is refused, naming it.
fn checked(grants: &[bodies::Grant]) -> ApiResult<Vec<GrantRecord>> {
    if grants.len() > MAX_GRANTS {
        let message = format!("a list of at most {MAX_GRANTS} grants");
        return Err(ApiError::invalid("grants", message));
    }
    grants
        .iter()
        .enumerate()
        .map(|(i, grant)| {
            let record = GrantRecord {
                entity: grant.entity.clone(),
                r#match: grant.pattern.clone(),
                actions: grant.actions.clone(),
            };
            Grant::from_record(&record)
                .map_err(|e| ApiError::invalid(&format!("grants[{i}]"), e.to_string()))?;
            Ok(record)
        })
        .collect()
}

/// `{"grants":[{"entity","match","actions"}]}`.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(change): Typed<bodies::RoleChange>,
) -> ApiResult<Saved<RoleRecord>> {
    input::check_name("name", &name)?;
    refuse_builtin(&name)?;
    let grants = &checked(&change.grants)?;
    catalog::save(
        &state,
        caller.name(),
        &name,
        ConfigOp::Put,
        |_, existing: Option<RoleRecord>| {
            let name = name.clone();
            async move {
                let now = now_ms();
                Ok(Ok(Draft::of(RoleRecord {
                    name,
                    grants: grants.clone(),
                    created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
                    updated_at_ms: now,
                })))
            }
        },
    )
    .await
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    refuse_builtin(&name)?;
    catalog::delete::<RoleRecord, _, _>(
        &state,
        caller.name(),
        &name,
        ConfigOp::Delete,
        catalog::nothing_else,
    )
    .await
}
