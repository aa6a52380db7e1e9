//! The transactions of the audit service: an event becomes an audit entry and, for
//! job events, the job record's new state; an event that can never be recorded
//! becomes a dead letter.
use std::collections::HashMap;

use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_errors::bounded;
use prism_schemas::v1::{AuditRecord, DeadLetterRecord, JobRecord};
use prism_store::records::{audit, dead_letters, jobs, now_ms};
use prism_store::{Store, Tx};

use crate::event::{Event, Incoming};
use crate::projection::{apply_cancel_request, apply_job_event};
use crate::record::to_audit_record;

/// Records the event in one transaction. An event id seen before changes nothing.
pub async fn apply_event(store: &Store, incoming: &Incoming<'_>) -> prism_store::Result<()> {
    apply_events(store, std::slice::from_ref(incoming)).await
}

/// Records the events, in order, in one transaction: one commit (one disk sync)
/// for many events. Each is still recorded once, whatever was seen before; one
/// that cannot be recorded fails them all, and the caller records them one by one.
pub async fn apply_events(store: &Store, incoming: &[Incoming<'_>]) -> prism_store::Result<()> {
    let events: Vec<(Event, AuditRecord)> = incoming
        .iter()
        .map(|incoming| {
            let event = Event::decode(incoming);
            let record = to_audit_record(&event, incoming);
            (event, record)
        })
        // Calls go to service history (the stream itself), changes to the audit log.
        .filter(|(event, _)| *event != Event::ServiceCall)
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    store
        .transact_write(|tx| {
            let events = &events;
            async move {
                let mut projected = Projected::default();
                for (position, (event, record)) in events.iter().enumerate() {
                    // Batches are capped far below u16::MAX.
                    if audit::append(&tx, record, position as u16).await? {
                        projected.apply(&tx, event).await?;
                    }
                }
                projected.write(&tx).await
            }
        })
        .await
}

/// The job record's part of an event.
/// Job records as one transaction's events left them, each written once at its
/// end: a batch often holds a job's `queued`, `started` and terminal events
/// together, and each write of a record also rewrites its index keys.
#[derive(Default)]
struct Projected {
    /// By job id: the record as the events so far made it (`None`: none yet).
    jobs: HashMap<String, Option<JobRecord>>,
    /// The ids whose record an event changed, in the order they changed.
    changed: Vec<String>,
}

impl Projected {
    async fn apply(&mut self, tx: &Tx, event: &Event) -> prism_store::Result<()> {
        let (job_id, updated) = match event {
            Event::Job(event) => {
                let job = self.current(tx, &event.job_id).await?;
                (&event.job_id, apply_job_event(job, event))
            }
            Event::Config(event)
                if event.entity == ConfigEntity::Job.as_str()
                    && event.op == ConfigOp::Cancel.as_str() =>
            {
                (
                    &event.name,
                    apply_cancel_request(self.current(tx, &event.name).await?),
                )
            }
            _ => return Ok(()),
        };
        if let Some(job) = updated {
            if !self.changed.contains(job_id) {
                self.changed.push(job_id.clone());
            }
            self.jobs.insert(job_id.clone(), Some(job));
        }
        Ok(())
    }

    async fn current(&mut self, tx: &Tx, job_id: &str) -> prism_store::Result<Option<JobRecord>> {
        if let Some(job) = self.jobs.get(job_id) {
            return Ok(job.clone());
        }
        let job = jobs::get(tx, job_id).await?;
        self.jobs.insert(job_id.to_string(), job.clone());
        Ok(job)
    }

    async fn write(self, tx: &Tx) -> prism_store::Result<()> {
        for id in &self.changed {
            if let Some(Some(job)) = self.jobs.get(id) {
                jobs::put(tx, job).await?;
            }
        }
        Ok(())
    }
}

/// Keeps an event that can never be recorded (`error` is permanent) as a dead letter
/// operators can list. A job event still moves its job on, with what fits: the job
/// reaches its terminal state even when its audit entry cannot be written.
pub async fn dead_letter(
    store: &Store,
    incoming: &Incoming<'_>,
    error: &prism_store::Error,
) -> prism_store::Result<()> {
    let event = Event::decode(incoming);
    let job_id = match &event {
        Event::Job(job) => prism_errors::bounded_to(&job.job_id, 100),
        _ => String::new(),
    };
    let letter = DeadLetterRecord {
        subject: prism_errors::bounded_to(incoming.subject, 512),
        stream_sequence: incoming.stream_sequence,
        message_type: incoming
            .message_type
            .map(|t| prism_errors::bounded_to(t, 512))
            .unwrap_or_default(),
        error: bounded(&error.to_string()),
        payload_bytes: incoming.payload.len() as u64,
        time_ms: now_ms(),
        job_id,
    };
    store
        .transact_write(|tx| {
            let (letter, event) = (&letter, &event);
            async move {
                dead_letters::append(&tx, letter).await?;
                // A job id too long to be a key cannot name a job: nothing to move on.
                let mut projected = Projected::default();
                let applied = match projected.apply(&tx, event).await {
                    Ok(()) => projected.write(&tx).await,
                    Err(e) => Err(e),
                };
                match applied {
                    Err(e) if !prism_errors::Retryable::retryable(&e) => Ok(()),
                    other => other,
                }
            }
        })
        .await
}
