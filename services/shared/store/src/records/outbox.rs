//! The outbox: messages an accepting transaction must publish, written with it.
use prism_schemas::v1::OutboxEntry;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn put(tx: &Tx, id: &str, entry: &OutboxEntry) -> Result<()> {
    put_record(tx, &keys::outbox().key(&id), entry).await
}

pub async fn get(tx: &Tx, id: &str) -> Result<Option<OutboxEntry>> {
    get_record(tx, &keys::outbox().key(&id)).await
}

pub async fn clear(tx: &Tx, id: &str) -> Result<()> {
    tx.clear(&keys::outbox().key(&id)).await
}

/// Entries oldest first: `(id, entry)`, at most `limit`.
pub async fn list(tx: &Tx, limit: usize) -> Result<Vec<(String, OutboxEntry)>> {
    let rows = scan_records::<OutboxEntry>(tx, keys::outbox().range(), limit, false).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, entry)| keys::outbox().unpack_id(&key).map(|id| (id, entry)))
        .collect())
}
