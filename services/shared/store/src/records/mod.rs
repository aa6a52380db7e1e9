//! Typed records on top of [`crate::kv`]. Each function works inside a caller's
//! transaction, so that several records change atomically.
pub mod acls;
pub mod audit;
pub mod auth_generation;
pub mod connections;
pub mod dataflows;
pub mod dead_letters;
pub mod flow_runs;
pub mod jobs;
pub mod outbox;
pub mod processflows;
pub mod roles;
pub mod schedules;
pub mod secrets;
pub mod services;
pub mod tokens;
pub mod users;
pub mod versions;

use prost::Message;

use crate::error::{Error, Result};
use crate::kv::Tx;

pub(crate) fn decode<M: Message + Default>(key: &[u8], bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|e| Error::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

pub(crate) async fn get_record<M: Message + Default>(tx: &Tx, key: &[u8]) -> Result<Option<M>> {
    match tx.get(key).await? {
        Some(bytes) => decode(key, &bytes).map(Some),
        None => Ok(None),
    }
}

pub(crate) async fn put_record<M: Message>(tx: &Tx, key: &[u8], record: &M) -> Result<()> {
    tx.set(key, &record.encode_to_vec()).await
}

/// The records of `range` (a family, or part of one) in key order, or reversed; at
/// most `limit` (0: all).
pub(crate) async fn scan_records<M: Message + Default>(
    tx: &Tx,
    range: (Vec<u8>, Vec<u8>),
    limit: usize,
    reverse: bool,
) -> Result<Vec<(Vec<u8>, M)>> {
    let rows = tx.get_range(&range.0, &range.1, limit, reverse).await?;
    rows.into_iter()
        .map(|kv| decode(&kv.key, &kv.value).map(|record| (kv.key, record)))
        .collect()
}

/// Lowercase hex digits of `bytes`, for versionstamp positions.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the Unix epoch, the time unit of every record.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
