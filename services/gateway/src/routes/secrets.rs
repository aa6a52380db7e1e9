//! Secrets: write-only values, sealed before they reach the store (see
//! `prism-secrets`). Reads answer metadata and the connections that name a
//! secret; no answer, event, record or log line ever holds a value.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_schemas::v1::{ConnectionRecord, SecretRecord};
use prism_store::records::{connections, now_ms, secrets};
use serde_json::json;

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{self, Change, Draft, Entry, Saved};
use crate::error::{ApiError, ApiResult};
use crate::input::{self, Typed};
use crate::state::AppState;

/// The longest value a secret may hold: enough for a key or a certificate chain.
pub const MAX_SECRET_BYTES: usize = 16 * 1024;
/// Secrets re-wrapped per transaction during a rotation (each record is small).
const ROTATION_BATCH: usize = 200;

/// Sets a secret's value: a new version, sealed under the active master key.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(body): Typed<bodies::SecretValue>,
) -> ApiResult<Saved<SecretRecord>> {
    input::check_name("name", &name)?;
    if body.value.is_empty() || body.value.len() > MAX_SECRET_BYTES {
        let message = format!("1 to {MAX_SECRET_BYTES} bytes");
        return Err(ApiError::invalid("value", message));
    }
    let keyring = state.keyring()?;
    let value = zeroize::Zeroizing::new(body.value);
    catalog::save(
        &state,
        caller.name(),
        &name,
        ConfigOp::Put,
        |_, existing: Option<SecretRecord>| {
            let (name, actor, value) = (name.clone(), caller.name().to_string(), &value);
            async move {
                let version = existing.as_ref().map_or(1, |e| e.version + 1);
                let sealed = match prism_secrets::seal(keyring, &name, version, value) {
                    Ok(sealed) => sealed,
                    Err(error) => return Ok(Err(ApiError::internal(error.to_string()))),
                };
                let now = now_ms();
                Ok(Ok(Draft::of(SecretRecord {
                    created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
                    name,
                    version,
                    sealed: Some(sealed),
                    updated_at_ms: now,
                    updated_by: actor,
                })))
            }
        },
    )
    .await
}

/// One secret's metadata.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<bodies::Secret>> {
    let record: SecretRecord = catalog::read(&state, &name).await?;
    let users = users_of(&state).await?;
    Ok(Json(with_users(record.body(), &users)))
}

/// The secrets the caller may view, metadata only.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::Secrets>> {
    let visible = catalog::visible::<SecretRecord>(&state, &caller).await?;
    let users = users_of(&state).await?;
    let secrets = visible.into_iter().map(|s| with_users(s, &users)).collect();
    Ok(Json(bodies::Secrets { secrets }))
}

/// Re-wraps every secret's data key under the active master key (the key
/// file's first, read again now). Values are not touched; jobs queued before
/// carry data keys wrapped under the old key, so keep it in the file until they
/// have run, then remove it.
pub async fn rotate_master_key(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::KeyRotation>> {
    let keyring = state.keyring()?;
    let active = keyring
        .active()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (mut after, mut rewrapped, mut total) = (None::<String>, 0u64, 0u64);
    loop {
        let start = after.clone();
        let batch = state
            .store
            .transact(|tx| {
                let start = start.clone();
                async move {
                    let page = secrets::page(&tx, start.as_deref(), ROTATION_BATCH).await?;
                    let mut changed = 0u64;
                    for mut record in page.clone() {
                        let Some(sealed) = &record.sealed else {
                            continue;
                        };
                        match prism_secrets::rewrap(keyring, sealed) {
                            Ok(Some(rewrapped)) => {
                                record.sealed = Some(rewrapped);
                                secrets::put(&tx, &record).await?;
                                changed += 1;
                            }
                            Ok(None) => {}
                            Err(error) => return Ok(Err(ApiError::internal(error.to_string()))),
                        }
                    }
                    Ok(Ok((page, changed)))
                }
            })
            .await??;
        let (page, changed) = batch;
        rewrapped += changed;
        total += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == ROTATION_BATCH => after = Some(last.name.clone()),
            _ => break,
        }
    }
    let details = json!({"key_id": active.id, "rewrapped": rewrapped, "secrets": total});
    let change = Change::new(
        caller.name(),
        ConfigEntity::Secret,
        ConfigOp::Rotate,
        "*",
        details,
    );
    let staged = state.stage_alone(&change).await?;
    state.announce(&staged).await;
    Ok(Json(bodies::KeyRotation {
        key_id: active.id.clone(),
        rewrapped,
        secrets: total,
    }))
}

/// Every connection with the secrets it names.
async fn users_of(state: &AppState) -> ApiResult<Vec<ConnectionRecord>> {
    Ok(state
        .store
        .transact(|tx| async move { connections::list(&tx).await })
        .await?)
}

fn with_users(mut secret: bodies::Secret, users: &[ConnectionRecord]) -> bodies::Secret {
    secret.connections = users
        .iter()
        .filter(|c| c.secret_names().contains(&secret.name.as_str()))
        .map(|c| c.name.clone())
        .collect();
    secret
}
