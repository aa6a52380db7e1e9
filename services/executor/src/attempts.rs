//! The fence between attempts of one job, in the JetStream bucket
//! `prism_job_attempts`. An attempt owns the job while the bucket entry's revision is
//! the one it wrote; every step that has an effect (committing output, reporting an
//! outcome) first proves that with a compare-and-set. A superseded attempt (its
//! executor paused past the ack wait, then resumed) fails that check and stops.
//!
//! A failed compare-and-set is told apart from a bus that is briefly unavailable by
//! reading the entry again: only a revision that moved on means "superseded"; anything
//! else is an error the caller retries.
use async_nats::jetstream::kv;
use prism_schemas::v1::{JobAttempt, JobEvent};
use prost::Message;

/// What the bucket says about a job when a delivery arrives.
pub enum Claim {
    /// This attempt owns the job now, at this revision.
    Owned(u64),
    /// The job finished earlier: its outcome, to report again.
    Finished(JobEvent),
    /// Another delivery claimed it between our read and write.
    Lost,
}

pub struct Attempts {
    pub bucket: kv::Store,
}

impl Attempts {
    async fn current(&self, job_id: &str) -> anyhow::Result<Option<(JobAttempt, u64)>> {
        let Some(entry) = self.bucket.entry(job_id).await? else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        Ok(Some((JobAttempt::decode(entry.value)?, entry.revision)))
    }

    async fn revision(&self, job_id: &str) -> anyhow::Result<Option<u64>> {
        Ok(self.bucket.entry(job_id).await?.map(|entry| entry.revision))
    }

    /// Claims the job for `attempt`, unless it finished already.
    pub async fn claim(&self, job_id: &str, attempt: &JobAttempt) -> anyhow::Result<Claim> {
        let value = attempt.encode_to_vec().into();
        let (written, seen): (anyhow::Result<u64>, _) = match self.current(job_id).await? {
            Some((existing, _)) if existing.outcome.is_some() => {
                return Ok(Claim::Finished(existing.outcome.unwrap_or_default()));
            }
            // A later delivery owns the job: this one is stale (its executor stalled past
            // the ack wait) and must not take the job back.
            Some((existing, _)) if existing.attempt > attempt.attempt => {
                return Ok(Claim::Lost);
            }
            Some((_, revision)) => (
                self.bucket
                    .update(job_id, value, revision)
                    .await
                    .map_err(Into::into),
                Some(revision),
            ),
            None => (
                self.bucket.create(job_id, value).await.map_err(Into::into),
                None,
            ),
        };
        match written {
            Ok(revision) => Ok(Claim::Owned(revision)),
            Err(error) if self.revision(job_id).await? != seen => {
                tracing::debug!(
                    error = format!("{error:#}"),
                    "claim lost to another delivery"
                );
                Ok(Claim::Lost)
            }
            Err(error) => Err(error.context("claim not recorded")),
        }
    }

    /// Whether `revision` is still the job's current entry (cheap read).
    pub async fn still_owned(&self, job_id: &str, revision: u64) -> anyhow::Result<bool> {
        Ok(self.revision(job_id).await? == Some(revision))
    }

    /// Re-writes the claim with compare-and-set. `Ok(None)`: another attempt took
    /// over. Otherwise the new revision.
    pub async fn renew(
        &self,
        job_id: &str,
        attempt: &JobAttempt,
        revision: u64,
    ) -> anyhow::Result<Option<u64>> {
        match self
            .bucket
            .update(job_id, attempt.encode_to_vec().into(), revision)
            .await
        {
            Ok(renewed) => Ok(Some(renewed)),
            Err(_) if !self.still_owned(job_id, revision).await? => Ok(None),
            Err(error) => Err(anyhow::Error::new(error).context("claim not renewed")),
        }
    }

    /// Records the outcome with compare-and-set. `Ok(false)`: superseded, report nothing.
    pub async fn finish(
        &self,
        job_id: &str,
        attempt: &JobAttempt,
        outcome: &JobEvent,
        revision: u64,
    ) -> anyhow::Result<bool> {
        let mut finished = attempt.clone();
        finished.outcome = Some(outcome.clone());
        Ok(self.renew(job_id, &finished, revision).await?.is_some())
    }
}
