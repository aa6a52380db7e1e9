//! Issuing and revoking bearer tokens, for signing in and out and for the token
//! routes: a new token's change event and the auth generation's move are committed
//! with it.
use prism_auth::secret;
use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_schemas::v1::TokenRecord;
use prism_store::records::tokens::{self, MAX_TOKENS_PER_USER};
use prism_store::records::{auth_generation, now_ms};

use crate::bodies;
use crate::catalog::Change;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::state::AppState;

/// How long a login lasts.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;
/// The furthest an API token may be set to expire.
pub const MAX_API_TOKEN_MS: i64 = 366 * 24 * 3600 * 1000;
pub const MAX_LABEL_BYTES: usize = 100;

pub const SESSION: &str = "session";
pub const API: &str = "api";

/// A token as the API shows it: never its secret (but in the answer that creates it).
pub fn body(token: &TokenRecord) -> bodies::Token {
    bodies::Token {
        id: token.id.clone(),
        label: token.label.clone(),
        kind: token.kind.clone(),
        created_at: input::time_text(token.created_at_ms),
        expires_at: input::time_text(token.expires_at_ms),
        token: None,
    }
}

fn details(token: &TokenRecord) -> serde_json::Value {
    serde_json::to_value(body(token)).unwrap_or_default()
}

/// Stores a new token of `user` and answers its secret. A user holds at most
/// [`MAX_TOKENS_PER_USER`]: expired ones are dropped first, then the oldest
/// session; API tokens beyond the bound are refused.
pub async fn issue(
    state: &AppState,
    user: &str,
    kind: &str,
    label: &str,
    expires_at_ms: i64,
) -> ApiResult<(String, TokenRecord)> {
    let secret = secret::generate();
    let hash = secret::hash(&secret);
    let record = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user: user.into(),
        label: label.into(),
        kind: kind.into(),
        created_at_ms: now_ms(),
        expires_at_ms,
    };
    let issued = state
        .store
        .transact(|tx| {
            let record = &record;
            async move {
                let now = now_ms();
                let mut live = Vec::new();
                for (old_hash, old) in tokens::list_for_user(&tx, &record.user).await? {
                    if old.expires_at_ms != 0 && old.expires_at_ms <= now {
                        tokens::delete(&tx, &old_hash, &old).await?;
                    } else {
                        live.push((old_hash, old));
                    }
                }
                if live.len() >= MAX_TOKENS_PER_USER {
                    let oldest_session = live.iter().find(|(_, t)| t.kind == SESSION);
                    match (record.kind.as_str(), oldest_session) {
                        (SESSION, Some((old_hash, old))) => {
                            tokens::delete(&tx, old_hash, old).await?
                        }
                        _ => return Ok(None),
                    }
                }
                tokens::put(&tx, &hash, record).await?;
                let op = if record.kind == SESSION {
                    ConfigOp::Login
                } else {
                    ConfigOp::Create
                };
                let change = Change::new(
                    &record.user,
                    ConfigEntity::Token,
                    op,
                    &record.id,
                    details(record),
                );
                Ok(Some(change.stage(&tx).await?))
            }
        })
        .await?;
    let Some(staged) = issued else {
        return Err(ApiError::new(
            Code::Conflict,
            None,
            format!("a user holds at most {MAX_TOKENS_PER_USER} tokens: revoke one first"),
        ));
    };
    state.announce(&staged).await;
    Ok((secret, record))
}

/// Deletes token `id` of `user` and moves the auth generation, so every gateway
/// stops honouring it within its poll (this one at once).
pub async fn remove(state: &AppState, user: &str, id: &str) -> ApiResult<Option<TokenRecord>> {
    let (user, id) = (user.to_string(), id.to_string());
    let removed = state
        .store
        .transact(|tx| {
            let (user, id) = (user.clone(), id.clone());
            async move {
                let Some((hash, record)) = tokens::get_by_id(&tx, &user, &id).await? else {
                    return Ok(None);
                };
                tokens::delete(&tx, &hash, &record).await?;
                let change = Change::new(
                    &user,
                    ConfigEntity::Token,
                    ConfigOp::Revoke,
                    &id,
                    details(&record),
                );
                let staged = change.stage(&tx).await?;
                Ok(Some((record, auth_generation::bump(&tx).await?, staged)))
            }
        })
        .await?;
    let Some((record, generation, staged)) = removed else {
        return Ok(None);
    };
    state.auth_committed(generation, &staged).await;
    Ok(Some(record))
}
