//! One delivery of a job: claim it, run it, commit its output, report its outcome,
//! and only then acknowledge it. The attempt bucket ([`prism_bus::attempts`]) is the
//! truth about the job throughout; this module only acts on what it says.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use prism_bus::attempts::{Attempts, Claim, Standing};
use prism_bus::{Bus, subjects};
use prism_errors::{Retryable, bounded};
use prism_schemas::v1::{JobAttempt, JobEvent, JobRun, JobState, RunRejected};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::{self, EngineError};
use crate::jobs;
use crate::jobs::log::{JobLog, Level};
use crate::jobs::outages::through_outages;

/// Shared by every job an executor runs.
pub struct Worker {
    pub bus: Bus,
    pub attempts: Attempts,
    pub node_id: String,
    /// How often a running job tells JetStream it is alive (`+WPI`) and checks that it
    /// still owns the job and was not cancelled.
    pub heartbeat: Duration,
    /// Delay before a retryable failure is delivered again.
    pub retry_delay: Duration,
    /// What jobs may touch and take.
    pub confinement: Arc<engine::Confinement>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Worker {
    pub async fn handle(self: Arc<Self>, message: jetstream::Message) {
        let attempt = message
            .info()
            .map(|i| i.delivered.max(1) as u32)
            .unwrap_or(1);
        let run = match readable_run(&message) {
            Ok(run) => run,
            Err((job_id, error)) => return self.reject(&message, &job_id, &error).await,
        };
        if attempt > 1 {
            prism_metrics::get().job_redelivered();
        }
        let span = tracing::info_span!(
            "job",
            job_id = %run.job_id,
            dataflow = run.dataflow.as_str(),
            attempt
        );
        prism_telemetry::adopt_trace_context(&span, message.headers.as_ref());
        let claim = JobAttempt {
            attempt,
            executor: self.node_id.clone(),
            started_at_ms: now_ms(),
            ..Default::default()
        };
        let log = JobLog::new(&self.bus, &run.job_id, attempt, &self.node_id);
        let delivery = Delivery {
            worker: &self,
            message,
            run,
            claim,
            log,
        };
        delivery.run().instrument(span).await;
    }

    /// Terminates a message no executor can ever run, after reporting it once on
    /// `prism.events.run.rejected` (the audit log's `job.rejected`).
    async fn reject(&self, message: &jetstream::Message, job_id: &str, reason: &str) {
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        tracing::error!(job_id, reason, sequence, "job run rejected");
        let event = RunRejected {
            event_id: format!("rejected.{sequence}"),
            job_id: prism_errors::bounded_to(job_id, 100),
            reason: bounded(reason),
            executor: self.node_id.clone(),
            stream_sequence: sequence,
            payload_bytes: message.payload.len() as u64,
            occurred_at_ms: now_ms(),
        };
        let published = through_outages(message, "report the rejection", || {
            self.bus
                .publish_durable(subjects::RUN_REJECTED.into(), &event.event_id, &event)
        })
        .await;
        if published.is_ok() {
            let _ = message.ack_with(AckKind::Term).await;
        }
    }
}

/// The run message, if it decodes and names a job id that can be one; otherwise
/// the id it names (if any) and why it can never run.
fn readable_run(message: &jetstream::Message) -> Result<JobRun, (String, String)> {
    let run = prism_bus::decode::<JobRun>(&message.payload)
        .map_err(|e| (String::new(), e.to_string()))?;
    match Attempts::check_job_id(&run.job_id) {
        Ok(()) => Ok(run),
        Err(error) => Err((run.job_id, error.to_string())),
    }
}

/// A delivery stopped before its acknowledgement: either the bus stayed unavailable
/// (the delivery comes back after its ack wait) or a permanent error rejected the
/// message (terminated and reported). The caller does the same in both cases: stop.
struct Stopped;

/// One delivery of a job, from its claim to its acknowledgement.
struct Delivery<'a> {
    worker: &'a Worker,
    message: jetstream::Message,
    run: JobRun,
    claim: JobAttempt,
    /// The job's own log, for its operators (`GET /v1/jobs/{id}/logs`).
    log: JobLog,
}

