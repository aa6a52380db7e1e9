use prism_schemas::v1::RoleRecord;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub const MAX_ROLES: usize = 1_000;

pub async fn put(tx: &Tx, record: &RoleRecord) -> Result<()> {
    put_record(tx, &keys::roles().key(&record.name.as_str()), record).await
}

pub async fn get(tx: &Tx, name: &str) -> Result<Option<RoleRecord>> {
    get_record(tx, &keys::roles().key(&name)).await
}

pub async fn delete(tx: &Tx, name: &str) -> Result<()> {
    tx.clear(&keys::roles().key(&name)).await
}

/// Every custom role, in name order (at most [`MAX_ROLES`]).
pub async fn list(tx: &Tx) -> Result<Vec<RoleRecord>> {
    let rows = scan_records(tx, keys::roles().range(), MAX_ROLES, false).await?;
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}
