//! Bearer tokens: sessions from a login, and API tokens for automation. A caller
//! sees and revokes only their own; the secret is shown once, at creation.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_store::records::now_ms;
use prism_store::records::tokens;

use crate::auth::Caller;
use crate::auth::tokens::{API, MAX_API_TOKEN_MS, MAX_LABEL_BYTES, body, issue, remove};
use crate::bodies;
use crate::error::{ApiError, ApiResult};
use crate::input::{self, Typed};
use crate::state::AppState;

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Typed(wanted): Typed<bodies::NewToken>,
) -> ApiResult<(StatusCode, Json<bodies::Token>)> {
    let label = wanted.label.as_str();
    input::non_empty("label", label)?;
    if label.len() > MAX_LABEL_BYTES {
        return Err(ApiError::invalid(
            "label",
            format!("at most {MAX_LABEL_BYTES} bytes"),
        ));
    }
    let expires_at_ms = match &wanted.expires_at {
        None => 0,
        Some(text) => {
            let when = chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .ok_or_else(|| ApiError::invalid("expires_at", "an RFC 3339 time"))?
                .timestamp_millis();
            let now = now_ms();
            if when <= now || when > now + MAX_API_TOKEN_MS {
                return Err(ApiError::invalid(
                    "expires_at",
                    "must be in the future, within 366 days",
                ));
            }
            when
        }
    };
    let (secret, record) = issue(&state, caller.name(), API, label, expires_at_ms).await?;
    let created = bodies::Token {
        token: Some(secret),
        ..body(&record)
    };
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::Tokens>> {
    let user = caller.name().to_string();
    let all = state
        .store
        .transact(|tx| {
            let user = user.clone();
            async move { tokens::list_for_user(&tx, &user).await }
        })
        .await?;
    let now = now_ms();
    let tokens = all
        .iter()
        .filter(|(_, t)| t.expires_at_ms == 0 || t.expires_at_ms > now)
        .map(|(_, t)| body(t))
        .collect();
    Ok(Json(bodies::Tokens { tokens }))
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match remove(&state, caller.name(), &id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found(
            "id",
            format!("you have no token {id:?}"),
        )),
    }
}
