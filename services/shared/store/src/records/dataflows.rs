use prism_schemas::v1::{DataflowOutline, DataflowVersionRecord};

use super::versions::{self, Versioned};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

impl Versioned for DataflowVersionRecord {
    fn family() -> keys::Family {
        keys::dataflows()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> u32 {
        self.version
    }
}

/// Stores `document_json` as the next version of `name` and returns that version.
/// Versions are immutable: nothing ever rewrites an existing one.
pub async fn save_new_version(
    tx: &Tx,
    name: &str,
    document_json: &str,
    outline: Option<DataflowOutline>,
    now_ms: i64,
) -> Result<DataflowVersionRecord> {
    let record = DataflowVersionRecord {
        name: name.to_string(),
        version: versions::next::<DataflowVersionRecord>(tx, name).await?,
        document_json: document_json.to_string(),
        created_at_ms: now_ms,
        outline,
    };
    versions::put(tx, &record).await?;
    Ok(record)
}

pub async fn latest(tx: &Tx, name: &str) -> Result<Option<DataflowVersionRecord>> {
    versions::latest(tx, name).await
}

pub async fn get_version(
    tx: &Tx,
    name: &str,
    version: u32,
) -> Result<Option<DataflowVersionRecord>> {
    versions::get(tx, name, version).await
}

/// The latest version of every dataflow, by name.
pub async fn list_latest(tx: &Tx) -> Result<Vec<DataflowVersionRecord>> {
    versions::list_latest(tx).await
}
