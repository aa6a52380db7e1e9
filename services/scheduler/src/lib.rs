//! The scheduler: fires every due occurrence of every enabled schedule exactly once,
//! and records occurrences it could not fire in time as misfires. No leader: each
//! replica fires the same occurrences, and the idempotency key
//! `schedule:<name>:<occurrence ms>` makes them one job (the store serializes the
//! accepting transactions; JetStream drops the repeated messages by id).
//!
//! It advances process flow runs the same way (`flows`), and relays outbox entries
//! whose writer died, like every gateway.
#![forbid(unsafe_code)]
mod clock;
mod flows;

use std::time::Duration;

use chrono::{DateTime, Utc};
use prism_auth::{Entity, Permission};
use prism_bus::{Bus, subjects, topology::Topology};
use prism_cron::{Action, Occurrence};
use prism_jobs::{SubmitError, SubmitRequest, Submitter};
use prism_outbox::Outbox;
use prism_schemas::v1::{ScheduleEvent, ScheduleRecord};
use prism_store::Store;
use prism_store::records::{now_ms, schedules};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use clock::Clock;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub topology: Topology,
    pub pool: String,
    pub max_attempts: u32,
    /// How often schedules are evaluated.
    pub tick: Duration,
    /// An occurrence later than this is not fired but recorded as misfired.
    pub misfire_grace: Duration,
    pub clock: Clock,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            topology: Topology::default(),
            pool: subjects::DEFAULT_POOL.into(),
            max_attempts: 5,
            tick: Duration::from_millis(500),
            misfire_grace: Duration::from_secs(60),
            clock: Clock::System,
        }
    }
}

pub struct SchedulerDeps {
    pub store: Store,
    pub bus: Bus,
}

/// Occurrences examined per schedule and tick, so a long outage cannot stall a tick.
const MAX_OCCURRENCES_PER_TICK: usize = 1_000;

pub async fn run(
    config: SchedulerConfig,
    deps: SchedulerDeps,
    shutdown: CancellationToken,
) -> prism_bus::Result<()> {
    config.topology.ensure(&deps.bus.jetstream).await?;
    let outbox = Outbox::new(deps.store, deps.bus);
    let submitter = Submitter::new(outbox.clone(), config.pool.clone(), config.max_attempts);
    let relay = tokio::spawn(outbox.clone().relay(shutdown.clone()));
    let mut nudges =
        flows::Nudges::subscribe(&outbox.bus)
            .await
            .map_err(|e| prism_bus::Error::JetStream {
                operation: "subscribe to job and flow events",
                reason: e.to_string(),
            })?;
    let mut flows = flows::Flows::new(submitter.clone());
    tracing::info!("scheduler started");
    let mut ticker = tokio::time::interval(config.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(nudge) = nudges.next() => {
                flows.nudged(nudge).await;
                continue;
            }
            _ = ticker.tick() => {}
        }
        if let Err(error) = tick(&config, &submitter).await {
            tracing::warn!(%error, "schedule evaluation failed; retrying next tick");
        }
        flows.advance_all().await;
    }
    let _ = relay.await;
    Ok(())
}

async fn tick(config: &SchedulerConfig, submitter: &Submitter) -> Result<(), SubmitError> {
    let all = submitter
        .store()
        .transact(|tx| async move { schedules::list(&tx).await })
        .await?;
    let now = config.clock.now();
    for schedule in all.into_iter().filter(|s| s.enabled) {
        if let Err(error) = fire_due(config, submitter, &schedule, now).await {
            tracing::warn!(schedule = %schedule.name, %error, "schedule not evaluated");
        }
    }
    Ok(())
}

/// The occurrences of `schedule` due at `now`, each to fire or to record as misfired.
pub fn plan(
    schedule: &ScheduleRecord,
    now: DateTime<Utc>,
    misfire_grace: Duration,
) -> Result<Vec<Occurrence>, String> {
    let expression = prism_cron::parse(&schedule.cron).map_err(|e| e.to_string())?;
    let since = DateTime::<Utc>::from_timestamp_millis(schedule.handled_through_ms)
        .ok_or("handled-through time out of range")?;
    Ok(prism_cron::due(
        &expression,
        since,
        now,
        misfire_grace,
        MAX_OCCURRENCES_PER_TICK,
    ))
}

