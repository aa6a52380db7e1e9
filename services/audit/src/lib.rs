//! The audit service: the writer of history. One durable consumer on `EVENTS`
//! (shared by every audit replica) appends each event to the audit log and keeps
//! job records current (the gateway's accept writes a job's first, queued, record;
//! every later state is written here). Events that arrive together are recorded together, in
//! one transaction (one disk sync for many events); an event id seen before changes
//! nothing, so redeliveries and replays are harmless.
//!
//! Nothing loops forever: an event that fails for a reason that may pass (store busy
//! or down) is redelivered after a delay; one that can never be recorded (too large,
//! corrupt) is kept as a dead letter (`GET /v1/audit/dead-letters`) and terminated.
//!
//! - [`event`]: decoding what arrived; [`record`]: the audit entry it becomes;
//!   [`projection`]: the job record's new state; [`apply`]: the transactions.
#![forbid(unsafe_code)]
mod apply;
mod event;
mod projection;
mod record;

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use prism_bus::{Bus, Result, headers, subjects, topology};
use prism_errors::Retryable;
use prism_store::Store;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use apply::{apply_event, apply_events, dead_letter};
pub use event::{Event, Incoming};

#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    pub topology: topology::Topology,
}

pub struct AuditDeps {
    pub store: Store,
    pub bus: Bus,
}

/// How long a retryable failure waits before the event comes again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

pub async fn run(config: AuditConfig, deps: AuditDeps, shutdown: CancellationToken) -> Result<()> {
    let AuditDeps { store, bus } = deps;
    config.topology.ensure(&bus.jetstream).await?;
    let consumer = config
        .topology
        .consumer(
            &bus.jetstream,
            subjects::EVENTS_STREAM,
            topology::audit_consumer_config(),
        )
        .await?;
    tracing::info!("audit started");
    while !shutdown.is_cancelled() {
        let messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "cannot consume events; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        consume(&store, messages, &shutdown).await;
    }
    Ok(())
}

/// Events recorded in one transaction at most, and their payload bytes: well within
/// a transaction's limits (10 MB, 5 s) on every backend.
const BATCH_EVENTS: usize = 256;
const BATCH_BYTES: usize = 1 << 20;
/// How long a batch waits for more events behind its first.
const LINGER: Duration = Duration::from_millis(5);

/// Records events until the stream of messages breaks or `shutdown`.
async fn consume(
    store: &Store,
    mut messages: jetstream::consumer::pull::Stream,
    shutdown: &CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = messages.next() => next,
        };
        let first = match next {
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                tracing::warn!(%error, "event stream interrupted");
                return;
            }
            None => return,
        };
        let batch = gather(first, &mut messages).await;
        for (message, ack) in batch.iter().zip(record_all(store, &batch).await) {
            if let Err(error) = message.ack_with(ack).await {
                tracing::warn!(%error, "event acknowledgement failed; it will be redelivered");
            }
        }
    }
}

/// `first` and the messages that arrive within [`LINGER`] behind it: under load
/// the batches fill at once; a trickle (a job's few events) still shares a commit,
/// instead of each event taking the store's writer turn from the submissions.
async fn gather(
    first: jetstream::Message,
    messages: &mut jetstream::consumer::pull::Stream,
) -> Vec<jetstream::Message> {
    let mut bytes = first.payload.len();
    let mut batch = vec![first];
    let until = tokio::time::Instant::now() + LINGER;
    while batch.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
        match tokio::time::timeout_at(until, messages.next()).await {
            Ok(Some(Ok(message))) => {
                bytes += message.payload.len();
                batch.push(message);
            }
            // Time is up, or the stream broke: a lasting break shows at the next `next()`.
            _ => break,
        }
    }
    batch
}

fn incoming(message: &jetstream::Message) -> Incoming<'_> {
    Incoming {
        subject: message.subject.as_str(),
        message_type: headers::message_type(message.headers.as_ref()),
        payload: &message.payload,
        stream_sequence: message.info().map(|i| i.stream_sequence).unwrap_or(0),
    }
}

/// Records a batch in one transaction; when that fails, each event on its own, so
/// one bad event is dead-lettered alone and a busy store retries each.
async fn record_all(store: &Store, batch: &[jetstream::Message]) -> Vec<AckKind> {
    // Each event's span joins the trace of whoever published it (a job's trace
    // ends in its audit records); the batch's own span links to them all.
    let span = tracing::info_span!("audit_events", events = batch.len());
    let event_spans: Vec<tracing::Span> = batch.iter().map(event_span).collect();
    for event in &event_spans {
        span.follows_from(event);
    }
    let events: Vec<Incoming> = batch.iter().map(incoming).collect();
    match apply_events(store, &events).instrument(span).await {
        Ok(()) => {
            observe_lag(batch);
            return vec![AckKind::Ack; batch.len()];
        }
        Err(error) if batch.len() > 1 => {
            tracing::debug!(%error, events = batch.len(), "batch not recorded; one by one");
        }
        Err(_) => {}
    }
    let mut acks = Vec::with_capacity(batch.len());
    for (message, span) in batch.iter().zip(event_spans) {
        acks.push(record(store, &incoming(message)).instrument(span).await);
    }
    acks
}

fn event_span(message: &jetstream::Message) -> tracing::Span {
    let span = tracing::info_span!(
        "audit_event",
        otel.name = "audit record",
        subject = %message.subject
    );
    prism_telemetry::adopt_trace_context(&span, message.headers.as_ref());
    span
}

/// How far behind the bus the audit log is: the age of the newest event recorded.
fn observe_lag(batch: &[jetstream::Message]) {
    let Some(info) = batch.last().and_then(|m| m.info().ok()) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i128;
    let lag_ns = (now - info.published.unix_timestamp_nanos()).max(0) as u64;
    prism_metrics::get().audit_lag(std::time::Duration::from_nanos(lag_ns));
}

/// Records one message; answers how to acknowledge it.
async fn record(store: &Store, incoming: &Incoming<'_>) -> AckKind {
    let error = match apply_event(store, incoming).await {
        Ok(()) => return AckKind::Ack,
        Err(error) if error.retryable() => {
            tracing::warn!(%error, "event not recorded; will retry");
            return AckKind::Nak(Some(RETRY_DELAY));
        }
        Err(error) => error,
    };
    tracing::error!(%error, sequence = incoming.stream_sequence, "event can never be recorded; dead-lettered");
    prism_metrics::get().dead_lettered("event");
    match dead_letter(store, incoming, &error).await {
        Ok(()) => AckKind::Term,
        Err(error) if error.retryable() => AckKind::Nak(Some(RETRY_DELAY)),
        Err(error) => {
            tracing::error!(%error, "dead letter not recorded either; event dropped");
            AckKind::Term
        }
    }
}
