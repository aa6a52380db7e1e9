//! Streams, consumers and buckets, created idempotently by every process at start.
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};

use crate::error::{Error, Result};
use crate::subjects;

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

const ENSURE_ATTEMPTS: u32 = 60;

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
    /// Retried for a while: on a NATS cluster, processes starting together race to
    /// create the same streams, and the meta leader may still be in election.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_ensure(js).await {
                Ok(()) => return Ok(()),
                Err(error) if attempt < ENSURE_ATTEMPTS => {
                    tracing::info!(%error, attempt, "jetstream topology not ready; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(error),
            }
        }
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
        self.bucket(js, subjects::JOB_ATTEMPTS_BUCKET).await?;
        self.services_bucket(js).await?;
        Ok(())
    }

    /// The bucket of exposed services: its entries never expire.
    pub async fn services_bucket(&self, js: &jetstream::Context) -> Result<kv::Store> {
        if let Ok(store) = js.get_key_value(subjects::SERVICES_BUCKET).await {
            return Ok(store);
        }
        js.create_key_value(kv::Config {
            bucket: subjects::SERVICES_BUCKET.into(),
            history: 1,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::jetstream("create key-value bucket", e))
    }

    /// The bucket `name`, created if missing.
    pub async fn bucket(&self, js: &jetstream::Context, name: &str) -> Result<kv::Store> {
        if let Ok(store) = js.get_key_value(name).await {
            return Ok(store);
        }
        js.create_key_value(kv::Config {
            bucket: name.into(),
            history: 1,
            max_age: JOB_STATE_MAX_AGE,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::jetstream("create key-value bucket", e))
    }
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
