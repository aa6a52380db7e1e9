//! The connections the latest version of each dataflow names, as this gateway last
//! read them: a submission checks that its caller may use each without a store
//! read of its own, leaving the accepting transaction as the submission's one
//! visit to the configuration database.
//!
//! A stale entry can only refuse, never admit: the accepting transaction compares
//! the version it finds with what was checked and refuses a job whose dataflow
//! names another connection (409), and that refusal drops the entry. Entries are
//! dropped when a dataflow's change event arrives (from this gateway or any other),
//! and live at most [`TTL`] in case the event never does.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use prism_bus::subjects::{self, ConfigEntity};
use prism_outbox::Staged;
use prism_schemas::v1::ConfigEvent;
use prost::Message;
use tokio_util::sync::CancellationToken;

/// How long an entry is used without a change event confirming nothing changed.
const TTL: Duration = Duration::from_secs(5);
/// Entries kept before the map is emptied (a flood of names must not grow it).
const MAX_ENTRIES: usize = 10_000;

/// When an entry was read, and the connections it names.
type Entry = (Instant, Arc<Vec<String>>);

#[derive(Default)]
pub struct LatestConnections {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LatestConnections {
    pub fn get(&self, dataflow: &str) -> Option<Arc<Vec<String>>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (read_at, connections) = entries.get(dataflow)?;
        (read_at.elapsed() < TTL).then(|| connections.clone())
    }

    pub fn keep(&self, dataflow: &str, connections: Arc<Vec<String>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(dataflow.to_string(), (Instant::now(), connections));
    }

    pub fn forget(&self, dataflow: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(dataflow);
    }

    /// Forgets every dataflow a committed change of this gateway touches, before
    /// its answer: the caller's next submission sees the change.
    pub fn forget_changed(&self, staged: &Staged) {
        for message in &staged.entry.messages {
            self.forget_announced(&message.subject, &message.payload);
        }
    }

    fn forget_announced(&self, subject: &str, payload: &[u8]) {
        let changes = subjects::config_events(ConfigEntity::Dataflow);
        let prefix = changes.trim_end_matches('>');
        if subject.starts_with(prefix)
            && let Ok(event) = ConfigEvent::decode(payload)
        {
            self.forget(&event.name);
        }
    }

    /// Forgets each dataflow whose change any gateway announces, until `shutdown`.
    pub async fn watch(self: Arc<Self>, bus: prism_bus::Bus, shutdown: CancellationToken) {
        let filter = subjects::config_events(ConfigEntity::Dataflow);
        let mut changes = match bus.client.subscribe(filter).await {
            Ok(changes) => changes,
            Err(error) => {
                // The entries still expire: submissions see changes within the TTL.
                tracing::warn!(%error, "dataflow changes not followed; cached connections expire instead");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                next = changes.next() => match next {
                    Some(message) => self.forget_announced(&message.subject, &message.payload),
                    None => return,
                },
            }
        }
    }
}
