use prism_schemas::v1::UserRecord;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

/// Users are few (people and robots); a directory bigger than this is refused.
pub const MAX_USERS: usize = 10_000;

pub async fn put(tx: &Tx, record: &UserRecord) -> Result<()> {
    put_record(tx, &keys::users().key(&record.name.as_str()), record).await
}

pub async fn get(tx: &Tx, name: &str) -> Result<Option<UserRecord>> {
    get_record(tx, &keys::users().key(&name)).await
}

pub async fn delete(tx: &Tx, name: &str) -> Result<()> {
    tx.clear(&keys::users().key(&name)).await
}

/// Every user, in name order (at most [`MAX_USERS`]).
pub async fn list(tx: &Tx) -> Result<Vec<UserRecord>> {
    let rows = scan_records(tx, keys::users().range(), MAX_USERS, false).await?;
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}

/// Whether any user exists: an empty directory is bootstrapped with an admin.
pub async fn any(tx: &Tx) -> Result<bool> {
    let (begin, end) = keys::users().range();
    Ok(!tx.get_range(&begin, &end, 1, false).await?.is_empty())
}
