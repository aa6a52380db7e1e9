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

/// Writes the run, indexed under its flow, and in the index of running runs
/// while it runs.
pub async fn put(tx: &Tx, run: &FlowRunRecord) -> Result<()> {
    let listed = keys::flow_runs_by_flow().key(&(run.flow.as_str(), run.id.as_str()));
    tx.set(&listed, &[]).await?;
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

/// Runs of `flow`, newest first: at most `limit`, older than run `before` if given
/// (run ids are UUIDv7, so in time order).
pub async fn list(
    tx: &Tx,
    flow: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Vec<FlowRunRecord>> {
    let index = keys::flow_runs_by_flow();
    let family = index.nested(&(flow,));
    let (begin, end) = index.range_of(&(flow,));
    let end = before.map_or(end, |id| family.key(&id));
    let rows = tx.get_range(&begin, &end, limit, true).await?;
    let mut runs = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = family.unpack_id(&row.key).unwrap_or_default();
        if let Some(run) = get(tx, &id).await? {
            runs.push(run);
        }
    }
    Ok(runs)
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
