//! The transactions of the audit service: an event becomes an audit entry and, for
//! job events, the job record's new state; an event that can never be recorded
//! becomes a dead letter.
use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_errors::bounded;
use prism_schemas::v1::{AuditRecord, DeadLetterRecord};
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
                for (position, (event, record)) in events.iter().enumerate() {
                    // Batches are capped far below u16::MAX.
                    if audit::append(&tx, record, position as u16).await? {
                        project(&tx, event).await?;
                    }
                }
                Ok(())
            }
        })
        .await
}

/// The job record's part of an event.
async fn project(tx: &Tx, event: &Event) -> prism_store::Result<()> {
    let updated = match event {
        Event::Job(event) => apply_job_event(jobs::get(tx, &event.job_id).await?, event),
        Event::Config(event)
            if event.entity == ConfigEntity::Job.as_str()
                && event.op == ConfigOp::Cancel.as_str() =>
        {
            apply_cancel_request(jobs::get(tx, &event.name).await?)
        }
        _ => None,
    };
    match updated {
        Some(job) => jobs::put(tx, &job).await,
        None => Ok(()),
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
                match project(&tx, event).await {
                    Err(e) if !prism_errors::Retryable::retryable(&e) => Ok(()),
                    other => other,
                }
            }
        })
        .await
}
