//! The audit service: the single writer of history. One durable consumer on
//! `EVENTS` (shared by every audit replica) appends each event to the audit log and
//! keeps job records current, in one transaction per event. An event id seen before
//! changes nothing, so redeliveries and replays are harmless.
mod apply;

use std::time::Duration;

use async_nats::jetstream::AckKind;
use futures::StreamExt;
use prism_bus::{Bus, subjects, topology};
use prism_store::Store;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use apply::apply_event;

pub async fn run(
    store: Store,
    bus: Bus,
    topology: topology::Topology,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    topology.ensure(&bus.jetstream).await?;
    let consumer = bus
        .jetstream
        .get_stream(subjects::EVENTS_STREAM)
        .await?
        .get_or_create_consumer(subjects::AUDIT_CONSUMER, topology::audit_consumer_config())
        .await?;
    tracing::info!("audit started");
    while !shutdown.is_cancelled() {
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "cannot consume events; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::warn!(%error, "event stream interrupted");
                    break;
                }
                None => break,
            };
            let span = tracing::info_span!("audit_event", subject = %message.subject);
            prism_telemetry::adopt_trace_context(&span, message.headers.as_ref());
            let applied = apply_event(&store, &message).instrument(span).await;
            let ack = match applied {
                Ok(()) => message.double_ack().await,
                Err(error) => {
                    // The store is unreachable or busy: try this event again shortly.
                    tracing::warn!(%error, "event not recorded; will retry");
                    message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await
                }
            };
            if let Err(error) = ack {
                tracing::warn!(%error, "event acknowledgement failed; it will be redelivered");
            }
        }
    }
    Ok(())
}
