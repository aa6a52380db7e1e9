//! The transactional outbox. A change that others must hear about (a job accepted, a
//! connection saved) writes the messages to publish into the configuration database
//! *in the same transaction* as the change. After the commit, the writer publishes
//! them in order and clears the entry. If it dies in between, the entry stays, and the
//! relay that every gateway and scheduler runs publishes it after a grace period;
//! each message carries a `Nats-Msg-Id`, so JetStream drops a repeat. Nothing that
//! was committed is ever left unannounced, whichever processes are running, as long
//! as one gateway or scheduler is.
#![forbid(unsafe_code)]
use std::time::Duration;

use prism_bus::Bus;
use prism_errors::Retryable;
use prism_schemas::v1::{OutboxEntry, OutboxMessage};
use prism_store::records::{now_ms, outbox};
use prism_store::{Store, Tx};
use tokio_util::sync::CancellationToken;

pub mod change;
mod fault;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration database: {0}")]
    Store(#[from] prism_store::Error),
    #[error("bus: {0}")]
    Bus(#[from] prism_bus::Error),
}

impl Retryable for Error {
    fn retryable(&self) -> bool {
        match self {
            Error::Store(error) => error.retryable(),
            Error::Bus(error) => error.retryable(),
        }
    }
}

/// An entry written by a transaction, to publish once it has committed.
#[derive(Debug, Clone)]
pub struct Staged {
    pub id: String,
    pub entry: OutboxEntry,
}

/// Writes `messages` to the outbox under `id` within `tx`.
pub async fn stage(tx: &Tx, id: &str, messages: Vec<OutboxMessage>) -> prism_store::Result<Staged> {
    let entry = OutboxEntry {
        messages,
        created_at_ms: now_ms(),
    };
    outbox::put(tx, id, &entry).await?;
    Ok(Staged {
        id: id.to_string(),
        entry,
    })
}

/// The entry still waiting under `id`, if any.
pub async fn pending(tx: &Tx, id: &str) -> prism_store::Result<Option<Staged>> {
    Ok(outbox::get(tx, id).await?.map(|entry| Staged {
        id: id.to_string(),
        entry,
    }))
}

/// How often the relay looks for entries left behind.
pub const RELAY_PERIOD: Duration = Duration::from_secs(2);
/// How old an entry must be before the relay takes it over from its writer.
pub const RELAY_GRACE: Duration = Duration::from_secs(5);
/// Entries relayed per pass at most.
const RELAY_BATCH: usize = 500;

/// Published entries cleared in one transaction at most.
const CLEAR_BATCH: usize = 500;
/// Published entries waiting to be cleared; past this, a publisher clears its own.
const CLEAR_QUEUE: usize = 4096;

#[derive(Clone)]
pub struct Outbox {
    pub store: Store,
    pub bus: Bus,
    /// Ids of published entries, cleared together by [`clear_published`].
    cleared: tokio::sync::mpsc::Sender<String>,
}

impl Outbox {
    /// An outbox on `store` and `bus`, with the task that clears published entries
    /// in batches (it ends when the last clone of the outbox is dropped).
    pub fn new(store: Store, bus: Bus) -> Outbox {
        let (cleared, published) = tokio::sync::mpsc::channel(CLEAR_QUEUE);
        tokio::spawn(clear_published(store.clone(), published));
        Outbox {
            store,
            bus,
            cleared,
        }
    }

    /// Publishes a committed entry's messages in order, then has it cleared. Safe
    /// to repeat: a message published twice is dropped by JetStream.
    ///
    /// The clear is not waited for: it only saves the relay from publishing the
    /// entry again, which JetStream would drop (within its window; beyond it, the
    /// job id and attempt fence the run). So the entries published together are
    /// cleared in one transaction, and a submission costs one commit, not two.
    pub async fn publish(&self, staged: &Staged) -> Result<(), Error> {
        fault::crash_before_publish();
        self.bus.publish_envelopes(&staged.entry.messages).await?;
        if let Err(full) = self.cleared.try_send(staged.id.clone()) {
            let id = full.into_inner();
            self.store
                .transact_write(|tx| {
                    let id = id.as_str();
                    async move { outbox::clear(&tx, id).await }
                })
                .await?;
        }
        Ok(())
    }

    /// Publishes every entry older than `grace` (its writer died or lost the bus).
    /// Returns how many it published.
    pub async fn relay_pending(&self, grace: Duration) -> Result<usize, Error> {
        let entries = self
            .store
            .transact(|tx| async move { outbox::list(&tx, RELAY_BATCH).await })
            .await?;
        let cutoff = now_ms() - grace.as_millis() as i64;
        let mut relayed = 0;
        for (id, entry) in entries {
            if entry.created_at_ms > cutoff {
                continue;
            }
            tracing::info!(outbox_id = %id, "relaying an entry its writer left");
            self.publish(&Staged { id, entry }).await?;
            relayed += 1;
        }
        Ok(relayed)
    }

    /// Relays left-behind entries every [`RELAY_PERIOD`] until `shutdown`.
    pub async fn relay(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(RELAY_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if let Err(error) = self.relay_pending(RELAY_GRACE).await {
                tracing::warn!(%error, "outbox relay failed; retrying next period");
            }
        }
    }
}

/// Clears published entries, the ones queued together in one transaction.
async fn clear_published(store: Store, mut published: tokio::sync::mpsc::Receiver<String>) {
    let mut ids = Vec::with_capacity(CLEAR_BATCH);
    // No waiting for more: every entry published but not yet cleared when its
    // writer dies is published again by the relay, so clears stay prompt.
    while published.recv_many(&mut ids, CLEAR_BATCH).await > 0 {
        let cleared = store
            .transact_write(|tx| {
                let ids = &ids;
                async move {
                    for id in ids {
                        outbox::clear(&tx, id).await?;
                    }
                    Ok(())
                }
            })
            .await;
        if let Err(error) = cleared {
            // The relay publishes them again; JetStream drops the repeats.
            tracing::warn!(%error, entries = ids.len(), "published outbox entries not cleared");
        }
        ids.clear();
    }
}
