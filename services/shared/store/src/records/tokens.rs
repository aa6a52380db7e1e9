//! Bearer tokens, keyed by the SHA-256 of their secret, with an index per user.
use prism_schemas::v1::TokenRecord;

use super::{get_record, put_record};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

/// Live tokens one user may hold (sessions and API tokens together).
pub const MAX_TOKENS_PER_USER: usize = 100;

/// Stores `record` under `hash`, the SHA-256 of its secret.
pub async fn put(tx: &Tx, hash: &[u8], record: &TokenRecord) -> Result<()> {
    put_record(tx, &keys::tokens().key(&hash), record).await?;
    let index = keys::user_tokens().key(&(record.user.as_str(), record.id.as_str()));
    tx.set(&index, hash).await
}

pub async fn get(tx: &Tx, hash: &[u8]) -> Result<Option<TokenRecord>> {
    get_record(tx, &keys::tokens().key(&hash)).await
}

/// The token of `user` with id `id`, with its hash.
pub async fn get_by_id(tx: &Tx, user: &str, id: &str) -> Result<Option<(Vec<u8>, TokenRecord)>> {
    let Some(hash) = tx.get(&keys::user_tokens().key(&(user, id))).await? else {
        return Ok(None);
    };
    Ok(get(tx, &hash).await?.map(|record| (hash, record)))
}

/// Every token of `user` with its hash, in creation order (ids are UUIDv7).
pub async fn list_for_user(tx: &Tx, user: &str) -> Result<Vec<(Vec<u8>, TokenRecord)>> {
    let (begin, end) = keys::user_tokens().range_of(&(user,));
    // Bounded above the cap, so an index that outgrew it is still read whole.
    let rows = tx
        .get_range(&begin, &end, MAX_TOKENS_PER_USER * 2, false)
        .await?;
    let mut tokens = Vec::with_capacity(rows.len());
    for row in rows {
        // `delete` clears a token and its index entry together.
        if let Some(record) = get(tx, &row.value).await? {
            tokens.push((row.value, record));
        }
    }
    Ok(tokens)
}

pub async fn delete(tx: &Tx, hash: &[u8], record: &TokenRecord) -> Result<()> {
    tx.clear(&keys::tokens().key(&hash)).await?;
    let index = keys::user_tokens().key(&(record.user.as_str(), record.id.as_str()));
    tx.clear(&index).await
}
