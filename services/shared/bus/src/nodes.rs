//! The node registry: every process heartbeats a `NodeInfo` into the bucket
//! `prism_nodes`; an entry outlives its last heartbeat by [`NODE_TTL`], so dead nodes
//! disappear by themselves.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_nats::jetstream::{kv, stream};
use prism_schemas::v1::{NodeEvent, NodeInfo};
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::topology::Topology;
use crate::{Bus, subjects};

pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// A node whose last heartbeat is older than this is reported unhealthy.
pub const UNHEALTHY_AFTER: Duration = Duration::from_secs(10);
pub const NODE_TTL: Duration = Duration::from_secs(30);
/// Nodes must agree on the time (schedules, expiries, reports): a clock further off
/// the NATS server's than this marks the node unhealthy.
pub const MAX_CLOCK_OFFSET_MS: i64 = 1000;

/// A registered node, with how far its clock is off the NATS server's.
#[derive(Debug, Clone)]
pub struct Node {
    pub info: NodeInfo,
    /// The node's time at its last heartbeat minus the NATS server's time when it
    /// stored that heartbeat (so also less the one-way latency, milliseconds here).
    pub clock_offset_ms: i64,
}

impl Node {
    /// Heartbeating recently, and on time.
    pub fn is_healthy(&self) -> bool {
        is_healthy(&self.info) && self.clock_offset_ms.abs() <= MAX_CLOCK_OFFSET_MS
    }
}

/// `entry`'s node time minus the server's time of storing it.
fn clock_offset_ms(info: &NodeInfo, entry: &kv::Entry) -> i64 {
    let stored_ms = (entry.created.unix_timestamp_nanos() / 1_000_000) as i64;
    info.heartbeat_at_ms - stored_ms
}

/// What a process reports about itself; the counters are shared with its services.
#[derive(Debug, Clone, Default)]
pub struct NodeStatus {
    pub in_flight: Arc<AtomicU32>,
    pub draining: Arc<AtomicBool>,
}

pub async fn bucket(bus: &Bus, topology: &Topology) -> Result<kv::Store> {
    let config = kv::Config {
        bucket: subjects::NODES_BUCKET.into(),
        history: 1,
        max_age: NODE_TTL,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    topology.key_value(&bus.jetstream, config).await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn publish_event(bus: &Bus, info: &NodeInfo, kind: &str) {
    let event = NodeEvent {
        event_id: format!("node.{}.{}.{kind}", info.id, info.started_at_ms),
        node: info.id.clone(),
        kind: kind.into(),
        role: info.role.clone(),
        occurred_at_ms: now_ms(),
    };
    let subject = subjects::node_event(&info.id, kind);
    if let Err(error) = bus.publish_durable(subject, &event.event_id, &event).await {
        tracing::warn!(%error, kind, "node event not published");
    }
}

/// Registers the node and heartbeats until `shutdown`, then removes it.
pub async fn heartbeat(
    bus: Bus,
    topology: Topology,
    mut info: NodeInfo,
    status: NodeStatus,
    shutdown: CancellationToken,
) -> Result<()> {
    topology.ensure(&bus.jetstream).await?;
    let nodes = bucket(&bus, &topology).await?;
    publish_event(&bus, &info, "started").await;
    let mut announced_draining = false;
    let mut clock = ClockWatch::default();
    loop {
        info.heartbeat_at_ms = now_ms();
        info.in_flight = status.in_flight.load(Ordering::Relaxed);
        info.draining = status.draining.load(Ordering::Relaxed);
        if info.draining && !announced_draining {
            announced_draining = true;
            publish_event(&bus, &info, "draining").await;
        }
        if let Err(error) = nodes.put(&info.id, info.encode_to_vec().into()).await {
            tracing::warn!(%error, "heartbeat not recorded");
        } else {
            clock.check(&nodes, &info).await;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
    let _ = nodes.delete(&info.id).await;
    publish_event(&bus, &info, "stopped").await;
    Ok(())
}

/// Tells the node's own log when its clock goes off the server's, and when it is
/// back, once each.
#[derive(Default)]
struct ClockWatch {
    off: bool,
}

impl ClockWatch {
    async fn check(&mut self, nodes: &kv::Store, info: &NodeInfo) {
        let Ok(Some(entry)) = nodes.entry(&info.id).await else {
            return;
        };
        let offset = clock_offset_ms(info, &entry);
        let off = offset.abs() > MAX_CLOCK_OFFSET_MS;
        if off && !self.off {
            tracing::warn!(
                clock_offset_ms = offset,
                "this node's clock is more than {MAX_CLOCK_OFFSET_MS} ms off the NATS server's: the node reports unhealthy until it is synchronized (NTP)"
            );
        } else if !off && self.off {
            tracing::info!(
                clock_offset_ms = offset,
                "this node's clock is synchronized again"
            );
        }
        self.off = off;
    }
}

/// Every registered node.
pub async fn list(bus: &Bus, topology: &Topology) -> Result<Vec<Node>> {
    use futures::StreamExt;
    let nodes = bucket(bus, topology).await?;
    let mut keys = nodes
        .keys()
        .await
        .map_err(|e| Error::jetstream("list nodes", e))?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        if let Ok(Some(entry)) = nodes.entry(&key).await
            && let Ok(info) = NodeInfo::decode(entry.value.clone())
        {
            let clock_offset_ms = clock_offset_ms(&info, &entry);
            out.push(Node {
                info,
                clock_offset_ms,
            });
        }
    }
    out.sort_by(|a, b| a.info.id.cmp(&b.info.id));
    Ok(out)
}

/// Whether `info`'s last heartbeat is recent.
pub fn is_healthy(info: &NodeInfo) -> bool {
    now_ms() - info.heartbeat_at_ms < UNHEALTHY_AFTER.as_millis() as i64
}