async fn fire_due(
    config: &SchedulerConfig,
    submitter: &Submitter,
    schedule: &ScheduleRecord,
    now: DateTime<Utc>,
) -> Result<(), SubmitError> {
    let due = plan(schedule, now, config.misfire_grace)
        .map_err(|message| SubmitError::invalid("cron", message))?;
    for occurrence in due {
        let occurrence_ms = occurrence.at.timestamp_millis();
        match occurrence.action {
            Action::Misfire { late } => {
                let detail = format!("{} ms late, beyond the misfire grace", late.as_millis());
                publish(submitter, schedule, "misfired", occurrence_ms, "", &detail).await?;
            }
            Action::Fire => {
                // Each occurrence's job starts its trace here.
                let span = tracing::info_span!(
                    "schedule fire",
                    schedule = %schedule.name,
                    occurrence_ms
                );
                fire(submitter, schedule, occurrence_ms)
                    .instrument(span)
                    .await?
            }
        }
        advance(submitter.store(), &schedule.name, occurrence_ms).await?;
    }
    Ok(())
}

/// Submits the occurrence's job, as the schedule's owner: an owner who may no
/// longer execute the dataflow gets a recorded refusal, not a run. A refusal of the
/// submission (the dataflow is gone, a parameter no longer fits) is a misfire. The
/// store or bus being down stops here, to try this occurrence again.
async fn fire(
    submitter: &Submitter,
    schedule: &ScheduleRecord,
    occurrence_ms: i64,
) -> Result<(), SubmitError> {
    if !schedule.processflow.is_empty() {
        return fire_flow(submitter, schedule, occurrence_ms).await;
    }
    let mut request = SubmitRequest {
        dataflow: schedule.dataflow.clone(),
        version: None,
        parameters: schedule.parameters.clone().into_iter().collect(),
        idempotency_key: Some(format!("schedule:{}:{occurrence_ms}", schedule.name)),
        schedule: Some(schedule.name.clone()),
        submitted_by: schedule.owner.clone(),
        permitted_connections: None,
    };
    match refusal(submitter.store(), schedule, &request).await? {
        Ok(permitted) => request.permitted_connections = Some(permitted),
        Err(because) => {
            tracing::warn!(schedule = %schedule.name, owner = %schedule.owner, %because, "occurrence refused");
            return publish(submitter, schedule, "refused", occurrence_ms, "", &because).await;
        }
    }
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
            .await
        }
        Err(error) if error.code().is_caller_error() => {
            let detail = prism_errors::bounded(&error.to_string());
            publish(submitter, schedule, "misfired", occurrence_ms, "", &detail).await
        }
        Err(error) => Err(error),
    }
}

/// Starts the occurrence's process flow run, as the schedule's owner: the same
/// run however many replicas fire it (the idempotency key), refused as a job
/// occurrence would be.
async fn fire_flow(
    submitter: &Submitter,
    schedule: &ScheduleRecord,
    occurrence_ms: i64,
) -> Result<(), SubmitError> {
    let key = format!("schedule:{}:{occurrence_ms}", schedule.name);
    let request = prism_jobs::flows::StartRequest {
        flow: schedule.processflow.clone(),
        parameters: schedule.parameters.clone().into_iter().collect(),
        idempotency_key: Some(key.clone()),
        submitted_by: schedule.owner.clone(),
        parent_run: String::new(),
    };
    let planned = match prism_jobs::flows::plan(submitter.store(), &request).await {
        Ok(planned) => planned,
        Err(error) if error.code().is_caller_error() => {
            let detail = prism_errors::bounded(&error.to_string());
            return publish(submitter, schedule, "misfired", occurrence_ms, "", &detail).await;
        }
        Err(error) => return Err(error),
    };
    if schedule.owner.is_empty() {
        let because = "the schedule has no owner: save it again to own it";
        return publish(submitter, schedule, "refused", occurrence_ms, "", because).await;
    }
    let created = submitter
        .store()
        .transact(|tx| {
            let (planned, key, owner) = (planned.clone(), key.clone(), schedule.owner.clone());
            async move {
                if let Some(why) = prism_jobs::flows::refusal(&tx, &owner, &planned).await? {
                    return Ok(Err(why));
                }
                prism_jobs::flows::create(&tx, planned.run, Some(&key))
                    .await
                    .map(Ok)
            }
        })
        .await?;
    match created {
        Ok((run, staged)) => {
            if let Some(staged) = staged {
                prism_jobs::flows::announce(submitter.outbox(), &staged).await;
            }
            publish(submitter, schedule, "fired", occurrence_ms, &run.id, "").await
        }
        Err(because) => {
            tracing::warn!(schedule = %schedule.name, owner = %schedule.owner, %because, "occurrence refused");
            publish(submitter, schedule, "refused", occurrence_ms, "", &because).await
        }
    }
}

