use prism_schemas::v1::{JobRecord, JobState};

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

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
