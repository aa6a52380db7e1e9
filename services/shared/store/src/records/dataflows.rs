use prism_schemas::v1::{DataflowOutline, DataflowVersionRecord};

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
    outline: Option<DataflowOutline>,
    now_ms: i64,
) -> Result<DataflowVersionRecord> {
    let version = latest(tx, name).await?.map_or(0, |r| r.version) + 1;
    let record = DataflowVersionRecord {
        name: name.to_string(),
        version,
        document_json: document_json.to_string(),
        created_at_ms: now_ms,
        outline,
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

/// The latest version of every dataflow, by name: two short reads per dataflow
/// (its first key, to learn the name; its last version), never its older versions.
pub async fn list_latest(tx: &Tx) -> Result<Vec<DataflowVersionRecord>> {
    let family = keys::dataflows();
    let (mut begin, end) = family.range();
    let mut latest = Vec::new();
    loop {
        let first =
            scan_records::<DataflowVersionRecord>(tx, (begin, end.clone()), 1, false).await?;
        let Some((_, record)) = first.into_iter().next() else {
            return Ok(latest);
        };
        let name = record.name.clone();
        let newest = scan_records(tx, family.range_of(&name.as_str()), 1, true).await?;
        latest.extend(newest.into_iter().map(|(_, record)| record));
        begin = family.range_of(&name.as_str()).1;
    }
}
