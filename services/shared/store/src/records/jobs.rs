use prism_schemas::v1::{JobRecord, JobState};

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn get(tx: &Tx, id: &str) -> Result<Option<JobRecord>> {
    get_record(tx, &keys::jobs().key(&id)).await
}

/// Writes the job and keeps its index entries current (an entry for its state,
/// its dataflow, and both), so filtered lists read only the jobs they show.
pub async fn put(tx: &Tx, record: &JobRecord) -> Result<()> {
    if let Some(previous) = get(tx, &record.id).await?
        && (previous.state != record.state || previous.dataflow != record.dataflow)
    {
        for key in index_keys(&previous) {
            tx.clear(&key).await?;
        }
    }
    for key in index_keys(record) {
        tx.set(&key, &[]).await?;
    }
    put_record(tx, &keys::jobs().key(&record.id.as_str()), record).await
}

fn index_keys(job: &JobRecord) -> [Vec<u8>; 3] {
    let (id, dataflow) = (job.id.as_str(), job.dataflow.as_str());
    let index = keys::job_index();
    [
        index.key(&("state", job.state, id)),
        index.key(&("dataflow", dataflow, id)),
        index.key(&("dataflow_state", dataflow, job.state, id)),
    ]
}

#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub dataflow: Option<String>,
}

pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// The id to pass as `before` for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Newest first, starting before the job `before` (exclusive). A filter reads its
/// index: the page costs its own jobs, however many others there are.
pub async fn list(
    tx: &Tx,
    filter: &JobFilter,
    before: Option<&str>,
    limit: usize,
) -> Result<JobPage> {
    let index = keys::job_index();
    let state = filter.state.map(|s| s as i32);
    let (family, (begin, end)) = match (filter.dataflow.as_deref(), state) {
        (None, None) => (keys::jobs(), keys::jobs().range()),
        (Some(d), None) => (
            index.nested(&("dataflow", d)),
            index.range_of(&("dataflow", d)),
        ),
        (None, Some(s)) => (index.nested(&("state", s)), index.range_of(&("state", s))),
        (Some(d), Some(s)) => (
            index.nested(&("dataflow_state", d, s)),
            index.range_of(&("dataflow_state", d, s)),
        ),
    };
    let end = before.map_or(end, |id| family.key(&id));
    let rows = tx.get_range(&begin, &end, limit, true).await?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = family.unpack_id(&row.key).unwrap_or_default();
        // An index entry always has its record (both change in one transaction).
        if let Some(job) = get(tx, &id).await? {
            jobs.push(job);
        }
    }
    let next_cursor = (rows.len() == limit)
        .then(|| jobs.last().map(|j| j.id.clone()))
        .flatten();
    Ok(JobPage { jobs, next_cursor })
}

/// Jobs indexed per transaction when building the index of an older store.
const INDEX_BATCH: usize = 500;

/// Indexes the jobs that a store written before the job indexes holds, once:
/// every gateway calls it at start; after the first, it is one read.
pub async fn build_indexes(store: &crate::Store) -> Result<usize> {
    let marker = keys::job_index_built();
    let mut after: Option<Vec<u8>> = None;
    let mut indexed = 0;
    loop {
        let step = store
            .transact(|tx| {
                let (marker, after) = (marker.clone(), after.clone());
                async move {
                    if tx.get(&marker).await?.is_some() {
                        return Ok(None);
                    }
                    let (begin, end) = keys::jobs().range();
                    let begin = after.map_or(begin, |k| keys::Family::after(&k));
                    let batch: Vec<(Vec<u8>, JobRecord)> =
                        scan_records(&tx, (begin, end), INDEX_BATCH, false).await?;
                    for (_, job) in &batch {
                        for key in index_keys(job) {
                            tx.set(&key, &[]).await?;
                        }
                    }
                    if batch.len() < INDEX_BATCH {
                        tx.set(&marker, &[]).await?;
                    }
                    Ok(Some((batch.len(), batch.last().map(|(k, _)| k.clone()))))
                }
            })
            .await?;
        match step {
            None => return Ok(indexed),
            Some((count, last)) => {
                indexed += count;
                if count < INDEX_BATCH {
                    return Ok(indexed);
                }
                after = last;
            }
        }
    }
}

/// Jobs examined per purge transaction.
const PURGE_BATCH: usize = 500;

/// Deletes the finished jobs created before `cutoff_ms` (record, index entries,
/// idempotency key), oldest first, in transactions of [`PURGE_BATCH`]; jobs still
/// queued or running are kept whatever their age. Job ids sort by creation time, so
/// the scan stops at the first job created since. Answers how many it deleted.
pub async fn purge_finished_before(store: &crate::Store, cutoff_ms: i64) -> Result<usize> {
    let mut after: Option<Vec<u8>> = None;
    let mut purged = 0;
    loop {
        let (deleted, next) = store
            .transact_write(|tx| {
                let after = after.clone();
                async move { purge_batch(&tx, cutoff_ms, after).await }
            })
            .await?;
        purged += deleted;
        match next {
            Some(next) => after = Some(next),
            None => return Ok(purged),
        }
    }
}

/// One batch: answers the jobs deleted and where the next batch starts, if any.
async fn purge_batch(
    tx: &Tx,
    cutoff_ms: i64,
    after: Option<Vec<u8>>,
) -> Result<(usize, Option<Vec<u8>>)> {
    let (begin, end) = keys::jobs().range();
    let begin = after.map_or(begin, |k| keys::Family::after(&k));
    let batch: Vec<(Vec<u8>, JobRecord)> =
        scan_records(tx, (begin, end), PURGE_BATCH, false).await?;
    let mut deleted = 0;
    for (key, job) in &batch {
        if job.created_at_ms >= cutoff_ms {
            return Ok((deleted, None));
        }
        if !job.state().is_terminal() {
            continue;
        }
        for index in index_keys(job) {
            tx.clear(&index).await?;
        }
        if !job.idempotency_key.is_empty()
            && idempotent_job_id(tx, &job.idempotency_key)
                .await?
                .as_deref()
                == Some(&job.id)
        {
            tx.clear(&keys::idempotency().key(&job.idempotency_key.as_str()))
                .await?;
        }
        tx.clear(key).await?;
        deleted += 1;
    }
    let next = (batch.len() == PURGE_BATCH).then(|| batch.last().map(|(k, _)| k.clone()));
    Ok((deleted, next.flatten()))
}

pub async fn idempotent_job_id(tx: &Tx, key: &str) -> Result<Option<String>> {
    Ok(tx
        .get(&keys::idempotency().key(&key))
        .await?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

pub async fn remember_idempotency_key(tx: &Tx, key: &str, job_id: &str) -> Result<()> {
    tx.set(&keys::idempotency().key(&key), job_id.as_bytes())
        .await
}
