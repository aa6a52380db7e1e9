use prism_schemas::v1::ConnectionRecord;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn put(tx: &Tx, record: &ConnectionRecord) -> Result<()> {
    put_record(tx, &keys::connections().key(&record.name.as_str()), record).await
}

pub async fn get(tx: &Tx, name: &str) -> Result<Option<ConnectionRecord>> {
    get_record(tx, &keys::connections().key(&name)).await
}

pub async fn list(tx: &Tx) -> Result<Vec<ConnectionRecord>> {
    let rows = scan_records(tx, keys::connections().range(), 0, false).await?;
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}

pub async fn delete(tx: &Tx, name: &str) -> Result<()> {
    tx.clear(&keys::connections().key(&name)).await
}
