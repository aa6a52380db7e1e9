//! A delivery's bus operations through short outages (a NATS node lost, a stream
//! electing a new leader), heartbeating the delivery meanwhile.
use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind};
use prism_errors::Retryable;

/// How long one delivery keeps retrying bus operations before giving the job back.
const TRANSIENT_RETRY_FOR: Duration = Duration::from_secs(60);

/// Retries `operation` while the bus is briefly unavailable (a NATS node lost, a
/// stream electing a new leader), heartbeating the delivery meanwhile. A nak instead
/// would count as an attempt, and a few of them would dead-letter a healthy job.
/// Gives up after [`TRANSIENT_RETRY_FOR`], and at once on an error that cannot pass.
pub(crate) async fn through_outages<T, Fut>(
    message: &jetstream::Message,
    what: &str,
    mut operation: impl FnMut() -> Fut,
) -> Result<T, prism_bus::Error>
where
    Fut: Future<Output = Result<T, prism_bus::Error>>,
{
    let deadline = Instant::now() + TRANSIENT_RETRY_FOR;
    let mut delay = Duration::from_millis(200);
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(error) if error.retryable() && Instant::now() < deadline => {
                tracing::warn!(%error, what, "bus unavailable; retrying");
                let _ = message.ack_with(AckKind::Progress).await;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                tracing::error!(%error, what, "giving up on this delivery");
                return Err(error);
            }
        }
    }
}
