use prism_schemas::v1::AuditRecord;

use super::{decode, hex};
use crate::error::Result;
use crate::keys::{self, Family};
use crate::kv::{Tx, VERSIONSTAMP_LEN};

/// An entry of the audit log with its position: the versionstamp of the commit that
/// wrote it, as 24 hex digits. Positions increase in commit order.
pub struct AuditEntry {
    pub seq: String,
    pub record: AuditRecord,
}

/// Appends `record` unless an entry for the same event id exists: redelivered events
/// change nothing. Returns whether it was appended. `position` orders the entries
/// one transaction appends (each needs its own).
pub async fn append(tx: &Tx, record: &AuditRecord, position: u16) -> Result<bool> {
    let seen_key = keys::audit_seen().key(&record.event_id.as_str());
    if tx.get(&seen_key).await?.is_some() {
        return Ok(false);
    }
    tx.set(&seen_key, &[]).await?;
    let value = prost::Message::encode_to_vec(record);
    tx.set_versionstamped_key(keys::audit().prefix(), position, &value)
        .await?;
    Ok(true)
}

/// Entries in commit order after position `after` (exclusive), at most `limit`.
pub async fn list(tx: &Tx, after: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
    let (family_begin, end) = keys::audit().range();
    let begin = after
        .and_then(entry_key)
        .map_or(family_begin, |key| Family::after(&key));
    entries(tx, (begin, end), limit, false).await
}

/// At most `limit` entries before the one numbered `before` (or the newest), newest
/// first.
pub async fn list_newest(tx: &Tx, before: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
    let (begin, family_end) = keys::audit().range();
    let end = before.and_then(entry_key).unwrap_or(family_end);
    entries(tx, (begin, end), limit, true).await
}

/// The key of the entry numbered `seq`, if it is a well-formed number.
fn entry_key(seq: &str) -> Option<Vec<u8>> {
    let mut key = keys::audit().prefix().to_vec();
    key.extend_from_slice(&parse_seq(seq)?);
    Some(key)
}

/// The entries in `range`, each with its number.
async fn entries(
    tx: &Tx,
    (begin, end): (Vec<u8>, Vec<u8>),
    limit: usize,
    reverse: bool,
) -> Result<Vec<AuditEntry>> {
    let prefix_len = keys::audit().prefix().len();
    let rows = tx.get_range(&begin, &end, limit, reverse).await?;
    rows.into_iter()
        .map(|kv| {
            let record: AuditRecord = decode(&kv.key, &kv.value)?;
            let seq = hex(&kv.key[prefix_len.min(kv.key.len())..]);
            Ok(AuditEntry { seq, record })
        })
        .collect()
}

fn parse_seq(seq: &str) -> Option<[u8; VERSIONSTAMP_LEN]> {
    if seq.len() != VERSIONSTAMP_LEN * 2 {
        return None;
    }
    let mut out = [0u8; VERSIONSTAMP_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(seq.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Whether `seq` is a well-formed position, for validating cursors.
pub fn is_valid_seq(seq: &str) -> bool {
    parse_seq(seq).is_some()
}