/// Announces what became of an occurrence; `started` is the job, or the process
/// flow run, it started.
async fn publish(
    submitter: &Submitter,
    schedule: &ScheduleRecord,
    kind: &str,
    occurrence_ms: i64,
    started: &str,
    detail: &str,
) -> Result<(), SubmitError> {
    // The same id from every replica: JetStream keeps one event per occurrence.
    let event_id = format!("schedule.{}.{occurrence_ms}.{kind}", schedule.name);
    let mut event = ScheduleEvent {
        event_id: event_id.clone(),
        schedule: schedule.name.clone(),
        kind: kind.into(),
        occurrence_ms,
        occurred_at_ms: now_ms(),
        detail: detail.into(),
        owner: schedule.owner.clone(),
        ..ScheduleEvent::default()
    };
    if schedule.processflow.is_empty() {
        event.job_id = started.into();
    } else {
        event.flow_run = started.into();
    }
    if kind == "misfired" {
        tracing::warn!(schedule = %schedule.name, occurrence_ms, detail, "occurrence misfired");
    }
    submitter
        .bus()
        .publish_durable(
            subjects::schedule_event(&schedule.name, kind),
            &event_id,
            &event,
        )
        .await
        .inspect(|ack| {
            // Every replica publishes each occurrence; JetStream keeps the first, and
            // only the replica whose publish was kept counts it.
            if !ack.duplicate {
                prism_metrics::get().schedule_occurrence(kind);
            }
        })?;
    Ok(())
}

/// Why the schedule's owner may not run its dataflow now, if they may not.
/// The connections the owner may run the occurrence with, or why the owner may
/// not run it now: `execute` on the dataflow and on every connection it names.
async fn refusal(
    store: &Store,
    schedule: &ScheduleRecord,
    request: &SubmitRequest,
) -> Result<Result<Vec<String>, String>, SubmitError> {
    if schedule.owner.is_empty() {
        return Ok(Err(
            "the schedule has no owner: save it again to own it".into()
        ));
    }
    let checked = store
        .transact(|tx| async move {
            let connections = match prism_jobs::connections_of(&tx, request).await? {
                Ok(connections) => connections,
                Err(refused) => return Ok(Err(refused.to_string())),
            };
            let dataflow = Permission::on(
                prism_auth::Action::Execute,
                Entity::Dataflows,
                &schedule.dataflow,
            );
            let uses = connections
                .iter()
                .map(|c| Permission::on(prism_auth::Action::Execute, Entity::Connections, c));
            for wanted in std::iter::once(dataflow).chain(uses) {
                let decision = prism_auth::directory::check(&tx, &schedule.owner, &wanted).await?;
                if !decision.allowed {
                    let because =
                        format!("{} may not {wanted}: {}", schedule.owner, decision.because);
                    return Ok(Err(because));
                }
            }
            Ok(Ok(connections))
        })
        .await?;
    Ok(checked)
}

/// Marks occurrences through `occurrence_ms` as handled; never moves backwards, so
/// replicas racing here agree.
async fn advance(store: &Store, name: &str, occurrence_ms: i64) -> Result<(), SubmitError> {
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
