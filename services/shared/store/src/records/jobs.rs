use prism_schemas::v1::{JobRecord, JobState};

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::{KeyValue, Tx};

pub async fn get(tx: &Tx, id: &str) -> Result<Option<JobRecord>> {
    get_record(tx, &keys::jobs().key(&id)).await
}

pub async fn put(tx: &Tx, record: &JobRecord) -> Result<()> {
    put_record(tx, &keys::jobs().key(&record.id.as_str()), record).await
}

#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub dataflow: Option<String>,
}

impl JobFilter {
    fn matches(&self, job: &JobRecord) -> bool {
        self.state.is_none_or(|s| job.state() == s)
            && self.dataflow.as_deref().is_none_or(|d| job.dataflow == d)
    }
}

pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// The id to pass as `before` for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Jobs scanned per request at most, so a selective filter stays within a
/// transaction's time limit; the cursor lets the client go on.
const MAX_SCANNED: usize = 5_000;
const BATCH: usize = 500;

/// Newest first, starting before the job `before` (exclusive).
pub async fn list(
    tx: &Tx,
    filter: &JobFilter,
    before: Option<&str>,
    limit: usize,
) -> Result<JobPage> {
    let family = keys::jobs();
    let (begin, family_end) = family.range();
    let mut end = before.map_or(family_end, |id| family.key(&id));
    let mut jobs = Vec::new();
    let mut scanned = 0;
    loop {
        let batch: Vec<(Vec<u8>, JobRecord)> =
            scan_records(tx, (begin.clone(), end.clone()), BATCH, true).await?;
        let exhausted = batch.len() < BATCH;
        for (key, job) in batch {
            scanned += 1;
            end = key;
            if filter.matches(&job) {
                jobs.push(job);
                if jobs.len() == limit {
                    let next = jobs.last().map(|j| j.id.clone());
                    return Ok(JobPage {
                        jobs,
                        next_cursor: next,
                    });
                }
            }
        }
        if exhausted {
            return Ok(JobPage {
                jobs,
                next_cursor: None,
            });
        }
        if scanned >= MAX_SCANNED {
            let next = Some(job_id_of(&end));
            return Ok(JobPage {
                jobs,
                next_cursor: next,
            });
        }
    }
}

fn job_id_of(key: &[u8]) -> String {
    keys::jobs_unpack_id(key).unwrap_or_default()
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

/// Keeps the encoded run message until JetStream has acknowledged it, so that a
/// gateway crash between the commit and the publish loses nothing: the scheduler
/// republishes what stays pending (JetStream drops the duplicate by `Nats-Msg-Id`).
pub async fn put_pending_dispatch(tx: &Tx, job_id: &str, run_message: &[u8]) -> Result<()> {
    tx.set(&keys::pending_dispatch().key(&job_id), run_message)
        .await
}

pub async fn clear_pending_dispatch(tx: &Tx, job_id: &str) -> Result<()> {
    tx.clear(&keys::pending_dispatch().key(&job_id)).await
}

/// Pending run messages, oldest job first: `(job id, encoded JobRun)`.
pub async fn list_pending_dispatch(tx: &Tx, limit: usize) -> Result<Vec<(String, Vec<u8>)>> {
    let (begin, end) = keys::pending_dispatch().range();
    let rows: Vec<KeyValue> = tx.get_range(&begin, &end, limit, false).await?;
    Ok(rows
        .into_iter()
        .filter_map(|kv| keys::pending_unpack_id(&kv.key).map(|id| (id, kv.value)))
        .collect())
}

/// The pending run message of one job, if its dispatch has not finished.
pub async fn list_pending_dispatch_of(tx: &Tx, job_id: &str) -> Result<Option<Vec<u8>>> {
    tx.get(&keys::pending_dispatch().key(&job_id)).await
}
