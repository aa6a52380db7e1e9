//! Users. Passwords are hashed before the transaction (slowly, off the async
//! workers) and never shown; the last enabled admin cannot be removed, disabled or
//! demoted, so nobody can lock everyone out.
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use prism_auth::{Action, Entity, Permission, builtin, password};
use prism_bus::subjects::ConfigOp;
use prism_schemas::v1::UserRecord;
use prism_store::Tx;
use prism_store::records::{now_ms, tokens, users};

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{self, Draft, Entry, Saved};
use crate::error::{ApiError, ApiResult, Code};
use crate::input::{self, Typed};
use crate::state::AppState;

const MAX_ROLES_PER_USER: usize = 20;

fn is_active_admin(u: &UserRecord) -> bool {
    !u.disabled && u.roles.iter().any(|r| r == builtin::ADMIN)
}

/// 409 if removing `name`'s admin rights would leave no enabled admin.
async fn keep_an_admin(tx: &Tx, name: &str) -> prism_store::Result<Result<(), ApiError>> {
    let others = users::list(tx).await?;
    if others.iter().any(|u| u.name != name && is_active_admin(u)) {
        return Ok(Ok(()));
    }
    Ok(Err(ApiError::new(
        Code::Conflict,
        Some("name"),
        "the last enabled admin cannot be deleted, disabled or demoted",
    )))
}

/// What a `PUT` asks for; `None` leaves a field as it is.
struct Wanted {
    password_hash: Option<String>,
    roles: Option<Vec<String>>,
    disabled: Option<bool>,
}

/// `{"password"?,"roles","disabled"?}`. Changing one's own password needs no
/// permission, only `current_password`; anything else needs `create` or `modify` on
/// the user, and giving a role needs `modify` on that role.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(change): Typed<bodies::UserChange>,
) -> ApiResult<Saved<UserRecord>> {
    input::check_name("name", &name)?;
    let own_password_only = name == caller.name()
        && change.password.is_some()
        && change.roles.is_none()
        && change.disabled.is_none();
    let existing = catalog::read::<UserRecord>(&state, &name).await.ok();
    if own_password_only {
        check_current_password(change.current_password.as_deref(), existing.as_ref()).await?;
    } else {
        let action = if existing.is_some() {
            Action::Modify
        } else {
            Action::Create
        };
        caller
            .require(&state, Permission::on(action, Entity::Users, &name))
            .await?;
    }
    if let Some(roles) = &change.roles {
        known_roles(&state, roles).await?;
    }
    let held = existing.as_ref().map_or(&[][..], |u| u.roles.as_slice());
    let given = change.roles.iter().flatten().filter(|r| !held.contains(r));
    may_give(&state, &caller, given).await?;
    if existing.is_none() && (change.roles.is_none() || change.password.is_none()) {
        return Err(ApiError::invalid(
            if change.roles.is_none() {
                "roles"
            } else {
                "password"
            },
            "required for a new user",
        ));
    }
    let wanted = &Wanted {
        password_hash: hashed_password(change.password.as_deref()).await?,
        roles: change.roles,
        disabled: change.disabled,
    };
    catalog::save(
        &state,
        caller.name(),
        &name,
        ConfigOp::Put,
        |tx, existing| {
            let name = name.clone();
            async move { draft(&tx, name, wanted, existing).await }
        },
    )
    .await
}

/// A caller changing their own password proves they know the current one: a stolen
/// session must not be enough to take the account over.
async fn check_current_password(
    current: Option<&str>,
    existing: Option<&UserRecord>,
) -> ApiResult<()> {
    let current = current
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid("current_password", "required: a non-empty string"))?;
    let hash = existing.map(|u| u.password_hash.clone());
    if password::verify(current.to_string(), hash).await {
        Ok(())
    } else {
        Err(ApiError::invalid("current_password", "does not match"))
    }
}

/// Handing out a role is administering it: nobody grants more than they manage.
async fn may_give<'a>(
    state: &AppState,
    caller: &Caller,
    roles: impl Iterator<Item = &'a String>,
) -> ApiResult<()> {
    for role in roles {
        caller
            .require(state, Permission::on(Action::Modify, Entity::Roles, role))
            .await?;
    }
    Ok(())
}

/// The argon2id hash of `password`, if given and acceptable (hashed off the async
/// workers).
async fn hashed_password(given: Option<&str>) -> ApiResult<Option<String>> {
    let Some(given) = given else {
        return Ok(None);
    };
    password::check(given).map_err(|e| ApiError::invalid("password", e.to_string()))?;
    let hash = password::hash(given.to_string())
        .await
        .map_err(|e| ApiError::new(Code::Internal, None, e.to_string()))?;
    Ok(Some(hash))
}

/// Each role is built in or custom, and a user holds few.
async fn known_roles(state: &AppState, names: &[String]) -> ApiResult<()> {
    if names.len() > MAX_ROLES_PER_USER {
        return Err(ApiError::invalid(
            "roles",
            format!("a list of at most {MAX_ROLES_PER_USER} role names"),
        ));
    }
    // From the store, not the cache: a role made through another gateway a moment
    // ago exists.
    let known = state
        .store
        .transact(|tx| async move { prism_auth::directory::roles(&tx).await })
        .await?;
    match names.iter().find(|r| !known.exists(r)) {
        Some(unknown) => Err(ApiError::invalid(
            "roles",
            format!("no role named {unknown:?}"),
        )),
        None => Ok(()),
    }
}

async fn draft(
    tx: &Tx,
    name: String,
    wanted: &Wanted,
    existing: Option<UserRecord>,
) -> prism_store::Result<ApiResult<Draft<UserRecord>>> {
    let now = now_ms();
    let base = existing.clone().unwrap_or_else(|| UserRecord {
        name,
        created_at_ms: now,
        ..Default::default()
    });
    let record = UserRecord {
        password_hash: wanted
            .password_hash
            .clone()
            .unwrap_or(base.password_hash.clone()),
        roles: wanted.roles.clone().unwrap_or(base.roles.clone()),
        disabled: wanted.disabled.unwrap_or(base.disabled),
        updated_at_ms: now,
        ..base
    };
    if existing.as_ref().is_some_and(is_active_admin)
        && !is_active_admin(&record)
        && let Err(refused) = keep_an_admin(tx, &record.name).await?
    {
        return Ok(Err(refused));
    }
    let mut details = serde_json::to_value(record.body()).unwrap_or_default();
    details["password_changed"] = wanted.password_hash.is_some().into();
    Ok(Ok(Draft {
        details: Some(details),
        ..Draft::of(record)
    }))
}

/// Deletes a user and every token of theirs.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let before = |tx: Tx, existing: UserRecord| async move {
        if is_active_admin(&existing)
            && let Err(refused) = keep_an_admin(&tx, &existing.name).await?
        {
            return Ok(Err(refused));
        }
        for (hash, token) in tokens::list_for_user(&tx, &existing.name).await? {
            tokens::delete(&tx, &hash, &token).await?;
        }
        Ok(Ok(Vec::new()))
    };
    catalog::delete(&state, caller.name(), &name, ConfigOp::Delete, before).await
}
