//! Settings, the audit log and the cluster.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// 1 to 3650; `null` when never set (nothing is purged).
    pub days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct RetentionSet {
    pub days: u32,
    /// Finished jobs deleted by this change.
    pub purged: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingSettings {
    /// `error`, `warn`, `info`, `debug` or `trace`, for everything.
    pub level: Option<String>,
    /// Levels for the jobs of some dataflows (at most 100).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub dataflows: BTreeMap<String, String>,
}

/// `null` reads as no entries.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    reader: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::deserialize(reader)?.unwrap_or_default())
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the log; the `cursor` of the next page.
    pub seq: String,
    pub time: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub details: Value,
    pub event_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetter {
    pub seq: String,
    pub time: Option<String>,
    pub subject: String,
    pub stream_sequence: u64,
    pub message_type: String,
    pub error: String,
    pub payload_bytes: u64,
    pub job_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetters {
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Serialize, ToSchema)]
pub struct Node {
    pub id: String,
    pub role: String,
    pub version: String,
    pub host: String,
    pub started_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub in_flight: u32,
    pub draining: bool,
    /// `healthy`; `unhealthy` after 10 s without a heartbeat, or with a clock more
    /// than a second off the NATS server's.
    pub health: String,
    /// The node's clock minus the NATS server's, at its last heartbeat.
    pub clock_offset_ms: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Nodes {
    pub nodes: Vec<Node>,
}
