//! Signing in and out, who am I, and may this user do that.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission, password, policy};
use prism_store::records::{now_ms, users};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::routes::tokens;
use crate::state::AppState;

/// `{"user","password"}` → a session token. A wrong user and a wrong password get
/// the same answer, in the same time; repeated failures for one name are slowed.
pub async fn login(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Value>> {
    let map = input::json_object(&body)?;
    input::reject_unknown(&map, &["user", "password"])?;
    let user = input::required_str(&map, "user")?.to_string();
    let given = input::required_str(&map, "password")?.to_string();
    if user.len() > 64 {
        return Err(ApiError::invalid("user", "at most 64 bytes"));
    }
    if given.len() > password::MAX_BYTES {
        return Err(ApiError::invalid(
            "password",
            format!("at most {} bytes", password::MAX_BYTES),
        ));
    }
    if let Err(wait) = state.throttle.check(&user) {
        let mut error = ApiError::new(
            Code::ResourceExhausted,
            Some("user"),
            "too many failed logins for this user: wait, then try again",
        );
        error.retry_after_secs = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        return Err(error);
    }
    let record = state
        .store
        .transact(|tx| {
            let user = user.clone();
            async move { users::get(&tx, &user).await }
        })
        .await?
        .filter(|u| !u.disabled);
    if !password::verify(given, record.map(|u| u.password_hash)).await {
        state.throttle.failed(&user);
        tracing::info!(%user, "login refused");
        return Err(ApiError::unauthenticated("wrong user or password"));
    }
    state.throttle.succeeded(&user);
    let expires_at_ms = now_ms() + tokens::SESSION_MS;
    let (token, _) = tokens::issue(&state, &user, tokens::SESSION, "login", expires_at_ms).await?;
    Ok(Json(
        json!({ "token": token, "expires_at": input::time(expires_at_ms) }),
    ))
}

/// Revokes the token the request was made with.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<StatusCode> {
    tokens::remove(&state, caller.name(), &caller.token.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let roles = state.directory.roles().await?;
    Ok(Json(json!({
        "user": caller.name(),
        "roles": caller.user.roles,
        "grants": policy::effective_grants(&caller.user, &roles),
        "token": { "id": caller.token.id, "kind": caller.token.kind, "expires_at": input::time(caller.token.expires_at_ms) },
    })))
}

/// `{"user"?,"action","entity","name"}` → `{"allowed","because"}`. Asking about
/// someone else needs `view` on users.
pub async fn check(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = input::json_object(&body)?;
    input::reject_unknown(&map, &["user", "action", "entity", "name"])?;
    let action = input::required_str(&map, "action")?;
    let action = Action::parse(action).ok_or_else(|| {
        ApiError::invalid("action", "one of view, create, modify, delete, execute")
    })?;
    let entity = input::required_str(&map, "entity")?;
    let entity = Entity::parse(entity)
        .ok_or_else(|| ApiError::invalid("entity", "an entity type, e.g. dataflows"))?;
    let name = match map.get("name") {
        None | Some(Value::Null) => None,
        Some(_) => {
            let name = input::required_str(&map, "name")?;
            if name.len() > 200 {
                return Err(ApiError::invalid("name", "at most 200 bytes"));
            }
            Some(name.to_string())
        }
    };
    let wanted = Permission {
        action,
        entity,
        name,
    };
    let subject = match map.get("user") {
        None | Some(Value::Null) => caller.user.as_ref().clone(),
        Some(_) => {
            let user = input::required_str(&map, "user")?.to_string();
            input::check_name("user", &user)?;
            if user != caller.name() {
                caller
                    .require(&state, Permission::on(Action::View, Entity::Users, &user))
                    .await?;
            }
            state
                .store
                .transact(|tx| {
                    let user = user.clone();
                    async move { users::get(&tx, &user).await }
                })
                .await?
                .ok_or_else(|| ApiError::not_found("user", format!("no user named {user:?}")))?
        }
    };
    let decision = state.directory.decide(&subject, &wanted).await?;
    Ok(Json(json!({
        "user": subject.name,
        "permission": wanted.to_string(),
        "allowed": decision.allowed,
        "because": decision.because,
    })))
}
