//! Signing in and out, who am I, and may this user do that.
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission, password, policy};
use prism_store::records::{now_ms, users};

use crate::auth::{Caller, session, tokens};
use crate::bodies;
use crate::error::{ApiError, ApiResult, Code};
use crate::input::{self, Typed};
use crate::state::AppState;

/// `{"user","password"}` → a session token. A wrong user and a wrong password get
/// the same answer, in the same time; repeated failures for one name are slowed.
pub async fn login(
    State(state): State<Arc<AppState>>,
    Typed(login): Typed<bodies::Login>,
) -> ApiResult<Json<bodies::Session>> {
    let (token, expires_at_ms) = sign_in(&state, login, "login").await?;
    Ok(Json(bodies::Session {
        token,
        expires_at: input::time_text(expires_at_ms),
    }))
}

/// The console's sign-in: the same check as [`login`], the token in a cookie
/// that scripts cannot read (see `auth::session`), never in the body.
pub async fn start_session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Typed(login): Typed<bodies::Login>,
) -> ApiResult<(HeaderMap, Json<bodies::BrowserSession>)> {
    session::check_same_origin(&Method::POST, &headers)?;
    let user = login.user.clone();
    let (token, expires_at_ms) = sign_in(&state, login, "console").await?;
    let mut answer = HeaderMap::new();
    let max_age = (tokens::SESSION_MS / 1000).max(1);
    answer.insert(SET_COOKIE, session::set_cookie(&headers, &token, max_age));
    let expires_at = input::time_text(expires_at_ms).unwrap_or_default();
    Ok((answer, Json(bodies::BrowserSession { user, expires_at })))
}

/// Checks a user's password and issues a session token labelled `label`.
async fn sign_in(state: &AppState, login: bodies::Login, label: &str) -> ApiResult<(String, i64)> {
    let bodies::Login {
        user,
        password: given,
    } = login;
    input::non_empty("user", &user)?;
    input::non_empty("password", &given)?;
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
    let (token, _) = tokens::issue(state, &user, tokens::SESSION, label, expires_at_ms).await?;
    Ok((token, expires_at_ms))
}

/// Revokes the token the request was made with.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<(StatusCode, [(HeaderName, HeaderValue); 1])> {
    tokens::remove(&state, caller.name(), &caller.token.id).await?;
    // A browser forgets its session cookie with it (a bearer caller ignores this).
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, session::clear_cookie())],
    ))
}

pub async fn me(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::Me>> {
    let roles = state.directory.roles().await?;
    let grants = policy::effective_grants(&caller.user, &roles);
    Ok(Json(bodies::Me {
        user: caller.name().to_string(),
        roles: caller.user.roles.clone(),
        grants: grants
            .into_iter()
            .map(|(role, grant)| {
                let bodies::Grant {
                    entity,
                    pattern,
                    actions,
                } = grant.into();
                bodies::EffectiveGrant {
                    role: role.to_string(),
                    entity,
                    pattern,
                    actions,
                }
            })
            .collect(),
        token: bodies::TokenRef {
            id: caller.token.id.clone(),
            kind: caller.token.kind.clone(),
            expires_at: input::time_text(caller.token.expires_at_ms),
        },
    }))
}

/// `{"user"?,"action","entity","name"}` → `{"allowed","because"}`. Asking about
/// someone else needs `view` on users.
pub async fn check(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Typed(question): Typed<bodies::AuthzQuestion>,
) -> ApiResult<Json<bodies::AuthzAnswer>> {
    let action = Action::parse(&question.action).ok_or_else(|| {
        ApiError::invalid("action", "one of view, create, modify, delete, execute")
    })?;
    let entity = Entity::parse(&question.entity)
        .ok_or_else(|| ApiError::invalid("entity", "an entity type, e.g. dataflows"))?;
    if let Some(name) = &question.name {
        input::non_empty("name", name)?;
        if name.len() > 200 {
            return Err(ApiError::invalid("name", "at most 200 bytes"));
        }
    }
    let name = question.name;
    let wanted = Permission {
        action,
        entity,
        name,
    };
    let subject = match question.user {
        None => caller.user.as_ref().clone(),
        Some(user) => {
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
    Ok(Json(bodies::AuthzAnswer {
        user: subject.name,
        permission: wanted.to_string(),
        allowed: decision.allowed,
        because: decision.because,
    }))
}
