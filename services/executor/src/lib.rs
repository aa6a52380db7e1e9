//! The executor: pulls jobs from the shared JetStream work queue and runs them on
//! DataFusion. Executors never read the configuration database; each job message
//! carries its dataflow and connections. Every executor of a pool shares one durable
//! consumer, so JetStream balances the work and redelivers what a dead one held.
//!
//! An executor does these jobs, each a module, on one shared toolkit:
//! - [`jobs`]: batch jobs, from a delivery of the work queue to its acknowledgement;
//! - [`services`]: real-time services, answering calls in a queue group;
//! - [`previews`]: the designer's previews, a dataflow run up to one stage, writing nothing;
//! - [`engine`]: DataFusion as both use it (confinement, memory, tables, errors).
#![forbid(unsafe_code)]
mod engine;
mod jobs;
mod previews;
mod services;

pub use engine::Confinement;
pub use engine::memory::executor_pool;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::consumer::{PullConsumer, pull};
use futures::StreamExt;
use prism_bus::attempts::Attempts;
use prism_bus::{Bus, Error, Result, nodes, subjects, topology};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::jobs::delivery::Worker;

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub pool: String,
    /// Jobs this executor runs at once.
    pub concurrency: usize,
    /// Without a heartbeat for this long, JetStream gives the job to another executor.
    pub ack_wait: Duration,
    pub node_id: String,
    /// How long shutdown waits for running jobs before leaving them to redelivery.
    pub drain_timeout: Duration,
    pub topology: topology::Topology,
    /// Running-job count and draining flag, reported by the node heartbeat.
    pub status: nodes::NodeStatus,
    /// What jobs may touch and take (file roots, memory, spill, time), from this
    /// executor's own settings: a job whose message asks for more fails.
    pub confinement: engine::Confinement,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            pool: subjects::DEFAULT_POOL.into(),
            concurrency: 16,
            ack_wait: Duration::from_secs(30),
            node_id: format!("executor-{}", std::process::id()),
            drain_timeout: Duration::from_secs(30),
            topology: topology::Topology::default(),
            status: nodes::NodeStatus::default(),
            confinement: engine::Confinement::default(),
        }
    }
}

/// What an executor needs from outside: the bus, and nothing else.
pub struct ExecutorDeps {
    pub bus: Bus,
}

/// Runs jobs until `shutdown` or a drain request, then lets running jobs finish.
pub async fn run(
    config: ExecutorConfig,
    deps: ExecutorDeps,
    shutdown: CancellationToken,
) -> Result<()> {
    let bus = deps.bus;
    config.topology.ensure(&bus.jetstream).await?;
    let consumer = open_consumer(&bus, &config).await?;
    let drain = drain_requests(&bus, &config.node_id).await?;
    let worker = Arc::new(Worker {
        attempts: Attempts::open(&bus, &config.topology).await?,
        node_id: config.node_id.clone(),
        heartbeat: (config.ack_wait / 4).max(Duration::from_millis(250)),
        retry_delay: Duration::from_secs(1),
        confinement: Arc::new(config.confinement.clone()),
        bus,
    });
    tracing::info!(pool = %config.pool, concurrency = config.concurrency, node = %config.node_id, "executor started");
    let stop_taking = CancellationToken::new();
    // Services are answered until the executor stops taking work (drain or shutdown).
    let services = tokio::spawn(services::serving::serve(
        worker.bus.clone(),
        config.topology,
        worker.confinement.clone(),
        config.node_id.clone(),
        stop_taking.clone(),
    ));
    let previews = tokio::spawn(previews::serve(
        worker.bus.clone(),
        config.pool.clone(),
        worker.confinement.clone(),
        config.node_id.clone(),
        stop_taking.clone(),
    ));
    let (either, shutdown_signal, drain_signal) =
        (stop_taking.clone(), shutdown.clone(), drain.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown_signal.cancelled() => {}
            () = drain_signal.cancelled() => {}
        }
        either.cancel();
    });
    let mut running = JoinSet::new();
    take_jobs(&config, &consumer, &worker, &mut running, &stop_taking).await;
    config.status.draining.store(true, Ordering::Relaxed);
    tracing::info!(in_flight = running.len(), "executor draining");
    // A drain request waits for every running job; a shutdown signal waits a bounded time.
    let bound = if shutdown.is_cancelled() {
        config.drain_timeout
    } else {
        Duration::MAX
    };
    finish_running(running, bound).await;
    if let Ok(Err(error)) = services.await {
        tracing::warn!(%error, "services stopped");
    }
    if let Ok(Err(error)) = previews.await {
        tracing::warn!(%error, "previews stopped");
    }
    Ok(())
}

async fn open_consumer(bus: &Bus, config: &ExecutorConfig) -> Result<PullConsumer> {
    let consumer = topology::executor_consumer_config(&config.pool, config.ack_wait);
    config
        .topology
        .consumer(&bus.jetstream, subjects::JOBS_STREAM, consumer)
        .await
}

/// A token cancelled when someone asks this node to drain (`POST .../drain`).
async fn drain_requests(bus: &Bus, node_id: &str) -> Result<CancellationToken> {
    let mut requests = bus
        .client
        .subscribe(subjects::drain(node_id))
        .await
        .map_err(|e| Error::jetstream("subscribe to drain requests", e))?;
    let drain = CancellationToken::new();
    let signal = drain.clone();
    tokio::spawn(async move {
        if requests.next().await.is_some() {
            signal.cancel();
        }
    });
    Ok(drain)
}

/// Pulls as many jobs as there are free slots, until `stop`: a prefetched job would
/// wait here while its ack wait runs out.
async fn take_jobs(
    config: &ExecutorConfig,
    consumer: &PullConsumer,
    worker: &Arc<Worker>,
    running: &mut JoinSet<()>,
    stop: &CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let mut permits = vec![first];
        while let Ok(permit) = slots.clone().try_acquire_owned() {
            permits.push(permit);
        }
        let batch = consumer
            .batch()
            .max_messages(permits.len())
            .expires(Duration::from_secs(2))
            .messages()
            .await;
        match batch {
            Ok(messages) => start_jobs(messages, permits, worker, &config.status, running).await,
            Err(error) => {
                tracing::warn!(%error, "cannot fetch jobs; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        while running.try_join_next().is_some() {}
    }
}

/// Runs each fetched message on its own task, holding one slot until it is done.
async fn start_jobs(
    mut messages: pull::Batch,
    mut permits: Vec<OwnedSemaphorePermit>,
    worker: &Arc<Worker>,
    status: &nodes::NodeStatus,
    running: &mut JoinSet<()>,
) {
    while let Some(next) = messages.next().await {
        let message = match next {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "job fetch interrupted");
                return;
            }
        };
        let Some(permit) = permits.pop() else { return };
        let (worker, in_flight) = (worker.clone(), status.in_flight.clone());
        in_flight.fetch_add(1, Ordering::Relaxed);
        running.spawn(async move {
            worker.handle(message).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

async fn finish_running(mut running: JoinSet<()>, bound: Duration) {
    let drained = tokio::time::timeout(bound, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        // Unacknowledged jobs go to another executor after their ack wait.
        tracing::warn!(
            left = running.len(),
            "drain timed out; remaining jobs will be redelivered"
        );
        running.abort_all();
    }
}
