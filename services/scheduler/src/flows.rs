//! Advancing process flow runs. A run is read with the outcomes of its jobs and
//! child runs, moved on by `prism_flows::run::step`, its new work started, and
//! written back only over the very record it was computed from (with its events,
//! `prism_jobs::flows::save`). No leader: schedulers may advance one run at once.
//! Each attempt's job or child run has the idempotency key
//! `flow:<run>:<activity>[<item>]:<attempt>`, so however many schedulers start it,
//! and whenever one dies between starting and writing, it is one job; the write
//! that loses (its record changed) is dropped and redone from the new record.
//!
//! Every running run is advanced each tick (so none is ever stuck); a run is also
//! advanced as soon as something it waits for happens ([`Nudges`]): it started, an
//! approval was decided, one of its jobs or child runs ended.
use std::collections::HashMap;

use futures::StreamExt;
use prism_bus::{Bus, subjects};
use prism_errors::Retryable;
use prism_flows::run::{self, JobOutcome, RUNNING, Start, step};
use prism_flows::{ActivitySpec, Flow};
use prism_jobs::flows::{self, StartRequest};
use prism_jobs::{SubmitRequest, Submitter};
use prism_schemas::v1::{FlowEvent, FlowRunRecord, JobEvent, JobState};
use prism_store::Store;
use prism_store::records::{flow_runs, jobs, now_ms, processflows};

/// Runs advanced per tick: a bound on a tick's work, the rest wait their turn.
const MAX_RUNS_PER_TICK: usize = 500;
/// How deep child flows nest: a flow that starts itself through others stops here.
const MAX_DEPTH: usize = 8;
/// Jobs and child runs remembered for nudging; past this the map starts over and
/// the ticks refill it.
const MAX_WATCHED: usize = 100_000;

/// What advances runs: the submitter (and its outbox), and which run each running job
/// or child run belongs to.
pub struct Flows {
    submitter: Submitter,
    owners: HashMap<String, String>,
}

/// Something a run may be waiting for happened.
pub enum Nudge {
    /// Run `0` started or had an approval decided.
    Run(String),
    /// A job or child run ended, with its outcome.
    Ended(String, JobOutcome),
}

impl Flows {
    pub fn new(submitter: Submitter) -> Flows {
        Flows {
            submitter,
            owners: HashMap::new(),
        }
    }

