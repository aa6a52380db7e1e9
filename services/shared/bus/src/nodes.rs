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

/// What a process reports about itself; the counters are shared with its services.
#[derive(Debug, Clone, Default)]
pub struct NodeStatus {
    pub in_flight: Arc<AtomicU32>,
    pub draining: Arc<AtomicBool>,
}

pub async fn bucket(bus: &Bus, topology: &Topology) -> Result<kv::Store> {
    if let Ok(store) = bus.jetstream.get_key_value(subjects::NODES_BUCKET).await {
        return Ok(store);
    }
    bus.jetstream
        .create_key_value(kv::Config {
            bucket: subjects::NODES_BUCKET.into(),
            history: 1,
            max_age: NODE_TTL,
            storage: stream::StorageType::File,
            num_replicas: topology.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::jetstream("create nodes bucket", e))
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

/// Every registered node.
pub async fn list(bus: &Bus, topology: &Topology) -> Result<Vec<NodeInfo>> {
    use futures::StreamExt;
    let nodes = bucket(bus, topology).await?;
    let mut keys = nodes
        .keys()
        .await
        .map_err(|e| Error::jetstream("list nodes", e))?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        if let Ok(Some(value)) = nodes.get(&key).await
            && let Ok(info) = NodeInfo::decode(value)
        {
            out.push(info);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Whether `info`'s last heartbeat is recent.
pub fn is_healthy(info: &NodeInfo) -> bool {
    now_ms() - info.heartbeat_at_ms < UNHEALTHY_AFTER.as_millis() as i64
}
