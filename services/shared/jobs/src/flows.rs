//! Process flow runs, started and saved one way by everyone who does: the API
//! (`POST /v1/processflows/{name}/runs`, resumes, decisions, cancels), a parent
//! run's `flow` activity, a schedule's occurrence, and the schedulers that advance
//! runs. Every write of a run stages its events (`prism_flows::events`) in the
//! same transaction, so a committed change is always announced.
use std::collections::BTreeMap;

use prism_auth::{Action, Entity, Permission};
use prism_flows::{ActivitySpec, Flow, run};
use prism_outbox::{Outbox, Staged};
use prism_schemas::v1::{FlowEvent, FlowRunRecord};
use prism_store::records::{dataflows, flow_runs, now_ms, processflows};
use prism_store::{Store, Tx};

use crate::SubmitError;

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub flow: String,
    pub parameters: BTreeMap<String, String>,
    /// A retried start with the same key is the same run.
    pub idempotency_key: Option<String>,
    /// The user the run's jobs run for.
    pub submitted_by: String,
    /// The run whose activity starts this one, if any.
    pub parent_run: String,
}

/// A run as it would start now, with what it needs permission for.
#[derive(Debug, Clone)]
pub struct Planned {
    pub run: FlowRunRecord,
    /// The flow, its dataflows and their connections, each needing `execute`.
    pub permissions: Vec<Permission>,
}

/// The run `request` starts: the flow's latest version, pinned with the latest
/// version of each dataflow it runs (directly or in a `foreach`).
pub async fn plan(store: &Store, request: &StartRequest) -> Result<Planned, SubmitError> {
    store
        .transact(|tx| async move {
            match plan_in(&tx, request).await {
                Err(SubmitError::Store(error)) => Err(error),
                decided => Ok(decided),
            }
        })
        .await?
}

async fn plan_in(tx: &Tx, request: &StartRequest) -> Result<Planned, SubmitError> {
    let name = &request.flow;
    let record = processflows::latest(tx, name)
        .await?
        .ok_or_else(|| SubmitError::not_found("name", format!("no process flow named {name:?}")))?;
    let flow = prism_flows::validate::from_stored(&record.document_json).map_err(|_| {
        SubmitError::invalid(
            "name",
            format!("process flow {name:?} is stored unreadable"),
        )
    })?;
    let parameters = run::parameters(&flow, &request.parameters)
        .map_err(|(field, message)| SubmitError::invalid(field, message))?;
    let mut permissions = vec![Permission::on(Action::Execute, Entity::ProcessFlows, name)];
    let mut pinned = BTreeMap::new();
    for dataflow in dataflows_of(&flow) {
        let latest = dataflows::latest(tx, &dataflow).await?.ok_or_else(|| {
            SubmitError::not_found(
                "name",
                format!("the flow runs dataflow {dataflow:?}, which no longer exists"),
            )
        })?;
        permissions.push(Permission::on(
            Action::Execute,
            Entity::Dataflows,
            &dataflow,
        ));
        for connection in latest.outline.iter().flat_map(|o| &o.connections) {
            permissions.push(Permission::on(
                Action::Execute,
                Entity::Connections,
                connection,
            ));
        }
        pinned.insert(dataflow, latest.version);
    }
    permissions.sort_by_key(|p| p.to_string());
    permissions.dedup_by_key(|p| p.to_string());
    let run = FlowRunRecord {
        id: uuid::Uuid::now_v7().to_string(),
        flow: record.name,
        flow_version: record.version,
        parameters: parameters.into_iter().collect(),
        state: run::RUNNING.into(),
        created_at_ms: now_ms(),
        submitted_by: request.submitted_by.clone(),
        activities: run::activities(&flow),
        dataflow_versions: pinned.into_iter().collect(),
        parent_run: request.parent_run.clone(),
        ..FlowRunRecord::default()
    };
    Ok(Planned { run, permissions })
}

/// The dataflows `flow`'s jobs run, each once.
fn dataflows_of(flow: &Flow) -> Vec<String> {
    let mut names: Vec<String> = flow
        .activities
        .iter()
        .filter_map(|a| match &a.spec {
            ActivitySpec::Job(job) => Some(job.dataflow.clone()),
            ActivitySpec::Foreach(f) => match f.each.as_ref() {
                ActivitySpec::Job(job) => Some(job.dataflow.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Why `user` may not start `planned`, if they may not (for starters without an
/// HTTP caller: schedules and parent runs).
pub async fn refusal(
    tx: &Tx,
    user: &str,
    planned: &Planned,
) -> prism_store::Result<Option<String>> {
    for wanted in &planned.permissions {
        let decision = prism_auth::directory::check(tx, user, wanted).await?;
        if !decision.allowed {
            return Ok(Some(format!(
                "{user} may not {wanted}: {}",
                decision.because
            )));
        }
    }
    Ok(None)
}

/// Stores a new run and stages its `started` event, unless its idempotency key
/// started one already: answers the run, and the entry to publish if it is new.
pub async fn create(
    tx: &Tx,
    mut run: FlowRunRecord,
    key: Option<&str>,
) -> prism_store::Result<(FlowRunRecord, Option<Staged>)> {
    if let Some(key) = key {
        if let Some(id) = flow_runs::by_key(tx, &run.flow, key).await?
            && let Some(existing) = flow_runs::get(tx, &id).await?
        {
            return Ok((existing, None));
        }
        flow_runs::remember_key(tx, &run.flow, key, &run.id).await?;
        run.idempotency_key = key.to_string();
    }
    let actor = run.submitted_by.clone();
    let staged = save(tx, None, &run, &actor).await?;
    Ok((run, Some(staged)))
}

/// Writes `after` over `before` (`None`: a new run) and stages the events of the
/// change, made by `actor`.
pub async fn save(
    tx: &Tx,
    before: Option<&FlowRunRecord>,
    after: &FlowRunRecord,
    actor: &str,
) -> prism_store::Result<Staged> {
    flow_runs::put(tx, after).await?;
    stage(
        tx,
        prism_flows::events::changes(before, after, actor, now_ms()),
    )
    .await
}

/// Stages `events` for the outbox within `tx`.
pub async fn stage(tx: &Tx, events: Vec<FlowEvent>) -> prism_store::Result<Staged> {
    let messages = events
        .iter()
        .map(|event| {
            let subject = prism_bus::subjects::flow_event(&event.run_id, &event.kind);
            prism_bus::envelope(subject, &event.event_id, event)
        })
        .collect();
    prism_outbox::change::stage(tx, messages).await
}

/// Publishes what a change staged; if the bus is down, the relay publishes it.
pub async fn announce(outbox: &Outbox, staged: &Staged) {
    if let Err(error) = outbox.publish(staged).await {
        tracing::warn!(%error, "flow run change not announced yet; left to the relay");
    }
}
