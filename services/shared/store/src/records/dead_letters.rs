//! Events the audit service could never record, kept for operators.
use prism_schemas::v1::DeadLetterRecord;

use super::{decode, hex};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn append(tx: &Tx, record: &DeadLetterRecord) -> Result<()> {
    let value = prost::Message::encode_to_vec(record);
    tx.set_versionstamped_key(keys::dead_letters().prefix(), 0, &value)
        .await
}

/// The newest `limit` dead letters, newest first, with their positions.
pub async fn list(tx: &Tx, limit: usize) -> Result<Vec<(String, DeadLetterRecord)>> {
    let family = keys::dead_letters();
    let (begin, end) = family.range();
    let prefix_len = family.prefix().len();
    let rows = tx.get_range(&begin, &end, limit, true).await?;
    rows.into_iter()
        .map(|kv| {
            let record: DeadLetterRecord = decode(&kv.key, &kv.value)?;
            Ok((hex(&kv.key[prefix_len.min(kv.key.len())..]), record))
        })
        .collect()
}
