use prism_schemas::v1::DataflowVersionRecord;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

/// Stores `document_json` as the next version of `name` and returns that version.
/// Versions are immutable: nothing ever rewrites an existing one.
pub async fn save_new_version(
    tx: &Tx,
    name: &str,
    document_json: &str,
    now_ms: i64,
) -> Result<DataflowVersionRecord> {
    let version = latest(tx, name).await?.map_or(0, |r| r.version) + 1;
    let record = DataflowVersionRecord {
        name: name.to_string(),
        version,
        document_json: document_json.to_string(),
        created_at_ms: now_ms,
    };
    put_record(tx, &keys::dataflows().key(&(name, version)), &record).await?;
    Ok(record)
}

pub async fn latest(tx: &Tx, name: &str) -> Result<Option<DataflowVersionRecord>> {
    let rows = scan_records(tx, keys::dataflows().range_of(&name), 1, true).await?;
    Ok(rows.into_iter().next().map(|(_, record)| record))
}

pub async fn get_version(
    tx: &Tx,
    name: &str,
    version: u32,
) -> Result<Option<DataflowVersionRecord>> {
    get_record(tx, &keys::dataflows().key(&(name, version))).await
}

/// The latest version of every dataflow, by name.
pub async fn list_latest(tx: &Tx) -> Result<Vec<DataflowVersionRecord>> {
    let rows =
        scan_records::<DataflowVersionRecord>(tx, keys::dataflows().range(), 0, false).await?;
    let mut latest: Vec<DataflowVersionRecord> = Vec::new();
    for (_, record) in rows {
        // Keys sort by (name, version): a record replaces the previous one of its name.
        match latest.last_mut() {
            Some(last) if last.name == record.name => *last = record,
            _ => latest.push(record),
        }
    }
    Ok(latest)
}