impl Delivery<'_> {
    async fn run(self) {
        let cancel_requested = match self.take_claim().await {
            Ok(Some(cancel_requested)) => cancel_requested,
            Ok(None) | Err(_) => return,
        };
        let mut event = self.event();
        let (attempt, max_attempts) = (self.claim.attempt, self.run.max_attempts.max(1));
        if attempt > max_attempts {
            tracing::warn!(max_attempts, "job dead-lettered");
            prism_metrics::get().dead_lettered("job");
            event.error = format!(
                "dead-lettered after {max_attempts} attempts: no attempt finished (executor lost, or the job outlived its ack wait)"
            );
            return self.finish(event, JobState::Failed, None).await;
        }
        if cancel_requested {
            return self.finish(event, JobState::Cancelled, None).await;
        }
        // Secrets open here, before `started`, so the event that says the job runs
        // also says which secret versions it uses (the audit log keeps it).
        let remotes =
            match engine::remote::Remotes::open(&self.run.connections, &self.worker.confinement)
                .await
            {
                Ok(remotes) => remotes,
                Err(error) if error.retryable() && attempt < max_attempts => {
                    tracing::warn!(%error, "connections not opened; the job will be retried");
                    return self.nak().await;
                }
                Err(error) => {
                    event.error = bounded(&error.to_string());
                    return self.finish(event, JobState::Failed, None).await;
                }
            };
        event.secrets_used = remotes.secrets_used();
        if self.report_start(&mut event).await.is_err() {
            return;
        }
        tracing::info!("job started");
        let message = format!("attempt {attempt} started");
        self.log.line(Level::Info, None, &message, json!({})).await;
        let _running = prism_metrics::Running::start();
        let waited = (self.claim.started_at_ms - self.run.created_at_ms).max(0);
        prism_metrics::get().job_started(Duration::from_millis(waited as u64));
        let stop = CancellationToken::new();
        let watch = self.watch(stop.clone());
        let ran = jobs::run_message(
            &self.run,
            attempt,
            &self.worker.confinement,
            &remotes,
            &self.log,
            &stop,
        )
        .await;
        event.secrets_used.clear();
        let interrupted = watch.finish().await;
        event.stages = ran.stages;
        self.conclude(event, interrupted, ran.result).await;
    }

    /// `Some(cancel requested)` once this attempt owns the job; `None` when it is not
    /// this delivery's to run (finished earlier, or a later delivery owns it).
    async fn take_claim(&self) -> Result<Option<bool>, Stopped> {
        let job_id = &self.run.job_id;
        let claimed = self
            .through_outages("claim the job", || {
                self.worker.attempts.claim(job_id, &self.claim)
            })
            .await?;
        match claimed {
            Claim::Owned { cancel_requested } => Ok(Some(cancel_requested)),
            Claim::Finished(outcome) => {
                // Finished before (or cancelled while queued), but not acknowledged:
                // report it again (de-duplicated downstream) and acknowledge.
                tracing::info!(
                    state = outcome.state().api_name(),
                    "job finished earlier; acknowledging redelivery"
                );
                self.through_outages("report the outcome", || self.publish_event(&outcome))
                    .await?;
                let _ = self.message.double_ack().await;
                Ok(None)
            }
            Claim::Lost => {
                tracing::info!("another attempt claimed the job");
                Ok(None)
            }
        }
    }

    /// The event every report of this attempt starts from.
    fn event(&self) -> JobEvent {
        JobEvent {
            job_id: self.run.job_id.clone(),
            attempt: self.claim.attempt,
            dataflow: self.run.dataflow.clone(),
            dataflow_version: self.run.dataflow_version,
            created_at_ms: self.run.created_at_ms,
            started_at_ms: self.claim.started_at_ms,
            executor: self.worker.node_id.clone(),
            actor: self.run.actor.clone(),
            ..Default::default()
        }
    }

    async fn report_start(&self, event: &mut JobEvent) -> Result<(), Stopped> {
        event.state = JobState::Running as i32;
        event.occurred_at_ms = now_ms();
        event.event_id =
            subjects::job_event_id(&event.job_id, event.attempt, JobState::Running.event_kind());
        self.through_outages("report the start", || self.publish_event(event))
            .await
    }

    /// Decides the outcome of a run the watch may have interrupted.
    async fn conclude(
        &self,
        mut event: JobEvent,
        interrupted: Option<Interrupt>,
        outcome: Result<jobs::RunOutcome, EngineError>,
    ) {
        let (attempt, max_attempts) = (self.claim.attempt, self.run.max_attempts.max(1));
        match (interrupted, outcome) {
            (Some(Interrupt::Superseded), outcome) => {
                if let Ok(outcome) = outcome {
                    outcome.outputs.discard();
                }
                tracing::warn!("attempt superseded; nothing committed or reported");
            }
            (_, Ok(outcome)) => {
                event.rows_read = outcome.rows_read;
                event.rows_written = outcome.rows_written;
                self.finish(event, JobState::Succeeded, Some(outcome.outputs))
                    .await;
            }
            (_, Err(EngineError::Cancelled)) => {
                self.finish(event, JobState::Cancelled, None).await;
            }
            (_, Err(error)) if error.retryable() && attempt < max_attempts => {
                tracing::warn!(%error, "attempt failed; the job will be retried");
                let message = format!("attempt {attempt} failed; the job will be retried: {error}");
                self.log.line(Level::Warn, None, &message, json!({})).await;
                self.nak().await;
            }
            (_, Err(error)) => {
                event.error = if error.retryable() {
                    bounded(&format!("failed after {attempt} attempts: {error}"))
                } else {
                    bounded(&error.to_string())
                };
                self.finish(event, JobState::Failed, None).await;
            }
        }
    }

    /// Commits output (if any), records the outcome in the attempt bucket, reports it,
    /// then acknowledges: a crash anywhere before the acknowledgement means a
    /// redelivery, which finds the outcome or repeats the attempt.
    async fn finish(
        &self,
        mut event: JobEvent,
        state: JobState,
        outputs: Option<jobs::StagedOutputs>,
    ) {
        let mut state = state;
        // With nothing to make visible there is no effect to fence: the outcome's
        // own compare-and-set below proves ownership.
        if let Some(outputs) = outputs.filter(|o| !o.is_empty()) {
            match self.commit(outputs).await {
                Ok(Commit::Done) => {}
                Ok(Commit::Cancelled) => state = JobState::Cancelled,
                Err(_) => return,
            }
        }
        let job_id = event.job_id.clone();
        event.state = state as i32;
        event.finished_at_ms = now_ms();
        event.occurred_at_ms = event.finished_at_ms;
        event.event_id = subjects::job_event_id(&job_id, event.attempt, state.event_kind());
        let recorded = self
            .through_outages("record the outcome", || {
                self.worker.attempts.finish(&job_id, &self.claim, &event)
            })
            .await;
        match recorded {
            Ok(Standing::Owner { .. }) => self.log_end(&event, state).await,
            Ok(Standing::Superseded) => {
                tracing::warn!("attempt superseded; outcome not reported");
                return;
            }
            Err(_) => return,
        }
        // Not reported: no acknowledgement, so the redelivery reports the stored outcome.
        if self
            .through_outages("report the outcome", || self.publish_event(&event))
            .await
            .is_ok()
        {
            // Not waited for: a lost acknowledgement means a redelivery, which finds
            // the outcome in the bucket and reports it again (de-duplicated).
            let _ = self.message.ack().await;
            tracing::info!(state = state.api_name(), error = %event.error, "job finished");
            let ran = (event.finished_at_ms - event.started_at_ms).max(0) as u64;
            prism_metrics::get().job_finished(
                state.api_name(),
                Duration::from_millis(ran),
                (event.rows_read, event.rows_written),
            );
        }
    }

    /// Proves ownership right before renaming the output into place; a superseded
    /// or cancelled attempt discards it instead.
    async fn commit(&self, outputs: jobs::StagedOutputs) -> Result<Commit, Stopped> {
        let job_id = &self.run.job_id;
        let renewed = self
            .through_outages("renew the claim", || {
                self.worker.attempts.renew(job_id, &self.claim)
            })
            .await;
        match renewed {
            Ok(Standing::Owner {
                cancel_requested: false,
            }) => {}
            Ok(Standing::Owner {
                cancel_requested: true,
            }) => {
                outputs.discard();
                return Ok(Commit::Cancelled);
            }
            Ok(Standing::Superseded) => {
                outputs.discard();
                tracing::warn!("attempt superseded before commit; output discarded");
                return Err(Stopped);
            }
            Err(stopped) => {
                outputs.discard();
                return Err(stopped);
            }
        }
        if let Err(error) = outputs.commit().await {
            tracing::warn!(%error, "cannot commit output; the job will be retried");
            self.nak().await;
            return Err(Stopped);
        }
        Ok(Commit::Done)
    }

    /// The job's last log line, told before its terminal event: whoever follows
    /// the log until the job ends has read it.
    async fn log_end(&self, event: &JobEvent, state: JobState) {
        let (level, message) = match state {
            JobState::Succeeded => (Level::Info, format!("job {}", state.api_name())),
            _ if event.error.is_empty() => (Level::Warn, format!("job {}", state.api_name())),
            _ => (
                Level::Error,
                format!("job {}: {}", state.api_name(), event.error),
            ),
        };
        let fields = json!({
            "end": true,
            "status": state.api_name(),
            "rows_read": event.rows_read,
            "rows_written": event.rows_written,
        });
        self.log.line(level, None, &message, fields).await;
    }

    async fn nak(&self) {
        let _ = self
            .message
            .ack_with(AckKind::Nak(Some(self.worker.retry_delay)))
            .await;
    }

    async fn publish_event(&self, event: &JobEvent) -> Result<(), prism_bus::Error> {
        let subject = subjects::job_event(&event.job_id, event.state().event_kind());
        self.worker
            .bus
            .publish_durable(subject, &event.event_id, event)
            .await
            .map(drop)
    }

    /// [`through_outages`] for this delivery; a permanent error rejects the message.
    async fn through_outages<T, Fut>(
        &self,
        what: &str,
        operation: impl FnMut() -> Fut,
    ) -> Result<T, Stopped>
    where
        Fut: Future<Output = Result<T, prism_bus::Error>>,
    {
        match through_outages(&self.message, what, operation).await {
            Ok(value) => Ok(value),
            Err(error) if error.retryable() => Err(Stopped),
            Err(error) => {
                self.worker
                    .reject(
                        &self.message,
                        &self.run.job_id,
                        &format!("cannot {what}: {error}"),
                    )
                    .await;
                Err(Stopped)
            }
        }
    }

    /// Heartbeats for a running attempt; stops the run when the job is cancelled or
    /// the attempt is superseded.
    fn watch(&self, stop: CancellationToken) -> Watch {
        let (message, job_id) = (self.message.clone(), self.run.job_id.clone());
        let (attempts, attempt, period) = (
            self.worker.attempts.clone(),
            self.claim.attempt,
            self.worker.heartbeat,
        );
        let done = CancellationToken::new();
        let done_signal = done.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = done_signal.cancelled() => return None,
                    () = tokio::time::sleep(period) => {}
                }
                let _ = message.ack_with(AckKind::Progress).await;
                let interrupt = match attempts.check(&job_id, attempt).await {
                    Ok(Standing::Superseded) => Interrupt::Superseded,
                    Ok(Standing::Owner {
                        cancel_requested: true,
                    }) => Interrupt::Cancelled,
                    // Owned, or the bus briefly unavailable: go on.
                    _ => continue,
                };
                stop.cancel();
                return Some(interrupt);
            }
        });
        Watch { done, task }
    }
}

enum Commit {
    Done,
    /// A cancel request arrived before the commit: nothing was written.
    Cancelled,
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
