//! The scheduler: fires every due occurrence of every enabled schedule exactly once,
//! and records occurrences it could not fire in time as misfires. No leader: each
//! replica fires the same occurrences, and the idempotency key
//! `schedule:<name>:<occurrence ms>` makes them one job (the store serializes the
//! accepting transactions; JetStream drops the repeated messages by id).
//!
//! It also dispatches jobs whose gateway died between accepting and publishing them.
pub mod cron;

use std::time::Duration;

use chrono::{DateTime, Utc};
use prism_bus::{Bus, subjects, topology::Topology};
use prism_jobs::{SubmitRequest, Submitter};
use prism_schemas::v1::{ScheduleEvent, ScheduleRecord};
use prism_store::Store;
use prism_store::records::{now_ms, schedules};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub topology: Topology,
    pub pool: String,
    pub max_attempts: u32,
    /// How often schedules are evaluated.
    pub tick: Duration,
    /// An occurrence later than this is not fired but recorded as misfired.
    pub misfire_grace: Duration,
    /// How long a job may stay accepted but unpublished before the sweep publishes it.
    pub pending_grace: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            topology: Topology::default(),
            pool: subjects::DEFAULT_POOL.into(),
            max_attempts: 5,
            tick: Duration::from_millis(500),
            misfire_grace: Duration::from_secs(60),
            pending_grace: Duration::from_secs(15),
        }
    }
}

/// Occurrences examined per schedule and tick, so a long outage cannot stall a tick.
const MAX_OCCURRENCES_PER_TICK: usize = 1_000;

pub async fn run(
    config: SchedulerConfig,
    store: Store,
    bus: Bus,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.topology.ensure(&bus.jetstream).await?;
    let submitter = Submitter {
        store: store.clone(),
        bus: bus.clone(),
        pool: config.pool.clone(),
        max_attempts: config.max_attempts,
    };
    tracing::info!("scheduler started");
    let mut ticker = tokio::time::interval(config.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        if let Err(error) = tick(&config, &store, &submitter).await {
            tracing::warn!(%error, "schedule evaluation failed; retrying next tick");
        }
        if let Err(error) = submitter.sweep_pending(config.pending_grace).await {
            tracing::warn!(%error, "pending dispatch sweep failed");
        }
    }
}

async fn tick(
    config: &SchedulerConfig,
    store: &Store,
    submitter: &Submitter,
) -> anyhow::Result<()> {
    let all = store
        .transact(|tx| async move { schedules::list(&tx).await })
        .await?;
    let now = Utc::now();
    for schedule in all.into_iter().filter(|s| s.enabled) {
        if let Err(error) = fire_due(config, store, submitter, &schedule, now).await {
            tracing::warn!(schedule = %schedule.name, %error, "schedule not evaluated");
        }
    }
    Ok(())
}

async fn fire_due(
    config: &SchedulerConfig,
    store: &Store,
    submitter: &Submitter,
    schedule: &ScheduleRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let expression = cron::parse(&schedule.cron).map_err(anyhow::Error::msg)?;
    let Some(since) = DateTime::<Utc>::from_timestamp_millis(schedule.handled_through_ms) else {
        return Ok(());
    };
    let due: Vec<DateTime<Utc>> = expression
        .after(&since)
        .take_while(|t| *t <= now)
        .take(MAX_OCCURRENCES_PER_TICK)
        .collect();
    for occurrence in due {
        let occurrence_ms = occurrence.timestamp_millis();
        let late = (now - occurrence).to_std().unwrap_or_default();
        if late > config.misfire_grace {
            let detail = format!("{} ms late, beyond the misfire grace", late.as_millis());
            publish(submitter, schedule, "misfired", occurrence_ms, "", &detail).await?;
        } else {
            let request = SubmitRequest {
                dataflow: schedule.dataflow.clone(),
                version: None,
                parameters: schedule.parameters.clone().into_iter().collect(),
                idempotency_key: Some(format!("schedule:{}:{occurrence_ms}", schedule.name)),
                schedule: Some(schedule.name.clone()),
            };
            match submitter.submit(request).await {
                Ok(submitted) => {
                    publish(
                        submitter,
                        schedule,
                        "fired",
                        occurrence_ms,
                        &submitted.job.id,
                        "",
                    )
                    .await?;
                }
                Err(
                    error @ (prism_jobs::SubmitError::Invalid { .. }
                    | prism_jobs::SubmitError::NotFound { .. }),
                ) => {
                    publish(
                        submitter,
                        schedule,
                        "misfired",
                        occurrence_ms,
                        "",
                        &error.to_string(),
                    )
                    .await?;
                }
                // The store or bus is down: stop here and try this occurrence again.
                Err(error) => return Err(error.into()),
            }
        }
        advance(store, &schedule.name, occurrence_ms).await?;
    }
    Ok(())
}

async fn publish(
    submitter: &Submitter,
    schedule: &ScheduleRecord,
    kind: &str,
    occurrence_ms: i64,
    job_id: &str,
    detail: &str,
) -> anyhow::Result<()> {
    // The same id from every replica: JetStream keeps one event per occurrence.
    let event_id = format!("schedule.{}.{occurrence_ms}.{kind}", schedule.name);
    let event = ScheduleEvent {
        event_id: event_id.clone(),
        schedule: schedule.name.clone(),
        kind: kind.into(),
        occurrence_ms,
        job_id: job_id.into(),
        occurred_at_ms: now_ms(),
        detail: detail.into(),
    };
    if kind == "misfired" {
        tracing::warn!(schedule = %schedule.name, occurrence_ms, detail, "occurrence misfired");
    }
    submitter
        .bus
        .publish_durable(
            subjects::schedule_event(&schedule.name, kind),
            &event_id,
            &event,
        )
        .await?;
    Ok(())
}

/// Marks occurrences through `occurrence_ms` as handled; never moves backwards, so
/// replicas racing here agree.
async fn advance(store: &Store, name: &str, occurrence_ms: i64) -> anyhow::Result<()> {
    store
        .transact(|tx| async move {
            if let Some(mut record) = schedules::get(&tx, name).await?
                && record.handled_through_ms < occurrence_ms
            {
                record.handled_through_ms = occurrence_ms;
                schedules::put(&tx, &record).await?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}
