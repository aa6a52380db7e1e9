//! Users. Passwords are hashed before the transaction (slowly, off the async
//! workers) and never shown; the last enabled admin cannot be removed, disabled or
//! demoted, so nobody can lock everyone out.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission, builtin, password};
use prism_schemas::v1::UserRecord;
use prism_store::Tx;
use prism_store::records::{auth_generation, now_ms, tokens, users};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::state::{AppState, Change};

const MAX_ROLES_PER_USER: usize = 20;

fn to_json(u: &UserRecord) -> Value {
    json!({
        "name": u.name,
        "roles": u.roles,
        "disabled": u.disabled,
        "created_at": input::time(u.created_at_ms),
        "updated_at": input::time(u.updated_at_ms),
    })
}

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

async fn load(state: &AppState, name: &str) -> ApiResult<Option<UserRecord>> {
    let name = name.to_string();
    Ok(state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { users::get(&tx, &name).await }
        })
        .await?)
}

/// The users the caller may view.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let all = state
        .store
        .transact(|tx| async move { users::list(&tx).await })
        .await?;
    let visible = caller
        .visible(&state, Entity::Users, all, |u| &u.name)
        .await?;
    Ok(Json(
        json!({ "users": visible.iter().map(to_json).collect::<Vec<_>>() }),
    ))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    match load(&state, &name).await? {
        Some(user) => Ok(Json(to_json(&user))),
        None => Err(ApiError::not_found(
            "name",
            format!("no user named {name:?}"),
        )),
    }
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
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    input::check_name("name", &name)?;
    let map = input::json_object(&body)?;
    input::reject_unknown(&map, &["password", "current_password", "roles", "disabled"])?;
    let own_password_only = name == caller.name()
        && map.contains_key("password")
        && map
            .keys()
            .all(|k| k == "password" || k == "current_password");
    let existing = load(&state, &name).await?;
    if own_password_only {
        check_current_password(&map, existing.as_ref()).await?;
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
    let roles = read_roles(&state, &map).await?;
    let held = existing.as_ref().map_or(&[][..], |u| u.roles.as_slice());
    may_give(
        &state,
        &caller,
        roles.iter().flatten().filter(|r| !held.contains(r)),
    )
    .await?;
    if existing.is_none() && (roles.is_none() || !map.contains_key("password")) {
        return Err(ApiError::invalid(
            if roles.is_none() { "roles" } else { "password" },
            "required for a new user",
        ));
    }
    let disabled = match map.get("disabled") {
        None => None,
        Some(v) => Some(
            v.as_bool()
                .ok_or_else(|| ApiError::invalid("disabled", "true or false"))?,
        ),
    };
    let wanted = Wanted {
        password_hash: hashed_password(&map).await?,
        roles,
        disabled,
    };
    let (record, created, generation, staged) = state
        .store
        .transact(|tx| {
            let (name, wanted, actor) = (&name, &wanted, caller.name());
            async move { save(&tx, actor, name, wanted).await }
        })
        .await??;
    state.auth_committed(generation, &staged).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_json(&record))))
}

/// A caller changing their own password proves they know the current one: a stolen
/// session must not be enough to take the account over.
async fn check_current_password(
    map: &Map<String, Value>,
    existing: Option<&UserRecord>,
) -> ApiResult<()> {
    let current = input::required_str(map, "current_password")?.to_string();
    let hash = existing.map(|u| u.password_hash.clone());
    if password::verify(current, hash).await {
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
async fn hashed_password(map: &Map<String, Value>) -> ApiResult<Option<String>> {
    let Some(value) = map.get("password") else {
        return Ok(None);
    };
    let given = value
        .as_str()
        .ok_or_else(|| ApiError::invalid("password", "a string"))?;
    password::check(given).map_err(|e| ApiError::invalid("password", e))?;
    let hash = password::hash(given.to_string())
        .await
        .map_err(|e| ApiError::new(Code::Internal, None, e))?;
    Ok(Some(hash))
}

/// `roles`, each built in or custom, if given.
async fn read_roles(state: &AppState, map: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    let Some(value) = map.get("roles") else {
        return Ok(None);
    };
    let names: Vec<String> = value
        .as_array()
        .filter(|a| a.len() <= MAX_ROLES_PER_USER)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .ok_or_else(|| {
            ApiError::invalid(
                "roles",
                format!("a list of at most {MAX_ROLES_PER_USER} role names"),
            )
        })?;
    // From the store, not the cache: a role made through another gateway a moment
    // ago exists.
    let known = state
        .store
        .transact(|tx| async move { prism_auth::directory::roles(&tx).await })
        .await?;
    if let Some(unknown) = names.iter().find(|r| !known.exists(r)) {
        return Err(ApiError::invalid(
            "roles",
            format!("no role named {unknown:?}"),
        ));
    }
    Ok(Some(names))
}

type Saved = (UserRecord, bool, u64, prism_outbox::Staged);

async fn save(
    tx: &Tx,
    actor: &str,
    name: &str,
    wanted: &Wanted,
) -> prism_store::Result<ApiResult<Saved>> {
    let existing = users::get(tx, name).await?;
    let now = now_ms();
    let base = existing.clone().unwrap_or_else(|| UserRecord {
        name: name.into(),
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
        && let Err(refused) = keep_an_admin(tx, name).await?
    {
        return Ok(Err(refused));
    }
    users::put(tx, &record).await?;
    let generation = auth_generation::bump(tx).await?;
    let mut details = to_json(&record);
    details["password_changed"] = json!(wanted.password_hash.is_some());
    let staged = Change::new(actor, "user", "put", name, details)
        .stage(tx)
        .await?;
    Ok(Ok((record, existing.is_none(), generation, staged)))
}

/// Deletes a user and every token of theirs.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let (generation, staged) = state
        .store
        .transact(|tx| {
            let (name, actor) = (name.clone(), caller.name());
            async move {
                let Some(existing) = users::get(&tx, &name).await? else {
                    return Ok(Err(ApiError::not_found(
                        "name",
                        format!("no user named {name:?}"),
                    )));
                };
                if is_active_admin(&existing)
                    && let Err(refused) = keep_an_admin(&tx, &name).await?
                {
                    return Ok(Err(refused));
                }
                for (hash, token) in tokens::list_for_user(&tx, &name).await? {
                    tokens::delete(&tx, &hash, &token).await?;
                }
                users::delete(&tx, &name).await?;
                let generation = auth_generation::bump(&tx).await?;
                let staged = Change::new(actor, "user", "delete", &name, json!({}))
                    .stage(&tx)
                    .await?;
                Ok(Ok((generation, staged)))
            }
        })
        .await??;
    state.auth_committed(generation, &staged).await;
    Ok(StatusCode::NO_CONTENT)
}
