//! The gateway: the HTTP API (`/v1/...`) and job submission over the bus. Stateless:
//! run as many as needed behind a load balancer.
mod error;
mod input;
mod routes;
mod state;
mod submissions;

use std::sync::Arc;

use prism_bus::{Bus, subjects, topology::Topology};
use prism_jobs::Submitter;
use prism_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub topology: Topology,
    /// The executor pool jobs are sent to.
    pub pool: String,
    /// Deliveries of a job before it is dead-lettered as failed.
    pub max_attempts: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            topology: Topology::default(),
            pool: subjects::DEFAULT_POOL.into(),
            max_attempts: 5,
        }
    }
}

/// Serves HTTP on `listener` and bus submissions until `shutdown`, then drains
/// in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: GatewayConfig,
    store: Store,
    bus: Bus,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.topology.ensure(&bus.jetstream).await?;
    let cancels = config
        .topology
        .bucket(&bus.jetstream, subjects::JOB_CANCELS_BUCKET)
        .await?;
    let state = Arc::new(state::AppState {
        submitter: Submitter {
            store: store.clone(),
            bus: bus.clone(),
            pool: config.pool.clone(),
            max_attempts: config.max_attempts,
        },
        store,
        bus,
        cancels,
        topology: config.topology,
    });
    let submissions = tokio::spawn(submissions::serve(state.clone(), shutdown.clone()));
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    let app = routes::router(state).layer(axum::middleware::from_fn(trace_request));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await?;
    shutdown.cancel();
    submissions.await??;
    Ok(())
}

/// One span per request, so store and bus calls (and the trace context they
/// publish) belong to it.
async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let span =
        tracing::info_span!("http", method = %request.method(), path = %request.uri().path());
    next.run(request).instrument(span).await
}
