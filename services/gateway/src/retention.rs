//! Job history retention: finished jobs older than the `retention` setting's days
//! are deleted when it is set, then hourly by every gateway (a purge is idempotent,
//! so gateways running it at once only repeat each other's work).
use std::sync::Arc;
use std::time::Duration;

use prism_bus::settings::{self, RETENTION_KEY};
use prism_store::records::jobs;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

const EVERY: Duration = Duration::from_secs(3600);
pub const MAX_DAYS: u32 = 3650;

/// The days set, if any.
pub async fn days(state: &AppState) -> Result<Option<u32>, prism_bus::Error> {
    let store = settings::bucket(&state.bus, &state.topology).await?;
    let value = store.get(RETENTION_KEY).await.ok().flatten();
    Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse().ok()))
}

/// Deletes finished jobs created more than `days` days ago; answers how many.
pub async fn purge(state: &AppState, days: u32) -> Result<usize, prism_store::Error> {
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let purged = jobs::purge_finished_before(&state.store, cutoff.timestamp_millis()).await?;
    if purged > 0 {
        tracing::info!(purged, days, "job history purged");
    }
    Ok(purged)
}

/// Applies the setting every hour until `shutdown`.
pub async fn enforce(state: Arc<AppState>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        match days(&state).await {
            Ok(Some(days)) => {
                if let Err(error) = purge(&state, days).await {
                    tracing::warn!(%error, "job history not purged; next hour");
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "retention setting unreadable"),
        }
    }
}
