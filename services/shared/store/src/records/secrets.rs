//! Secrets, sealed (`prism-secrets`): the store holds ciphertext and wrapped data
//! keys only.
use prism_schemas::v1::SecretRecord;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn put(tx: &Tx, record: &SecretRecord) -> Result<()> {
    put_record(tx, &keys::secrets().key(&record.name.as_str()), record).await
}

pub async fn get(tx: &Tx, name: &str) -> Result<Option<SecretRecord>> {
    get_record(tx, &keys::secrets().key(&name)).await
}

pub async fn list(tx: &Tx) -> Result<Vec<SecretRecord>> {
    let rows = scan_records(tx, keys::secrets().range(), 0, false).await?;
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}

pub async fn delete(tx: &Tx, name: &str) -> Result<()> {
    tx.clear(&keys::secrets().key(&name)).await
}

/// At most `limit` secrets after `after` (exclusive) in name order, for re-wrapping
/// them in batches that stay within a transaction's limits.
pub async fn page(tx: &Tx, after: Option<&str>, limit: usize) -> Result<Vec<SecretRecord>> {
    let family = keys::secrets();
    let (begin, end) = family.range();
    let begin = match after {
        Some(name) => keys::Family::after(&family.key(&name)),
        None => begin,
    };
    let rows = scan_records(tx, (begin, end), limit, false).await?;
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}
