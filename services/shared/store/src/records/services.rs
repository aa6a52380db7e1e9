use prism_schemas::v1::ServiceRecord;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

/// Exposed services are few; a larger set is refused.
pub const MAX_SERVICES: usize = 1_000;

pub async fn put(tx: &Tx, record: &ServiceRecord) -> Result<()> {
    put_record(tx, &keys::services().key(&record.name.as_str()), record).await
}

pub async fn get(tx: &Tx, name: &str) -> Result<Option<ServiceRecord>> {
    get_record(tx, &keys::services().key(&name)).await
}

pub async fn delete(tx: &Tx, name: &str) -> Result<()> {
    tx.clear(&keys::services().key(&name)).await
}

/// Every exposed service, in name order (at most [`MAX_SERVICES`]).
pub async fn list(tx: &Tx) -> Result<Vec<ServiceRecord>> {
    let rows = scan_records(tx, keys::services().range(), MAX_SERVICES, false).await?;
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}
