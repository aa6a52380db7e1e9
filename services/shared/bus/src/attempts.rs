//! The fence between attempts of one job, in the JetStream bucket
//! `prism_job_attempts`: **the truth about a job once it is queued**. Its entry says
//! which attempt (delivery) owns the job, whether someone asked to cancel it, and,
//! once it finished, its outcome. The job record in the configuration database is
//! the audit service's projection of the job's events, never consulted to decide.
//!
//! Ownership is the attempt number in the entry. Every step that has an effect
//! (committing output, reporting an outcome) first proves it: it reads the entry and
//! writes it back with compare-and-set on the revision it read, so nothing slips in
//! between. A later delivery's claim replaces the number; and the
//! superseded attempt (its executor paused past the ack wait, then resumed) sees a
//! number that is not its own and stops. A cancel request sets a flag in the entry
//! (moving its revision); the owner sees it at its next check and stops. Cancelling a
//! job that no attempt claimed yet writes its outcome (`cancelled`) at once, so the
//! executor that later pulls its message acknowledges it without running it.
//!
//! A failed compare-and-set is told apart from a bus that is briefly unavailable by
//! reading the entry again: only an entry that moved on means "superseded" or
//! "cancel requested"; anything else is a retryable error.
//!
//! Reads are spared where the entry is known: a first delivery creates the entry
//! without reading it (creation fails if one exists), and an owner writes over the
//! revision it wrote last (the write fails if anything moved it). A wrong guess
//! costs one failed write and falls back to reading; the compare-and-set decides,
//! never the guess. So a job's fence costs two writes and no reads.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_nats::jetstream::kv;
use prism_schemas::v1::{JobAttempt, JobEvent, JobState};
use prost::Message;

use crate::error::{Error, Result};
use crate::subjects;
use crate::topology::Topology;
use crate::{Bus, decode};

/// What the bucket says about a job when a delivery arrives.
#[derive(Debug)]
pub enum Claim {
    /// This attempt owns the job now; a cancel may be pending already.
    Owned { cancel_requested: bool },
    /// The job finished earlier (or was cancelled while queued): its outcome, to
    /// report again.
    Finished(Box<JobEvent>),
    /// A later delivery owns the job.
    Lost,
}

/// The answer of an owner's check, renewal or finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The attempt still owns the job; someone may have asked to cancel it.
    Owner { cancel_requested: bool },
    /// Another attempt took over, or the job finished without this attempt.
    Superseded,
}

/// The answer to a cancel request.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// No attempt had claimed the job: it is cancelled now, with this terminal event.
    CancelledQueued(Box<JobEvent>),
    /// An attempt owns the job and will stop at its next check.
    Requested,
    /// The job finished already, in this state.
    AlreadyFinished(JobState),
}

/// Compare-and-set races a fence operation tolerates before it reports an error.
const MAX_RACES: usize = 8;

/// Entries this process wrote last, by job id, with their revision: what an
/// owner's next write assumes the entry still is. Bounded: past this many, the
/// guesses are dropped (each costs a read again).
const MAX_KNOWN: usize = 4096;

#[derive(Clone)]
pub struct Attempts {
    bucket: kv::Store,
    known: Arc<Mutex<HashMap<String, (JobAttempt, u64)>>>,
}

impl Attempts {
    pub async fn open(bus: &Bus, topology: &Topology) -> Result<Attempts> {
        let bucket = topology
            .bucket(&bus.jetstream, subjects::JOB_ATTEMPTS_BUCKET)
            .await?;
        Ok(Attempts {
            bucket,
            known: Arc::default(),
        })
    }

    /// The entry as this process last wrote it, if it remembers it.
    fn known(&self, job_id: &str) -> Option<(JobAttempt, u64)> {
        self.known.lock().expect("known lock").get(job_id).cloned()
    }

    fn remember(&self, job_id: &str, entry: Option<(JobAttempt, u64)>) {
        let mut known = self.known.lock().expect("known lock");
        match entry {
            Some(entry) => {
                if known.len() >= MAX_KNOWN {
                    known.clear();
                }
                known.insert(job_id.to_string(), entry);
            }
            None => {
                known.remove(job_id);
            }
        }
    }

