//! Advancing process flow runs. Every tick, each running run is read with the
//! outcomes of its jobs, moved on by `prism_flows::run::step`, its new jobs
//! submitted, and written back only over the very record it was computed from.
//! No leader: schedulers may advance one run at once. Each activity attempt's job
//! has the idempotency key `flow:<run>:<activity>:<attempt>`, so however many
//! schedulers submit it, and whenever one dies between submitting and writing, it
//! is one job; the write that loses (its record changed) is dropped and redone
//! from the new record at the next tick.
use std::collections::HashMap;

use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_errors::Retryable;
use prism_flows::run::{JobOutcome, RUNNING, Start, TIMEOUT, job_key, step};
use prism_flows::{ActivitySpec, Flow};
use prism_jobs::{SubmitRequest, Submitter};
use prism_outbox::Outbox;
use prism_outbox::change::{Change, stage};
use prism_schemas::v1::{FlowRunRecord, JobState};
use prism_store::Store;
use prism_store::records::{flow_runs, jobs, now_ms, processflows};

/// Runs advanced per tick: a bound on a tick's work, the rest wait their turn.
const MAX_RUNS_PER_TICK: usize = 500;

pub async fn advance_all(submitter: &Submitter, outbox: &Outbox) {
    let store = submitter.store();
    let ids = match store
        .transact(|tx| async move { flow_runs::running(&tx, MAX_RUNS_PER_TICK).await })
        .await
    {
        Ok(ids) => ids,
        Err(error) => {
            tracing::warn!(%error, "flow runs not read; retrying next tick");
            return;
        }
    };
    for id in ids {
        if let Err(error) = advance(store, submitter, outbox, &id).await {
            tracing::warn!(run = %id, %error, "flow run not advanced; retrying next tick");
        }
    }
}

type Read = (FlowRunRecord, Flow, HashMap<String, JobOutcome>);

async fn read(store: &Store, id: &str) -> Result<Option<Read>, String> {
    let id = id.to_string();
    let found = store
        .transact(|tx| {
            let id = id.clone();
            async move {
                let Some(run) = flow_runs::get(&tx, &id).await? else {
                    return Ok(None);
                };
                let flow = processflows::get_version(&tx, &run.flow, run.flow_version).await?;
                let mut outcomes = HashMap::new();
                for activity in run
                    .activities
                    .iter()
                    .filter(|a| a.state == RUNNING && !a.job_id.is_empty())
                {
                    let Some(job) = jobs::get(&tx, &activity.job_id).await? else {
                        continue;
                    };
                    let succeeded = match JobState::try_from(job.state) {
                        Ok(JobState::Succeeded) => true,
                        Ok(JobState::Failed | JobState::Cancelled) => false,
                        _ => continue,
                    };
                    let outcome = JobOutcome {
                        succeeded,
                        rows_read: job.rows_read,
                        rows_written: job.rows_written,
                    };
                    outcomes.insert(job.id, outcome);
                }
                Ok(Some((run, flow, outcomes)))
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some((run, Some(flow), outcomes)) = found else {
        return Ok(None);
    };
    let flow = prism_flows::validate::from_stored(&flow.document_json)
        .map_err(|problems| format!("stored flow unreadable: {problems:?}"))?;
    Ok(Some((run, flow, outcomes)))
}

async fn advance(
    store: &Store,
    submitter: &Submitter,
    outbox: &Outbox,
    id: &str,
) -> Result<(), String> {
    let Some((run, flow, outcomes)) = read(store, id).await? else {
        return Ok(());
    };
    if run.state != RUNNING {
        return Ok(());
    }
    let mut next = run.clone();
    let starts = step(&flow, &mut next, now_ms(), &|job| {
        outcomes.get(job).cloned()
    });
    for start in starts {
        submit(submitter, &flow, &mut next, &start).await?;
    }
    if next == run {
        return Ok(());
    }
    let id = id.to_string();
    let timed_out = timeouts(&run, &next);
    let staged = store
        .transact(|tx| {
            let (id, run, next, timed_out) = (id.clone(), run.clone(), next.clone(), timed_out.clone());
            async move {
                if flow_runs::get(&tx, &id).await?.as_ref() != Some(&run) {
                    return Ok(None);
                }
                flow_runs::put(&tx, &next).await?;
                if timed_out.is_empty() {
                    return Ok(None);
                }
                let messages = timed_out
                    .iter()
                    .map(|(activity, approved)| {
                        let op = if *approved { ConfigOp::Approve } else { ConfigOp::Reject };
                        let details = serde_json::json!({"flow": next.flow, "activity": activity, "decided_by": TIMEOUT});
                        Change::new(TIMEOUT, ConfigEntity::FlowRun, op, &id, details).message()
                    })
                    .collect();
                Ok(Some(stage(&tx, messages).await?))
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    if let Some(staged) = staged
        && let Err(error) = outbox.publish(&staged).await
    {
        tracing::warn!(%error, "approval timeout not announced yet; left to the relay");
    }
    Ok(())
}

/// The approvals `step` decided by their timeout, each approved or not.
fn timeouts(before: &FlowRunRecord, after: &FlowRunRecord) -> Vec<(String, bool)> {
    after
        .activities
        .iter()
        .filter(|a| a.decided_by == TIMEOUT)
        .filter(|a| {
            before
                .activities
                .iter()
                .any(|b| b.id == a.id && b.decided_by != TIMEOUT)
        })
        .map(|a| (a.id.clone(), a.state == prism_flows::run::SUCCEEDED))
        .collect()
}

/// Submits one attempt of a job activity and records its job in `run`; a job the
/// platform refuses (its dataflow is gone) fails the activity.
async fn submit(
    submitter: &Submitter,
    flow: &Flow,
    run: &mut FlowRunRecord,
    start: &Start,
) -> Result<(), String> {
    let Some(ActivitySpec::Job(job)) = flow
        .activities
        .iter()
        .find(|a| a.id == start.activity)
        .map(|a| &a.spec)
    else {
        return Ok(());
    };
    let values = run.parameters.clone().into_iter().collect();
    let parameters = job
        .parameters
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                prism_dataflow::parameters::substitute(v, &values),
            )
        })
        .collect();
    let request = SubmitRequest {
        dataflow: job.dataflow.clone(),
        version: run.dataflow_versions.get(&job.dataflow).copied(),
        parameters,
        idempotency_key: Some(job_key(&run.id, &start.activity, start.attempt)),
        schedule: None,
        submitted_by: run.submitted_by.clone(),
        permitted_connections: None,
    };
    let submitted = submitter.submit(request).await;
    let state = run
        .activities
        .iter_mut()
        .find(|a| a.id == start.activity)
        .expect("every activity has a state");
    match submitted {
        Ok(submitted) => state.job_id = submitted.job.id,
        Err(error) if error.retryable() => return Err(error.to_string()),
        Err(error) => {
            state.state = prism_flows::run::FAILED.into();
            state.finished_at_ms = now_ms();
            run.error = format!("{}: the job was refused: {error}", start.activity);
        }
    }
    Ok(())
}
