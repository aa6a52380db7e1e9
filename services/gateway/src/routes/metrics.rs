//! `GET /metrics`: the process's Prometheus metrics (see `prism-metrics`), for a
//! scraper signed in with an API token that may view the cluster.
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prism_bus::subjects;

use crate::state::AppState;

/// A scrape must answer even when JetStream does not.
const QUEUE_DEPTH_WAIT: Duration = Duration::from_secs(2);

/// The text exposition format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if let Ok(Some(depth)) = tokio::time::timeout(QUEUE_DEPTH_WAIT, queue_depth(&state)).await {
        prism_metrics::get().queue_depth(depth);
    }
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        prism_metrics::get().render(),
    )
}

/// Jobs in the queue not yet delivered to an executor, as JetStream counts them.
async fn queue_depth(state: &AppState) -> Option<i64> {
    let stream = state
        .bus
        .jetstream
        .get_stream(subjects::JOBS_STREAM)
        .await
        .ok()?;
    let consumer = subjects::executor_consumer(subjects::DEFAULT_POOL);
    let info = stream.consumer_info(consumer).await.ok()?;
    i64::try_from(info.num_pending).ok()
}
