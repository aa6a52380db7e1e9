//! Runs of process flows. A run is one record, rewritten as schedulers advance it;
//! an index names the runs still running, so that advancing reads only those.
use prism_schemas::v1::FlowRunRecord;

use super::{get_record, put_record};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub const RUNNING: &str = "running";

pub async fn get(tx: &Tx, id: &str) -> Result<Option<FlowRunRecord>> {
    get_record(tx, &keys::flow_runs().key(&id)).await
}

/// Writes the run, and keeps it in the index of running runs while it runs.
pub async fn put(tx: &Tx, run: &FlowRunRecord) -> Result<()> {
    let active = keys::flow_runs_active().key(&run.id.as_str());
    if run.state == RUNNING {
        tx.set(&active, &[]).await?;
    } else {
        tx.clear(&active).await?;
    }
    put_record(tx, &keys::flow_runs().key(&run.id.as_str()), run).await
}

/// The ids of the runs still running, oldest first, at most `limit`.
pub async fn running(tx: &Tx, limit: usize) -> Result<Vec<String>> {
    let family = keys::flow_runs_active();
    let (begin, end) = family.range();
    let rows = tx.get_range(&begin, &end, limit, false).await?;
    Ok(rows
        .iter()
        .filter_map(|kv| family.unpack_id(&kv.key))
        .collect())
}

/// The run an idempotency key of `flow` started, if any.
pub async fn by_key(tx: &Tx, flow: &str, key: &str) -> Result<Option<String>> {
    Ok(tx
        .get(&keys::flow_run_keys().key(&(flow, key)))
        .await?
        .map(|id| String::from_utf8_lossy(&id).into_owned()))
}

pub async fn remember_key(tx: &Tx, flow: &str, key: &str, id: &str) -> Result<()> {
    tx.set(&keys::flow_run_keys().key(&(flow, key)), id.as_bytes())
        .await
}
