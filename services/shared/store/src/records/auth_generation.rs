//! A counter every gateway polls: when it moves, what a gateway cached about users,
//! roles, overrides and tokens may be stale and is dropped.
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn get(tx: &Tx) -> Result<u64> {
    Ok(tx
        .get(&keys::auth_generation())
        .await?
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Moves the counter within `tx` and answers the new value.
pub async fn bump(tx: &Tx) -> Result<u64> {
    let next = get(tx).await? + 1;
    tx.set(&keys::auth_generation(), &next.to_be_bytes())
        .await?;
    Ok(next)
}
