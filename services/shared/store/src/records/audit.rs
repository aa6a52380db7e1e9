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
    let family = keys::audit();
    let (family_begin, end) = family.range();
    let begin = match after.and_then(parse_seq) {
        Some(stamp) => {
            let mut key = family.prefix().to_vec();
            key.extend_from_slice(&stamp);
            Family::after(&key)
        }
        None => family_begin,
    };
    let prefix_len = family.prefix().len();
    let rows = tx.get_range(&begin, &end, limit, false).await?;
    rows.into_iter()
        .map(|kv| {
            let record: AuditRecord = decode(&kv.key, &kv.value)?;
            let seq = hex(&kv.key[prefix_len.min(kv.key.len())..]);
            Ok(AuditEntry { seq, record })
        })
        .collect()
}

/// At most `limit` entries before the one numbered `before` (or the newest), newest
/// first.
pub async fn list_newest(tx: &Tx, before: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
    let family = keys::audit();
    let (begin, family_end) = family.range();
    let end = match before.and_then(parse_seq) {
        Some(stamp) => {
            let mut key = family.prefix().to_vec();
            key.extend_from_slice(&stamp);
            key
        }
        None => family_end,
    };
    let prefix_len = family.prefix().len();
    let rows = tx.get_range(&begin, &end, limit, true).await?;
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