    pub async fn advance_all(&mut self) {
        let store = self.submitter.store().clone();
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
            self.advance_logged(&id, None).await;
        }
    }

    pub async fn nudged(&mut self, nudge: Nudge) {
        match nudge {
            Nudge::Run(id) => self.advance_logged(&id, None).await,
            Nudge::Ended(handle, outcome) => {
                if let Some(id) = self.owners.remove(&handle) {
                    self.advance_logged(&id, Some((handle, outcome))).await;
                }
            }
        }
    }

    async fn advance_logged(&mut self, id: &str, ended: Option<(String, JobOutcome)>) {
        if let Err(error) = self.advance(id, ended).await {
            tracing::warn!(run = %id, %error, "flow run not advanced; retrying next tick");
        }
    }

    async fn advance(
        &mut self,
        id: &str,
        ended: Option<(String, JobOutcome)>,
    ) -> Result<(), String> {
        let store = self.submitter.store().clone();
        let Some((run, flow, mut outcomes)) = read(&store, id).await? else {
            return Ok(());
        };
        if run.state != RUNNING {
            return Ok(());
        }
        outcomes.extend(ended);
        let mut next = run.clone();
        let starts = step(&flow, &mut next, now_ms(), &|handle| {
            outcomes.get(handle).cloned()
        });
        for start in starts {
            self.start(&flow, &mut next, &start).await?;
        }
        self.watch(&next);
        if next == run {
            return Ok(());
        }
        let actor = run.submitted_by.clone();
        let staged = store
            .transact(|tx| {
                let (id, run, next, actor) =
                    (id.to_string(), run.clone(), next.clone(), actor.clone());
                async move {
                    // Another scheduler moved it first: redone from its record.
                    if flow_runs::get(&tx, &id).await?.as_ref() != Some(&run) {
                        return Ok(None);
                    }
                    flows::save(&tx, Some(&run), &next, &actor).await.map(Some)
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        if let Some(staged) = staged {
            flows::announce(self.submitter.outbox(), &staged).await;
        }
        Ok(())
    }

    /// Remembers which run each of `run`'s running jobs and child runs belongs to.
    fn watch(&mut self, run: &FlowRunRecord) {
        if self.owners.len() > MAX_WATCHED {
            self.owners.clear();
        }
        let (jobs, children) = run::running_work(run);
        for handle in jobs.into_iter().chain(children) {
            self.owners.insert(handle, run.id.clone());
        }
    }

    /// Starts one attempt's job or child run and records it in `run`; work the
    /// platform refuses (its dataflow or flow is gone, its user may not run it)
    /// fails the activity.
    async fn start(
        &self,
        flow: &Flow,
        run: &mut FlowRunRecord,
        start: &Start,
    ) -> Result<(), String> {
        let Some((spec, item)) = start.work(flow, run) else {
            return Ok(());
        };
        let mut values: std::collections::BTreeMap<String, String> =
            run.parameters.clone().into_iter().collect();
        if let Some(item) = item {
            values.insert("item".into(), item);
        }
        let fill = |given: &std::collections::BTreeMap<String, String>| {
            given
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        prism_dataflow::parameters::substitute(v, &values),
                    )
                })
                .collect()
        };
        let started = match spec {
            ActivitySpec::Job(job) => {
                self.submit_job(run, start, &job.dataflow, fill(&job.parameters))
                    .await?
            }
            ActivitySpec::Flow(child) => {
                self.start_child(run, start, &child.processflow, fill(&child.parameters))
                    .await?
            }
            _ => return Ok(()),
        };
        match started {
            Ok(id) => run::record_start(flow, run, start, id),
            Err(why) => run::refuse_start(run, start, &why, now_ms()),
        }
        Ok(())
    }

    /// The job's id, or why it was refused; `Err` only for what a retry may fix.
    async fn submit_job(
        &self,
        run: &FlowRunRecord,
        start: &Start,
        dataflow: &str,
        parameters: std::collections::BTreeMap<String, String>,
    ) -> Result<Result<String, String>, String> {
        let request = SubmitRequest {
            dataflow: dataflow.to_string(),
            version: run.dataflow_versions.get(dataflow).copied(),
            parameters: parameters.into_iter().collect(),
            idempotency_key: Some(start.key(&run.id)),
            schedule: None,
            submitted_by: run.submitted_by.clone(),
            permitted_connections: None,
        };
        match self.submitter.submit(request).await {
            Ok(submitted) => Ok(Ok(submitted.job.id)),
            Err(error) if error.retryable() => Err(error.to_string()),
            Err(error) => Ok(Err(format!("the job was refused: {error}"))),
        }
    }

    /// The child run's id (started now, or by an earlier try), or why it may not
    /// start; `Err` only for what a retry may fix.
    async fn start_child(
        &self,
        run: &FlowRunRecord,
        start: &Start,
        processflow: &str,
        parameters: std::collections::BTreeMap<String, String>,
    ) -> Result<Result<String, String>, String> {
        let store = self.submitter.store();
        if depth(store, run).await? >= MAX_DEPTH {
            return Ok(Err(format!("child flows nest at most {MAX_DEPTH} deep")));
        }
        let key = start.key(&run.id);
        let request = StartRequest {
            flow: processflow.to_string(),
            parameters: parameters.into_iter().collect(),
            idempotency_key: Some(key.clone()),
            submitted_by: run.submitted_by.clone(),
            parent_run: run.id.clone(),
        };
        let planned = match flows::plan(store, &request).await {
            Ok(planned) => planned,
            Err(error) if error.retryable() => return Err(error.to_string()),
            Err(error) => return Ok(Err(format!("the child flow was refused: {error}"))),
        };
        let created = store
            .transact(|tx| {
                let (planned, key, user) = (planned.clone(), key.clone(), run.submitted_by.clone());
                async move {
                    if let Some(why) = flows::refusal(&tx, &user, &planned).await? {
                        return Ok(Err(why));
                    }
                    flows::create(&tx, planned.run, Some(&key)).await.map(Ok)
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        match created {
            Ok((child, staged)) => {
                if let Some(staged) = staged {
                    flows::announce(self.submitter.outbox(), &staged).await;
                }
                Ok(Ok(child.id))
            }
            Err(why) => Ok(Err(why)),
        }
    }
}

/// How many parents `run` has.
async fn depth(store: &Store, run: &FlowRunRecord) -> Result<usize, String> {
    let mut parent = run.parent_run.clone();
    let mut depth = 0;
    while !parent.is_empty() && depth < MAX_DEPTH {
        depth += 1;
        let id = parent.clone();
        parent = store
            .transact(|tx| {
                let id = id.clone();
                async move { flow_runs::get(&tx, &id).await }
            })
            .await
            .map_err(|e| e.to_string())?
            .map(|r| r.parent_run)
            .unwrap_or_default();
    }
    Ok(depth)
}

type Read = (FlowRunRecord, Flow, HashMap<String, JobOutcome>);

/// A run, its flow version, and the outcomes of its running jobs and child runs
/// that ended.
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
                let (running_jobs, children) = run::running_work(&run);
                for job_id in running_jobs {
                    if let Some(job) = jobs::get(&tx, &job_id).await?
                        && let Some(outcome) =
                            job_outcome(job.state, job.rows_read, job.rows_written)
                    {
                        outcomes.insert(job_id, outcome);
                    }
                }
                for child_id in children {
                    if let Some(child) = flow_runs::get(&tx, &child_id).await?
                        && let Some(outcome) = run_outcome(&child.state)
                    {
                        outcomes.insert(child_id, outcome);
                    }
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

fn job_outcome(state: i32, rows_read: u64, rows_written: u64) -> Option<JobOutcome> {
    let succeeded = match JobState::try_from(state) {
        Ok(JobState::Succeeded) => true,
        Ok(JobState::Failed | JobState::Cancelled) => false,
        _ => return None,
    };
    Some(JobOutcome {
        succeeded,
        rows_read,
        rows_written,
    })
}

fn run_outcome(state: &str) -> Option<JobOutcome> {
    let succeeded = match state {
        run::SUCCEEDED => true,
        run::FAILED | run::CANCELLED => false,
        _ => return None,
    };
    Some(JobOutcome {
        succeeded,
        rows_read: 0,
        rows_written: 0,
    })
}

/// The events that nudge runs, as they arrive. Core subscriptions: a nudge missed
/// (a scheduler starting, a slow consumer) only waits for the next tick.
pub struct Nudges {
    jobs: async_nats::Subscriber,
    flows: async_nats::Subscriber,
}

impl Nudges {
    pub async fn subscribe(bus: &Bus) -> Result<Nudges, async_nats::SubscribeError> {
        Ok(Nudges {
            jobs: bus.client.subscribe(subjects::JOB_EVENTS).await?,
            flows: bus.client.subscribe(subjects::FLOW_EVENTS).await?,
        })
    }

    /// The next nudge; `None` when the bus connection is gone.
    pub async fn next(&mut self) -> Option<Nudge> {
        loop {
            let nudge = tokio::select! {
                message = self.jobs.next() => job_nudge(&message?.payload),
                message = self.flows.next() => flow_nudge(&message?.payload),
            };
            if nudge.is_some() {
                return nudge;
            }
        }
    }
}

fn job_nudge(payload: &[u8]) -> Option<Nudge> {
    let event: JobEvent = prism_bus::decode(payload).ok()?;
    let outcome = job_outcome(event.state, event.rows_read, event.rows_written)?;
    Some(Nudge::Ended(event.job_id, outcome))
}

fn flow_nudge(payload: &[u8]) -> Option<Nudge> {
    let event: FlowEvent = prism_bus::decode(payload).ok()?;
    match event.kind.as_str() {
        "started" | "approved" | "rejected" => Some(Nudge::Run(event.run_id)),
        // A child run ended: its parent moves on.
        "succeeded" | "failed" | "cancelled" => {
            let outcome = run_outcome(&event.state)?;
            Some(Nudge::Ended(event.run_id, outcome))
        }
        _ => None,
    }
}
