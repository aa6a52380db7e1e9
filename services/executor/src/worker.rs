//! One delivery of a job: claim it, run it, commit its output, report its outcome,
//! and only then acknowledge it.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, kv};
use prism_bus::{Bus, subjects};
use prism_schemas::v1::{JobAttempt, JobEvent, JobRun, JobState};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::attempts::{Attempts, Claim};
use crate::engine::{self, EngineError, RunSpec};

/// Shared by every job an executor runs.
pub struct Worker {
    pub bus: Bus,
    pub attempts: Attempts,
    pub cancels: kv::Store,
    pub node_id: String,
    /// How often a running job tells JetStream it is alive (`+WPI`) and checks that it
    /// still owns the job and was not cancelled.
    pub heartbeat: Duration,
    /// Delay before a retryable failure is delivered again.
    pub retry_delay: Duration,
}

/// How long one delivery keeps retrying bus operations before giving the job back.
const TRANSIENT_RETRY_FOR: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Worker {
    pub async fn handle(self: Arc<Self>, message: jetstream::Message) {
        let attempt = message
            .info()
            .map(|i| i.delivered.max(1) as u32)
            .unwrap_or(1);
        let run = match prism_bus::decode::<JobRun>(&message.payload) {
            Ok(run) => run,
            Err(error) => {
                // Nothing can ever run it; terminate so it is not redelivered forever.
                tracing::error!(%error, "undecodable job run message terminated");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let span = tracing::info_span!("job", job_id = %run.job_id, attempt);
        prism_telemetry::adopt_trace_context(&span, message.headers.as_ref());
        self.run_delivery(message, run, attempt)
            .instrument(span)
            .await;
    }

    async fn run_delivery(&self, message: jetstream::Message, run: JobRun, attempt: u32) {
        let claim = JobAttempt {
            attempt,
            executor: self.node_id.clone(),
            started_at_ms: now_ms(),
            outcome: None,
        };
        let claimed = self
            .persist(&message, "claim the job", || {
                self.attempts.claim(&run.job_id, &claim)
            })
            .await;
        let revision = match claimed {
            Some(Claim::Owned(revision)) => revision,
            Some(Claim::Finished(outcome)) => {
                // Finished before, but the acknowledgement was lost: report it again
                // (de-duplicated downstream) and acknowledge.
                tracing::info!("job finished earlier; acknowledging redelivery");
                let reported = self
                    .persist(&message, "report the outcome", || {
                        self.publish_event(&outcome)
                    })
                    .await;
                if reported.is_some() {
                    let _ = message.double_ack().await;
                }
                return;
            }
            Some(Claim::Lost) => {
                tracing::info!("another attempt claimed the job");
                return;
            }
            None => return,
        };
        let mut event = JobEvent {
            job_id: run.job_id.clone(),
            attempt,
            dataflow: run.dataflow.clone(),
            dataflow_version: run.dataflow_version,
            created_at_ms: run.created_at_ms,
            started_at_ms: claim.started_at_ms,
            executor: self.node_id.clone(),
            ..Default::default()
        };
        let max_attempts = run.max_attempts.max(1);
        if attempt > max_attempts {
            tracing::warn!(max_attempts, "job dead-lettered");
            event.error = format!(
                "dead-lettered after {max_attempts} attempts: no attempt finished (executor lost, or the job outlived its ack wait)"
            );
            self.finish(&message, &claim, revision, event, JobState::Failed, None)
                .await;
            return;
        }
        if self.cancel_requested(&run.job_id).await {
            self.finish(&message, &claim, revision, event, JobState::Cancelled, None)
                .await;
            return;
        }
        event.state = JobState::Running as i32;
        event.occurred_at_ms = now_ms();
        event.event_id =
            subjects::job_event_id(&run.job_id, attempt, JobState::Running.event_kind());
        let started = self
            .persist(&message, "report the start", || self.publish_event(&event))
            .await;
        if started.is_none() {
            return;
        }
        tracing::info!("job started");

        let stop = CancellationToken::new();
        let watch = self.watch(&message, &run.job_id, revision, stop.clone());
        let outcome = run_dataflow(&run, attempt, &stop).await;
        let interrupted = watch.finish().await;
        match (interrupted, outcome) {
            (Some(Interrupt::Superseded), Ok(outcome)) => {
                outcome.outputs.discard();
                tracing::warn!("attempt superseded; output discarded");
            }
            (Some(Interrupt::Superseded), Err(_)) => tracing::warn!("attempt superseded"),
            (_, Ok(outcome)) => {
                event.rows_read = outcome.rows_read;
                event.rows_written = outcome.rows_written;
                self.finish(
                    &message,
                    &claim,
                    revision,
                    event,
                    JobState::Succeeded,
                    Some(outcome.outputs),
                )
                .await;
            }
            (_, Err(EngineError::Cancelled)) => {
                self.finish(&message, &claim, revision, event, JobState::Cancelled, None)
                    .await;
            }
            (_, Err(EngineError::Terminal(error))) => {
                event.error = error;
                self.finish(&message, &claim, revision, event, JobState::Failed, None)
                    .await;
            }
            (_, Err(EngineError::Retryable(error))) if attempt < max_attempts => {
                tracing::warn!(%error, "attempt failed; the job will be retried");
                let _ = message.ack_with(AckKind::Nak(Some(self.retry_delay))).await;
            }
            (_, Err(EngineError::Retryable(error))) => {
                event.error = format!("failed after {attempt} attempts: {error}");
                self.finish(&message, &claim, revision, event, JobState::Failed, None)
                    .await;
            }
        }
    }

    /// Commits output (if any), records the outcome in the attempt bucket, reports it,
    /// then acknowledges: a crash anywhere before the acknowledgement means a
    /// redelivery, which finds the outcome or repeats the attempt.
    async fn finish(
        &self,
        message: &jetstream::Message,
        claim: &JobAttempt,
        revision: u64,
        mut event: JobEvent,
        state: JobState,
        outputs: Option<engine::StagedOutputs>,
    ) {
        let job_id = event.job_id.clone();
        let mut revision = revision;
        if let Some(outputs) = outputs {
            // Prove ownership right before the rename; a superseded attempt stops here.
            let renewed = self
                .persist(message, "renew the claim", || {
                    self.attempts.renew(&job_id, claim, revision)
                })
                .await;
            match renewed {
                Some(Some(renewed)) => revision = renewed,
                Some(None) => {
                    outputs.discard();
                    tracing::warn!("attempt superseded before commit; output discarded");
                    return;
                }
                None => {
                    outputs.discard();
                    return;
                }
            }
            if let Err(error) = outputs.commit() {
                tracing::warn!(%error, "cannot commit output; the job will be retried");
                let _ = message.ack_with(AckKind::Nak(Some(self.retry_delay))).await;
                return;
            }
        }
        event.state = state as i32;
        event.finished_at_ms = now_ms();
        event.occurred_at_ms = event.finished_at_ms;
        event.event_id = subjects::job_event_id(&job_id, event.attempt, state.event_kind());
        let recorded = self
            .persist(message, "record the outcome", || {
                self.attempts.finish(&job_id, claim, &event, revision)
            })
            .await;
        match recorded {
            Some(true) => {}
            Some(false) => {
                tracing::warn!("attempt superseded; outcome not reported");
                return;
            }
            None => return,
        }
        let reported = self
            .persist(message, "report the outcome", || self.publish_event(&event))
            .await;
        if reported.is_some() {
            let _ = message.double_ack().await;
            tracing::info!(state = state.api_name(), error = %event.error, "job finished");
        }
        // Not reported: no acknowledgement, so the redelivery reports the stored outcome.
    }

    async fn publish_event(&self, event: &JobEvent) -> anyhow::Result<()> {
        let subject = subjects::job_event(&event.job_id, event.state().event_kind());
        self.bus
            .publish_durable(subject, &event.event_id, event)
            .await?;
        Ok(())
    }

    /// Retries `operation` while the bus is briefly unavailable (a NATS node lost, a
    /// stream electing a new leader), heartbeating the delivery meanwhile. A nak
    /// instead would count as an attempt, and a few of them would dead-letter a
    /// healthy job. `None` once [`TRANSIENT_RETRY_FOR`] has passed: the delivery is
    /// left unacknowledged and comes back after its ack wait.
    async fn persist<T, Fut>(
        &self,
        message: &jetstream::Message,
        what: &str,
        mut operation: impl FnMut() -> Fut,
    ) -> Option<T>
    where
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let deadline = Instant::now() + TRANSIENT_RETRY_FOR;
        let mut delay = Duration::from_millis(200);
        loop {
            match operation().await {
                Ok(value) => return Some(value),
                Err(error) if Instant::now() < deadline => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        what,
                        "bus unavailable; retrying"
                    );
                    let _ = message.ack_with(AckKind::Progress).await;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(error) => {
                    tracing::error!(
                        error = format!("{error:#}"),
                        what,
                        "bus unavailable; job left for redelivery"
                    );
                    return None;
                }
            }
        }
    }

    async fn cancel_requested(&self, job_id: &str) -> bool {
        matches!(self.cancels.get(job_id).await, Ok(Some(_)))
    }

    /// Heartbeats for a running attempt; stops the run when the job is cancelled or
    /// the attempt is superseded.
    fn watch(
        &self,
        message: &jetstream::Message,
        job_id: &str,
        revision: u64,
        stop: CancellationToken,
    ) -> Watch {
        let (message, job_id) = (message.clone(), job_id.to_string());
        let (attempts, cancels) = (self.attempts.bucket.clone(), self.cancels.clone());
        let period = self.heartbeat;
        let done = CancellationToken::new();
        let done_signal = done.clone();
        let task = tokio::spawn(async move {
            let attempts = Attempts { bucket: attempts };
            loop {
                tokio::select! {
                    () = done_signal.cancelled() => return None,
                    () = tokio::time::sleep(period) => {}
                }
                let _ = message.ack_with(AckKind::Progress).await;
                if let Ok(false) = attempts.still_owned(&job_id, revision).await {
                    stop.cancel();
                    return Some(Interrupt::Superseded);
                }
                if matches!(cancels.get(&job_id).await, Ok(Some(_))) {
                    stop.cancel();
                    return Some(Interrupt::Cancelled);
                }
            }
        });
        Watch { done, task }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Interrupt {
    Superseded,
    Cancelled,
}

struct Watch {
    done: CancellationToken,
    task: tokio::task::JoinHandle<Option<Interrupt>>,
}

impl Watch {
    async fn finish(self) -> Option<Interrupt> {
        self.done.cancel();
        self.task.await.ok().flatten()
    }
}

async fn run_dataflow(
    run: &JobRun,
    attempt: u32,
    stop: &CancellationToken,
) -> Result<engine::RunOutcome, EngineError> {
    let dataflow =
        prism_dataflow::validate::from_stored(&run.dataflow_document).map_err(|problems| {
            EngineError::Terminal(format!(
                "invalid dataflow document: {}",
                problems.first().map_or("", |p| p.message.as_str())
            ))
        })?;
    let parameters = run.parameters.clone().into_iter().collect();
    engine::run(
        RunSpec {
            dataflow: &dataflow,
            connections: &run.connections,
            parameters: &parameters,
            job_id: &run.job_id,
            attempt,
        },
        stop,
    )
    .await
}
