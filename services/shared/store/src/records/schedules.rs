use prism_schemas::v1::ScheduleRecord;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn put(tx: &Tx, record: &ScheduleRecord) -> Result<()> {
    put_record(tx, &keys::schedules().key(&record.name.as_str()), record).await
}

pub async fn get(tx: &Tx, name: &str) -> Result<Option<ScheduleRecord>> {
    get_record(tx, &keys::schedules().key(&name)).await
}

pub async fn delete(tx: &Tx, name: &str) -> Result<()> {
    tx.clear(&keys::schedules().key(&name)).await
}

pub async fn list(tx: &Tx) -> Result<Vec<ScheduleRecord>> {
    let rows = scan_records(tx, keys::schedules().range(), 0, false).await?;
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}
