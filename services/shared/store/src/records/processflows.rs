use prism_schemas::v1::ProcessFlowVersionRecord;

use super::versions::{self, Versioned};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

impl Versioned for ProcessFlowVersionRecord {
    fn family() -> keys::Family {
        keys::processflows()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> u32 {
        self.version
    }
}

/// Stores `document_json` as the next version of process flow `name`.
pub async fn save_new_version(
    tx: &Tx,
    name: &str,
    document_json: &str,
    now_ms: i64,
) -> Result<ProcessFlowVersionRecord> {
    let record = ProcessFlowVersionRecord {
        name: name.to_string(),
        version: versions::next::<ProcessFlowVersionRecord>(tx, name).await?,
        document_json: document_json.to_string(),
        created_at_ms: now_ms,
    };
    versions::put(tx, &record).await?;
    Ok(record)
}

pub async fn latest(tx: &Tx, name: &str) -> Result<Option<ProcessFlowVersionRecord>> {
    versions::latest(tx, name).await
}

pub async fn get_version(
    tx: &Tx,
    name: &str,
    version: u32,
) -> Result<Option<ProcessFlowVersionRecord>> {
    versions::get(tx, name, version).await
}

pub async fn list_latest(tx: &Tx) -> Result<Vec<ProcessFlowVersionRecord>> {
    versions::list_latest(tx).await
}