    /// Job ids are UUIDs; anything else cannot be a bucket key or a subject token.
    pub fn check_job_id(job_id: &str) -> Result<()> {
        uuid::Uuid::parse_str(job_id)
            .map(drop)
            .map_err(|e| Error::Invalid {
                what: "job id",
                reason: format!(
                    "{:?} is not a UUID: {e}",
                    prism_errors::bounded_to(job_id, 100)
                ),
            })
    }

    async fn current(&self, job_id: &str) -> Result<Option<(JobAttempt, u64)>> {
        let entry = self
            .bucket
            .entry(job_id)
            .await
            .map_err(|e| Error::jetstream("read job attempt", e))?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        Ok(Some((decode::<JobAttempt>(&entry.value)?, entry.revision)))
    }

    /// Claims the job for `attempt`, unless it finished already or a later delivery
    /// owns it. A pending cancel request carries over to the new owner.
    pub async fn claim(&self, job_id: &str, attempt: &JobAttempt) -> Result<Claim> {
        Self::check_job_id(job_id)?;
        for race in 0..MAX_RACES {
            // A first delivery guesses there is no entry yet: the create checks it.
            let current = if race == 0 && attempt.attempt == 1 {
                None
            } else {
                self.current(job_id).await?
            };
            let mut mine = attempt.clone();
            let written = match &current {
                Some((existing, _)) if existing.outcome.is_some() => {
                    return Ok(Claim::Finished(Box::new(
                        existing.outcome.clone().unwrap_or_default(),
                    )));
                }
                Some((existing, _)) if existing.attempt > attempt.attempt => {
                    return Ok(Claim::Lost);
                }
                Some((existing, revision)) => {
                    mine.cancel_requested = existing.cancel_requested;
                    mine.cancel_requested_by = existing.cancel_requested_by.clone();
                    self.bucket
                        .update(job_id, mine.encode_to_vec().into(), *revision)
                        .await
                        .map_err(|e| Error::jetstream("claim job", e))
                }
                None => self
                    .bucket
                    .create(job_id, mine.encode_to_vec().into())
                    .await
                    .map_err(|e| Error::jetstream("claim job", e)),
            };
            match written {
                Ok(revision) => {
                    let cancel_requested = mine.cancel_requested;
                    self.remember(job_id, Some((mine, revision)));
                    return Ok(Claim::Owned { cancel_requested });
                }
                // The entry moved between our read and write: decide again.
                Err(_) if self.revision(job_id).await? != current.map(|(_, r)| r) => {}
                Err(error) => return Err(error),
            }
        }
        Err(raced("claim job"))
    }

    async fn revision(&self, job_id: &str) -> Result<Option<u64>> {
        Ok(self
            .bucket
            .entry(job_id)
            .await
            .map_err(|e| Error::jetstream("read job attempt", e))?
            .map(|entry| entry.revision))
    }

    /// The entry, if `attempt` still owns the job (it is the entry's attempt and no
    /// outcome is recorded).
    async fn owned_entry(&self, job_id: &str, attempt: u32) -> Result<Option<(JobAttempt, u64)>> {
        Ok(self
            .current(job_id)
            .await?
            .filter(|(entry, _)| entry.attempt == attempt && entry.outcome.is_none()))
    }

    /// Where `attempt` stands now (one read): owner, and whether a cancel was
    /// requested; or superseded.
    pub async fn check(&self, job_id: &str, attempt: u32) -> Result<Standing> {
        Ok(match self.owned_entry(job_id, attempt).await? {
            Some((entry, _)) => Standing::Owner {
                cancel_requested: entry.cancel_requested,
            },
            None => Standing::Superseded,
        })
    }

    /// Re-writes the claim with compare-and-set, proving ownership right before an
    /// effect. A cancel request that arrived meanwhile is reported, not overwritten.
    pub async fn renew(&self, job_id: &str, claim: &JobAttempt) -> Result<Standing> {
        self.write_as_owner(job_id, claim).await
    }

