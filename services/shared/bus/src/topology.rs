//! Streams, consumers and buckets, created idempotently by every process at start.
use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, kv, stream};

use crate::error::{Error, Result};
use crate::subjects;
use prism_errors::Retryable;

/// JetStream drops a message whose `Nats-Msg-Id` it saw within this window. Long
/// enough to cover a gateway's or scheduler's retries; beyond it, the job-attempt
/// bucket fences duplicates.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long events stay on `EVENTS` for outside consumers.
pub const EVENTS_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long jobs' log lines stay.
pub const LOGS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Log lines kept per job (the oldest go first): a chatty job cannot fill the disk.
pub const LOG_LINES_PER_JOB: i64 = 1000;
/// The largest log line, in bytes.
pub const LOG_LINE_MAX_BYTES: i32 = 4096;
/// How long attempt and cancel records stay: longer than any job may run.
pub const JOB_STATE_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a starting service waits for the bus before it gives up: long enough
/// for a NATS cluster to elect its leaders and for its last node to start.
const PATIENCE: Duration = Duration::from_secs(180);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs `attempt` until it succeeds, waiting longer after each failure (250 ms,
/// doubling to 5 s), each one logged, for at most [`PATIENCE`]. On a cluster,
/// processes start together while NATS nodes are still starting or electing
/// leaders, and a stream of three replicas cannot be made until three nodes run:
/// every stream, bucket and consumer a service makes waits for the bus this way.
pub async fn patiently<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    let mut delay = FIRST_BACKOFF;
    let mut tries = 0u32;
    loop {
        tries += 1;
        match attempt().await {
            Ok(value) => {
                if tries > 1 {
                    tracing::info!(what, tries, "bus ready");
                }
                return Ok(value);
            }
            Err(error) if error.retryable() && Instant::now() + delay < deadline => {
                tracing::info!(
                    %error,
                    what,
                    tries,
                    retry_in_ms = delay.as_millis() as u64,
                    "bus not ready; waiting"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            Err(error) => return Err(error),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Topology {
    /// Stream and bucket replicas: 1 on one server, 3 on a NATS cluster.
    pub replicas: usize,
}

impl Default for Topology {
    fn default() -> Self {
        Topology { replicas: 1 }
    }
}

impl Topology {
    /// Creates what is missing; existing streams and buckets are left as they are.
    /// Waits for the bus ([`patiently`]): processes starting together race to
    /// create the same streams, and the meta leader may still be in election.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<()> {
        patiently("create streams and buckets", || self.try_ensure(js)).await
    }

    async fn try_ensure(&self, js: &jetstream::Context) -> Result<()> {
        js.get_or_create_stream(stream::Config {
            name: subjects::JOBS_STREAM.into(),
            subjects: vec![subjects::JOBS_SUBJECTS.into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: self.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::jetstream("create stream JOBS", e))?;
        js.get_or_create_stream(stream::Config {
            name: subjects::EVENTS_STREAM.into(),
            subjects: vec![subjects::EVENTS_SUBJECTS.into()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            max_age: EVENTS_MAX_AGE,
            num_replicas: self.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::jetstream("create stream EVENTS", e))?;
        js.get_or_create_stream(stream::Config {
            name: subjects::LOGS_STREAM.into(),
            subjects: vec![subjects::LOGS_SUBJECTS.into()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: LOGS_MAX_AGE,
            max_messages_per_subject: LOG_LINES_PER_JOB,
            max_message_size: LOG_LINE_MAX_BYTES,
            discard: stream::DiscardPolicy::Old,
            num_replicas: self.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::jetstream("create stream LOGS", e))?;
        get_or_create_bucket(js, self.bucket_config(subjects::JOB_ATTEMPTS_BUCKET)).await?;
        get_or_create_bucket(js, self.services_bucket_config()).await?;
        Ok(())
    }

    /// The bucket of exposed services: its entries never expire.
    pub async fn services_bucket(&self, js: &jetstream::Context) -> Result<kv::Store> {
        self.key_value(js, self.services_bucket_config()).await
    }

    fn services_bucket_config(&self) -> kv::Config {
        kv::Config {
            bucket: subjects::SERVICES_BUCKET.into(),
            history: 1,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            ..Default::default()
        }
    }

    /// The bucket `name`, created if missing; its entries live as long as a job may.
    pub async fn bucket(&self, js: &jetstream::Context, name: &str) -> Result<kv::Store> {
        self.key_value(js, self.bucket_config(name)).await
    }

    fn bucket_config(&self, name: &str) -> kv::Config {
        kv::Config {
            bucket: name.into(),
            history: 1,
            max_age: JOB_STATE_MAX_AGE,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            ..Default::default()
        }
    }

    /// The bucket `config` names, created as `config` says if missing (with this
    /// topology's replicas), waiting for the bus.
    pub async fn key_value(
        &self,
        js: &jetstream::Context,
        config: kv::Config,
    ) -> Result<kv::Store> {
        let config = kv::Config {
            num_replicas: self.replicas,
            ..config
        };
        let what = format!("open key-value bucket {}", config.bucket);
        patiently(&what, || get_or_create_bucket(js, config.clone())).await
    }

    /// The durable pull consumer `config` names on `stream`, created if missing,
    /// waiting for the bus.
    pub async fn consumer(
        &self,
        js: &jetstream::Context,
        stream: &str,
        config: consumer::pull::Config,
    ) -> Result<consumer::PullConsumer> {
        let name = config.durable_name.clone().unwrap_or_default();
        let what = format!("create consumer {name} on {stream}");
        patiently(&what, || async {
            js.get_stream(stream)
                .await
                .map_err(|e| Error::jetstream("open stream", e))?
                .get_or_create_consumer(&name, config.clone())
                .await
                .map_err(|e| Error::jetstream("create consumer", e))
        })
        .await
    }
}

async fn get_or_create_bucket(js: &jetstream::Context, config: kv::Config) -> Result<kv::Store> {
    if let Ok(store) = js.get_key_value(&config.bucket).await {
        return Ok(store);
    }
    js.create_key_value(config)
        .await
        .map_err(|e| Error::jetstream("create key-value bucket", e))
}

/// The executors' shared pull consumer of a pool.
pub fn executor_consumer_config(pool: &str, ack_wait: Duration) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(subjects::executor_consumer(pool)),
        filter_subject: subjects::job_run(pool),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait,
        // Unbounded here on purpose: the executor itself dead-letters a job past its
        // `max_attempts`, recording the reason, which a server-side limit cannot do.
        max_deliver: -1,
        max_ack_pending: 10_000,
        ..Default::default()
    }
}

/// The audit service's durable consumer on every event it records (not service
/// calls, so that thousands of calls a second do not pass through it to be dropped).
/// A consumer made by an earlier version keeps its filter of every event.
pub fn audit_consumer_config() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(subjects::AUDIT_CONSUMER.into()),
        filter_subjects: subjects::AUDITED_EVENTS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 1_000,
        ..Default::default()
    }
}
