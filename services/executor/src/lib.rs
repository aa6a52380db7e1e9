//! The executor: pulls jobs from the shared JetStream work queue and runs them on
//! DataFusion. Executors never read the configuration database; each job message
//! carries its dataflow and connections. Every executor of a pool shares one durable
//! consumer, so JetStream balances the work and redelivers what a dead one held.
mod attempts;
mod engine;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use std::sync::atomic::Ordering;

use prism_bus::{Bus, nodes, subjects, topology};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::attempts::Attempts;
use crate::worker::Worker;

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
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            pool: subjects::DEFAULT_POOL.into(),
            concurrency: 4,
            ack_wait: Duration::from_secs(30),
            node_id: format!("executor-{}", std::process::id()),
            drain_timeout: Duration::from_secs(30),
            topology: topology::Topology::default(),
            status: nodes::NodeStatus::default(),
        }
    }
}

pub async fn run(
    config: ExecutorConfig,
    bus: Bus,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.topology.ensure(&bus.jetstream).await?;
    let stream = bus.jetstream.get_stream(subjects::JOBS_STREAM).await?;
    let consumer = stream
        .get_or_create_consumer(
            &subjects::executor_consumer(&config.pool),
            topology::executor_consumer_config(&config.pool, config.ack_wait),
        )
        .await?;
    let worker = Arc::new(Worker {
        attempts: Attempts {
            bucket: config
                .topology
                .bucket(&bus.jetstream, subjects::JOB_ATTEMPTS_BUCKET)
                .await?,
        },
        cancels: config
            .topology
            .bucket(&bus.jetstream, subjects::JOB_CANCELS_BUCKET)
            .await?,
        node_id: config.node_id.clone(),
        heartbeat: (config.ack_wait / 4).max(Duration::from_millis(250)),
        retry_delay: Duration::from_secs(1),
        bus,
    });
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // Draining (API call): stop taking jobs, finish the running ones, then exit.
    let drain = CancellationToken::new();
    let mut drain_requests = worker
        .bus
        .client
        .subscribe(subjects::drain(&config.node_id))
        .await?;
    let drain_signal = drain.clone();
    tokio::spawn(async move {
        if drain_requests.next().await.is_some() {
            drain_signal.cancel();
        }
    });
    tracing::info!(pool = %config.pool, concurrency = config.concurrency, node = %config.node_id, "executor started");
    let mut running = tokio::task::JoinSet::new();
    let status = config.status.clone();
    while !shutdown.is_cancelled() && !drain.is_cancelled() {
        // Fetch only as many jobs as there are free slots: a prefetched job would wait
        // here while its ack wait runs out.
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            () = drain.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit?,
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
        let mut messages = match batch {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "cannot fetch jobs; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(next) = messages.next().await {
            match next {
                Ok(message) => {
                    let Some(permit) = permits.pop() else { break };
                    let (worker, in_flight) = (worker.clone(), status.in_flight.clone());
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    running.spawn(async move {
                        worker.handle(message).await;
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                        drop(permit);
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "job fetch interrupted");
                    break;
                }
            }
        }
        while running.try_join_next().is_some() {}
    }
    status.draining.store(true, Ordering::Relaxed);
    tracing::info!(in_flight = running.len(), "executor draining");
    // A drain request waits for every running job; a shutdown signal waits a bounded time.
    let bound = if drain.is_cancelled() && !shutdown.is_cancelled() {
        Duration::MAX
    } else {
        config.drain_timeout
    };
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
    Ok(())
}