    /// Records the outcome with compare-and-set. `Superseded`: report nothing.
    pub async fn finish(
        &self,
        job_id: &str,
        claim: &JobAttempt,
        outcome: &JobEvent,
    ) -> Result<Standing> {
        let mut finished = claim.clone();
        finished.outcome = Some(outcome.clone());
        self.write_as_owner(job_id, &finished).await
    }

    /// Writes `value` if its attempt owns the job, with compare-and-set on the
    /// revision just read, so nothing can slip in between the check and the write.
    async fn write_as_owner(&self, job_id: &str, value: &JobAttempt) -> Result<Standing> {
        for race in 0..MAX_RACES {
            let known = if race == 0 {
                self.known(job_id)
                    .filter(|(entry, _)| entry.attempt == value.attempt && entry.outcome.is_none())
            } else {
                None
            };
            let owned = match known {
                Some(known) => Some(known),
                None => self.owned_entry(job_id, value.attempt).await?,
            };
            let Some((entry, revision)) = owned else {
                self.remember(job_id, None);
                return Ok(Standing::Superseded);
            };
            let standing = Standing::Owner {
                cancel_requested: entry.cancel_requested,
            };
            if entry.cancel_requested && value.outcome.is_none() {
                return Ok(standing);
            }
            let mut value = value.clone();
            value.cancel_requested = entry.cancel_requested;
            value.cancel_requested_by = entry.cancel_requested_by;
            let written = self
                .bucket
                .update(job_id, value.encode_to_vec().into(), revision)
                .await;
            match written {
                Ok(revision) => {
                    // A finished job's entry is not written by this attempt again.
                    let next = value.outcome.is_none().then_some((value, revision));
                    self.remember(job_id, next);
                    return Ok(standing);
                }
                Err(_) if self.revision(job_id).await? != Some(revision) => {}
                Err(error) => return Err(Error::jetstream("renew job claim", error)),
            }
        }
        Err(raced("renew job claim"))
    }

    /// Asks for the job to be cancelled on behalf of `actor`. `cancelled` is the
    /// terminal event to record if no attempt claimed the job yet.
    pub async fn request_cancel(
        &self,
        job_id: &str,
        cancelled: &JobEvent,
        actor: &str,
    ) -> Result<CancelOutcome> {
        Self::check_job_id(job_id)?;
        for _ in 0..MAX_RACES {
            let current = self.current(job_id).await?;
            let (value, written) = match &current {
                Some((entry, _)) if entry.outcome.is_some() => {
                    let state = entry
                        .outcome
                        .as_ref()
                        .map(JobEvent::state)
                        .unwrap_or_default();
                    return Ok(CancelOutcome::AlreadyFinished(state));
                }
                Some((entry, _)) if entry.cancel_requested => return Ok(CancelOutcome::Requested),
                Some((entry, revision)) => {
                    let mut value = entry.clone();
                    value.cancel_requested = true;
                    value.cancel_requested_by = actor.to_string();
                    let written = self
                        .bucket
                        .update(job_id, value.encode_to_vec().into(), *revision)
                        .await;
                    (
                        value,
                        written.map_err(|e| Error::jetstream("request cancel", e)),
                    )
                }
                None => {
                    let value = JobAttempt {
                        attempt: 0,
                        outcome: Some(cancelled.clone()),
                        cancel_requested: true,
                        cancel_requested_by: actor.to_string(),
                        ..Default::default()
                    };
                    let written = self
                        .bucket
                        .create(job_id, value.encode_to_vec().into())
                        .await;
                    (
                        value,
                        written.map_err(|e| Error::jetstream("request cancel", e)),
                    )
                }
            };
            match written {
                Ok(_) => {
                    return Ok(match value.outcome {
                        Some(event) => CancelOutcome::CancelledQueued(Box::new(event)),
                        None => CancelOutcome::Requested,
                    });
                }
                Err(_) if self.revision(job_id).await? != current.map(|(_, r)| r) => {}
                Err(error) => return Err(error),
            }
        }
        Err(raced("request cancel"))
    }
}

fn raced(operation: &'static str) -> Error {
    Error::jetstream(operation, "the entry kept changing; try again")
}
