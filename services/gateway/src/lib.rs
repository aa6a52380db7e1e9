//! The gateway: the HTTP API (`/v1/...`) and job submission over the bus. Stateless:
//! run as many as needed behind a load balancer. Every gateway also relays outbox
//! entries whose writer died, so accepted jobs and changes are announced even in a
//! deployment without a scheduler.
#![forbid(unsafe_code)]
pub mod auth;
mod bodies;
mod catalog;
mod edges;
mod error;
mod exposure;
mod input;
mod latest;
mod openapi;
mod report;
mod retention;
mod routes;
mod state;
mod submissions;

use std::sync::Arc;

use prism_bus::attempts::Attempts;
use prism_bus::{Bus, subjects, topology::Topology};
use prism_jobs::Submitter;
use prism_outbox::Outbox;
use prism_store::Store;

use crate::auth::directory::Directory;
use crate::auth::throttle::Throttle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use routes::{Route, router, table};
pub use state::AppState;

/// Job submissions one gateway accepts at once (each is one store transaction).
pub const MAX_CONCURRENT_SUBMISSIONS: usize = 64;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub topology: Topology,
    /// The executor pool jobs are sent to.
    pub pool: String,
    /// Deliveries of a job before it is dead-lettered as failed.
    pub max_attempts: u32,
    /// Where a generated first-admin password is written.
    pub data_dir: std::path::PathBuf,
    /// `PRISM_ADMIN_PASSWORD`: the first admin's password, if the directory is empty.
    pub admin_password: Option<String>,
    /// Directories `local` connections may use (canonical); none: no connection.
    pub file_roots: Vec<std::path::PathBuf>,
    /// The master keys that seal secrets; none: secrets cannot be set.
    pub keyring: Option<Arc<prism_secrets::Keyring>>,
    /// Where `postgres` and `s3` connections may reach (`PRISM_CONNECTION_HOSTS`).
    pub connection_hosts: prism_connections::Reach,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            topology: Topology::default(),
            pool: subjects::DEFAULT_POOL.into(),
            max_attempts: 5,
            data_dir: std::path::PathBuf::from("."),
            admin_password: None,
            file_roots: Vec::new(),
            keyring: None,
            connection_hosts: prism_connections::Reach::default(),
        }
    }
}

pub struct GatewayDeps {
    pub listener: TcpListener,
    pub store: Store,
    pub bus: Bus,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bus(#[from] prism_bus::Error),
    #[error("http server: {0}")]
    Http(#[from] std::io::Error),
    #[error(transparent)]
    Bootstrap(#[from] auth::bootstrap::BootstrapError),
}

/// The state the routes share, on `store` and `bus`.
pub async fn app_state(
    config: &GatewayConfig,
    store: Store,
    bus: Bus,
) -> prism_bus::Result<Arc<AppState>> {
    config.topology.ensure(&bus.jetstream).await?;
    match prism_store::records::jobs::build_indexes(&store).await {
        Ok(0) => {}
        Ok(indexed) => tracing::info!(indexed, "jobs of an older store indexed"),
        // Lists filtered by status or dataflow may miss older jobs until a start succeeds.
        Err(error) => tracing::warn!(%error, "jobs not indexed yet"),
    }
    let outbox = Outbox::new(store.clone(), bus.clone());
    Ok(Arc::new(AppState {
        directory: Arc::new(Directory::new(store.clone())),
        file_roots: config.file_roots.clone(),
        keyring: config.keyring.clone(),
        connection_hosts: config.connection_hosts.clone(),
        submissions: tokio::sync::Semaphore::new(MAX_CONCURRENT_SUBMISSIONS),
        service_slots: Default::default(),
        service_records: Default::default(),
        latest_connections: Default::default(),
        throttle: Throttle::default(),
        submitter: Submitter::new(outbox.clone(), config.pool.clone(), config.max_attempts),
        attempts: Attempts::open(&bus, &config.topology).await?,
        outbox,
        store,
        bus,
        topology: config.topology,
        pool: config.pool.clone(),
    }))
}

/// Serves HTTP on the listener, bus submissions and the outbox relay until
/// `shutdown`, then drains in-flight requests.
pub async fn run(
    config: GatewayConfig,
    deps: GatewayDeps,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let GatewayDeps {
        listener,
        store,
        bus,
    } = deps;
    auth::bootstrap::ensure_admin(&store, &config.data_dir, config.admin_password.clone()).await?;
    let state = app_state(&config, store, bus).await?;
    let watch = tokio::spawn(state.directory.clone().watch(shutdown.clone()));
    let dataflow_changes = tokio::spawn(
        state
            .latest_connections
            .clone()
            .watch(state.bus.clone(), shutdown.clone()),
    );
    let submissions = tokio::spawn(submissions::serve(state.clone(), shutdown.clone()));
    let relay = tokio::spawn(state.outbox.clone().relay(shutdown.clone()));
    let retention = tokio::spawn(retention::enforce(state.clone(), shutdown.clone()));
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await?;
    shutdown.cancel();
    let _ = relay.await;
    let _ = retention.await;
    let _ = watch.await;
    let _ = dataflow_changes.await;
    match submissions.await {
        Ok(served) => Ok(served?),
        Err(_) => Ok(()),
    }
}
