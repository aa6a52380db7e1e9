//! What a job costs the bus and the configuration database, counted from what the
//! servers themselves saw: every message the nats-server received from a client
//! (an admin subscription to `>` sees each one once, classified by subject), each
//! stream's sequence (the messages it stored), and the platform's
//! `prism_store_commits_total`.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;

use crate::Api;

/// The kinds of bus operations.
pub const PUBLISHED: &str = "publish, acknowledged (events, run messages)";
pub const LOGGED: &str = "publish, not acknowledged (job logs)";
pub const ACKED: &str = "acknowledgement of a delivery";
pub const PROGRESS: &str = "progress (+WPI) of a delivery";
pub const DELIVERED: &str = "delivery of a stored message to a consumer";
pub const KV_WRITE: &str = "key-value write (job attempts)";
pub const KV_READ: &str = "key-value read (job attempts)";
pub const FETCH: &str = "consumer fetch";
pub const OTHER_API: &str = "other JetStream API request";
pub const CORE: &str = "core request or message";
/// Every kind, in the order the benchmark prints them.
pub const KINDS: &[&str] = &[
    PUBLISHED, LOGGED, ACKED, PROGRESS, DELIVERED, KV_WRITE, KV_READ, FETCH, OTHER_API, CORE,
];

/// Counts of one interval: bus operations by kind, messages stored by stream, and
/// store commits.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub bus: BTreeMap<&'static str, u64>,
    /// The same messages by subject, ids and sequence numbers as `*`.
    pub subjects: BTreeMap<String, u64>,
    pub stored: BTreeMap<String, u64>,
    pub commits: u64,
}

impl Counts {
    /// `self - before`, entry by entry.
    pub fn since(&self, before: &Counts) -> Counts {
        let minus = |now: u64, then: Option<&u64>| now.saturating_sub(then.copied().unwrap_or(0));
        Counts {
            bus: self
                .bus
                .iter()
                .map(|(k, v)| (*k, minus(*v, before.bus.get(k))))
                .collect(),
            subjects: self
                .subjects
                .iter()
                .map(|(k, v)| (k.clone(), minus(*v, before.subjects.get(k))))
                .collect(),
            stored: self
                .stored
                .iter()
                .map(|(k, v)| (k.clone(), minus(*v, before.stored.get(k))))
                .collect(),
            commits: self.commits.saturating_sub(before.commits),
        }
    }

    pub fn bus_total(&self) -> u64 {
        self.bus.values().sum()
    }
}

/// The kind of the operation a client message on `subject` is, or `None` for what
/// is not one (replies to inboxes, the server's own advisories).
fn kind_of(message: &async_nats::Message) -> Option<&'static str> {
    let (subject, payload) = (message.subject.as_str(), &message.payload);
    // A consumer's delivery reaches an inbox (which `>` matches) under the stored
    // message's own subject, with the subject to acknowledge it on as its reply.
    let delivered = message
        .reply
        .as_ref()
        .is_some_and(|r| r.starts_with("$JS.ACK."));
    let kind = if delivered {
        DELIVERED
    } else if let Some(rest) = subject.strip_prefix("$JS.API.") {
        if rest.starts_with("CONSUMER.MSG.NEXT.") {
            FETCH
        } else if rest.starts_with("DIRECT.GET.KV_") || rest.starts_with("STREAM.MSG.GET.KV_") {
            KV_READ
        } else {
            OTHER_API
        }
    } else if subject.starts_with("$JS.ACK.") {
        if payload.starts_with(b"+WPI") {
            PROGRESS
        } else {
            ACKED
        }
    } else if subject.starts_with("$KV.") {
        KV_WRITE
    } else if subject.starts_with("prism.logs.") {
        LOGGED
    } else if subject.starts_with("prism.events.") || subject.starts_with("prism.jobs.run.") {
        PUBLISHED
    } else if subject.starts_with("_INBOX.") || subject.starts_with("$JS.EVENT.") {
        return None;
    } else {
        CORE
    };
    Some(kind)
}

/// `subject` with its variable tokens (ids, sequences, inboxes) as `*`.
fn shape_of(subject: &str) -> String {
    let tokens: Vec<&str> = subject
        .split('.')
        .map(|t| {
            let variable = t.len() > 20 || t.chars().all(|c| c.is_ascii_digit());
            if variable { "*" } else { t }
        })
        .collect();
    tokens.join(".")
}

type Counters = BTreeMap<&'static str, u64>;

/// A running tally: counts every client message the server receives.
pub struct Tally {
    nats: async_nats::Client,
    counts: Arc<Mutex<(Counters, BTreeMap<String, u64>)>>,
}

impl Tally {
    /// Starts counting; `admin` must be a client allowed to subscribe to `>`.
    pub async fn start(admin: async_nats::Client) -> Tally {
        let mut all = admin.subscribe(">").await.unwrap();
        let counts: Arc<Mutex<(Counters, BTreeMap<String, u64>)>> = Arc::default();
        let writer = counts.clone();
        tokio::spawn(async move {
            while let Some(message) = all.next().await {
                if let Some(kind) = kind_of(&message) {
                    let mut counts = writer.lock().unwrap();
                    *counts.0.entry(kind).or_default() += 1;
                    *counts.1.entry(shape_of(&message.subject)).or_default() += 1;
                }
            }
        });
        // The subscription is in place once the server answered a round trip.
        admin.flush().await.unwrap();
        Tally {
            nats: admin,
            counts,
        }
    }

    /// The counts so far: the tally's, each stream's last sequence, store commits
    /// from `/metrics` (read through `api`, whose token may read it).
    pub async fn read(&self, api: &Api) -> Counts {
        self.nats.flush().await.unwrap();
        let js = jetstream::new(self.nats.clone());
        let mut stored = BTreeMap::new();
        let mut streams = js.streams();
        while let Some(info) = streams.next().await {
            let info = info.unwrap();
            stored.insert(info.config.name.clone(), info.state.last_sequence);
        }
        let (status, text) = api.get_text("/metrics").await;
        assert_eq!(status, 200, "{text}");
        let commits = text
            .lines()
            .find_map(|line| line.strip_prefix("prism_store_commits_total "))
            .and_then(|n| n.trim().parse().ok())
            .expect("prism_store_commits_total in /metrics");
        let mut bus: Counters = KINDS.iter().map(|k| (*k, 0)).collect();
        let counts = self.counts.lock().unwrap();
        bus.extend(counts.0.iter().map(|(k, v)| (*k, *v)));
        Counts {
            bus,
            subjects: counts.1.clone(),
            stored,
            commits,
        }
    }

    /// Reads until two readings `settle` apart agree: the work measured is done,
    /// including the audit service's projection of its events.
    pub async fn settled(&self, api: &Api, settle: Duration) -> Counts {
        let mut last = self.read(api).await;
        loop {
            tokio::time::sleep(settle).await;
            let now = self.read(api).await;
            // Not every stream: node heartbeats write on their own schedule.
            let quiet = now.commits == last.commits && now.bus[PUBLISHED] == last.bus[PUBLISHED];
            if quiet {
                return now;
            }
            last = now;
        }
    }
}
