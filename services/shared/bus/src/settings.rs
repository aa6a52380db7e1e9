//! Settings every process applies while it runs, kept in the bucket
//! `prism_settings`: a change made through one gateway reaches every node within a
//! moment, because each watches the bucket. Today: log levels (`logging`), and how
//! many days of job history to keep (`retention`, applied by the gateways).
use std::collections::BTreeMap;

use async_nats::jetstream::{kv, stream};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::topology::Topology;
use crate::{Bus, subjects};

pub const LOGGING_KEY: &str = "logging";
/// Days of finished jobs' history kept (`PUT /v1/settings/retention`).
pub const RETENTION_KEY: &str = "retention";
pub const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// Log levels: one for everything, and others for the jobs of some dataflows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    pub level: String,
    pub dataflows: BTreeMap<String, String>,
}

impl Logging {
    /// The `EnvFilter` directives: the level, then each dataflow's jobs (their
    /// `job` span names the dataflow).
    pub fn directives(&self) -> String {
        let mut out = self.level.clone();
        for (dataflow, level) in &self.dataflows {
            out += &format!(",[job{{dataflow={dataflow}}}]={level}");
        }
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!("{}\n", self.level);
        for (dataflow, level) in &self.dataflows {
            text += &format!("{dataflow}={level}\n");
        }
        text.into_bytes()
    }

    /// Reads what [`Logging::to_bytes`] wrote; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<Logging> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let level = lines.next()?.to_string();
        let dataflows = lines
            .map(|l| {
                l.split_once('=')
                    .map(|(d, v)| (d.to_string(), v.to_string()))
            })
            .collect::<Option<_>>()?;
        Some(Logging { level, dataflows })
    }
}

pub async fn bucket(bus: &Bus, topology: &Topology) -> Result<kv::Store> {
    let config = kv::Config {
        bucket: subjects::SETTINGS_BUCKET.into(),
        history: 1,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    topology.key_value(&bus.jetstream, config).await
}

/// Applies the log levels now and at every change, until `shutdown`. A deleted
/// setting returns to the levels the process started with.
pub async fn follow_logging(bus: Bus, topology: Topology, shutdown: CancellationToken) {
    let Ok(store) = bucket(&bus, &topology).await else {
        tracing::warn!("settings bucket unavailable; log levels stay as started");
        return;
    };
    // The watch starts with the current value, then sends each change.
    let Ok(mut changes) = store.watch_with_history(LOGGING_KEY).await else {
        tracing::warn!("settings not watched; log levels stay as started");
        return;
    };
    loop {
        let entry = tokio::select! {
            () = shutdown.cancelled() => return,
            entry = changes.next() => entry,
        };
        let Some(Ok(entry)) = entry else { return };
        let directives = match entry.operation {
            kv::Operation::Put => match Logging::from_bytes(&entry.value) {
                Some(logging) => logging.directives(),
                None => continue,
            },
            _ => prism_telemetry::initial_log_filter().to_string(),
        };
        match prism_telemetry::set_log_filter(&directives) {
            Ok(()) => tracing::warn!(filter = %directives, "log levels changed"),
            Err(error) => tracing::warn!(%error, "log levels not changed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_round_trips_and_names_dataflow_spans() {
        let logging = Logging {
            level: "warn".into(),
            dataflows: [("adults".to_string(), "debug".to_string())].into(),
        };
        assert_eq!(logging.directives(), "warn,[job{dataflow=adults}]=debug");
        assert_eq!(Logging::from_bytes(&logging.to_bytes()), Some(logging));
        assert_eq!(Logging::from_bytes(b"info\nnot-a-pair\n"), None);
    }
}
