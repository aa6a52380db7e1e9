//! How a run moves on, as a pure function of the flow and what is known of its
//! jobs: [`step`] records ended jobs, decides the transitions out of every ended
//! activity (with the values each rule saw and why it was or was not taken),
//! starts what became ready, skips what can no longer start, and ends the run when
//! nothing is left to do. Whoever runs it (a scheduler) only reads, submits the
//! jobs it asks for, and writes the record back.
use std::collections::BTreeMap;

use prism_schemas::v1::{FlowActivityState, FlowDecision, FlowItemState, FlowRunRecord};

use crate::condition::{self, Value};
use crate::model::{ActivitySpec, Flow, ForeachActivity, InputMode, On, Verdict};

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
pub const SKIPPED: &str = "skipped";
/// An approval waiting for its decision, or a wait for its time.
pub const WAITING: &str = "waiting";
/// A run, or a running activity, stopped by a user.
pub const CANCELLED: &str = "cancelled";
/// Who decided an approval nobody decided in time.
pub const TIMEOUT: &str = "timeout";

/// Items of every `foreach` of a run, together: each item's state is kept in the
/// run's record, which the store bounds (100 KB).
pub const MAX_ITEMS: usize = 500;
/// Bytes of one item.
pub const MAX_ITEM_BYTES: usize = 64;

/// What a job or child run of the run came to, once it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub succeeded: bool,
    pub rows_read: u64,
    pub rows_written: u64,
}

/// Work to start: one attempt of a `job` activity (a job), of a `flow` activity (a
/// child run), or of one item of a `foreach` (either, as its `each` says).
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub activity: String,
    /// The `foreach` item, by index, that this start runs.
    pub item: Option<usize>,
    pub attempt: u32,
}

impl Start {
    /// The idempotency key of the job or child run: the same, however many
    /// schedulers ask, and after any crash.
    pub fn key(&self, run: &str) -> String {
        match self.item {
            None => job_key(run, &self.activity, self.attempt),
            Some(index) => format!("flow:{run}:{}[{index}]:{}", self.activity, self.attempt),
        }
    }

    /// The job or flow it runs, and the item it runs for.
    pub fn work<'a>(
        &self,
        flow: &'a Flow,
        run: &FlowRunRecord,
    ) -> Option<(&'a ActivitySpec, Option<String>)> {
        let spec = &flow.activities.iter().find(|a| a.id == self.activity)?.spec;
        match (spec, self.item) {
            (ActivitySpec::Foreach(each), Some(index)) => {
                let state = run.activities.iter().find(|a| a.id == self.activity)?;
                let item = state.items.get(index)?.item.clone();
                Some((&each.each, Some(item)))
            }
            (spec, None) => Some((spec, None)),
            _ => None,
        }
    }
}

/// Records the job (or child run) `id` that `start` began.
pub fn record_start(flow: &Flow, run: &mut FlowRunRecord, start: &Start, id: String) {
    let child = matches!(start.work(flow, run), Some((ActivitySpec::Flow(_), _)));
    let Some(state) = run.activities.iter_mut().find(|a| a.id == start.activity) else {
        return;
    };
    let (job_id, child_run) = match start.item.and_then(|i| state.items.get_mut(i)) {
        Some(item) => (&mut item.job_id, &mut item.child_run),
        None => (&mut state.job_id, &mut state.child_run),
    };
    if child {
        *child_run = id;
    } else {
        *job_id = id;
    }
}

/// Fails the activity whose `start` the platform refused (its dataflow or child
/// flow is gone, a parameter no longer fits): nothing would make it run.
pub fn refuse_start(run: &mut FlowRunRecord, start: &Start, why: &str, now_ms: i64) {
    let Some(state) = run.activities.iter_mut().find(|a| a.id == start.activity) else {
        return;
    };
    state.state = FAILED.into();
    state.finished_at_ms = now_ms;
    for item in &mut state.items {
        if matches!(item.state.as_str(), PENDING | RUNNING) {
            item.state = SKIPPED.into();
        }
    }
    run.error = format!("{}: {why}", start.activity);
}

/// The items of a `foreach` for a run's parameters: its list, split at commas.
pub fn items(foreach: &ForeachActivity, parameters: &BTreeMap<String, String>) -> Vec<String> {
    let name = foreach.items.trim_start_matches("${").trim_end_matches('}');
    parameters
        .get(name)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The jobs and child runs running in `run`: what a cancel must stop.
pub fn running_work(run: &FlowRunRecord) -> (Vec<String>, Vec<String>) {
    let (mut jobs, mut children) = (Vec::new(), Vec::new());
    for a in run.activities.iter().filter(|a| a.state == RUNNING) {
        let items = a.items.iter().filter(|i| i.state == RUNNING);
        for (job, child) in items
            .map(|i| (&i.job_id, &i.child_run))
            .chain([(&a.job_id, &a.child_run)])
        {
            if !job.is_empty() {
                jobs.push(job.clone());
            }
            if !child.is_empty() {
                children.push(child.clone());
            }
        }
    }
    (jobs, children)
}

/// The activities a run starts with, all pending.
pub fn activities(flow: &Flow) -> Vec<FlowActivityState> {
    flow.activities
        .iter()
        .map(|a| FlowActivityState {
            id: a.id.clone(),
            state: PENDING.into(),
            ..FlowActivityState::default()
        })
        .collect()
}

/// The idempotency key of an activity's attempt: the same job, however many
/// schedulers ask, and after any crash.
pub fn job_key(run: &str, activity: &str, attempt: u32) -> String {
    format!("flow:{run}:{activity}:{attempt}")
}

fn ended(state: &str) -> bool {
    matches!(state, SUCCEEDED | FAILED | SKIPPED)
}

/// Moves `run` on; answers the jobs to submit (their activities are already
/// `running`, without a job id until the caller records one).
pub fn step(
    flow: &Flow,
    run: &mut FlowRunRecord,
    now_ms: i64,
    outcome: &dyn Fn(&str) -> Option<JobOutcome>,
) -> Vec<Start> {
    let mut starts = Vec::new();
    record_outcomes(flow, run, now_ms, outcome, &mut starts);
    advance_foreach(flow, run, now_ms, outcome, &mut starts);
    expire_waits(flow, run, now_ms);
    loop {
        let decided = decide_transitions(flow, run);
        let moved = start_ready(flow, run, now_ms, &mut starts);
        if !decided && !moved {
            break;
        }
    }
    finish(flow, run, now_ms);
    starts
}

fn state_of<'a>(run: &'a mut FlowRunRecord, id: &str) -> &'a mut FlowActivityState {
    run.activities
        .iter_mut()
        .find(|a| a.id == id)
        .expect("every activity has a state")
}

/// Further attempts a failed job or child run of `spec` gets.
fn retries(spec: &ActivitySpec) -> u32 {
    match spec {
        ActivitySpec::Job(job) => job.retries,
        _ => 0,
    }
}

/// What became of one running piece of work: an activity's job or child run, or a
/// `foreach` item's.
enum Settled {
    /// Not started yet, or not ended.
    Running,
    /// Failed with retries left: cleared for its next attempt.
    Retry,
    Ended(JobOutcome),
}

fn settle(
    job_id: &mut String,
    child_run: &mut String,
    attempt: &mut u32,
    retries: u32,
    outcome: &dyn Fn(&str) -> Option<JobOutcome>,
) -> Settled {
    let handle = if job_id.is_empty() {
        &*child_run
    } else {
        &*job_id
    };
    if handle.is_empty() {
        return Settled::Running;
    }
    let Some(done) = outcome(handle) else {
        return Settled::Running;
    };
    if !done.succeeded && *attempt <= retries {
        job_id.clear();
        child_run.clear();
        *attempt += 1;
        return Settled::Retry;
    }
    Settled::Ended(done)
}

/// Jobs and child runs that ended: the activity ends, or is tried again while
/// retries are left.
fn record_outcomes(
    flow: &Flow,
    run: &mut FlowRunRecord,
    now_ms: i64,
    outcome: &dyn Fn(&str) -> Option<JobOutcome>,
    starts: &mut Vec<Start>,
) {
    for activity in &flow.activities {
        if !matches!(activity.spec, ActivitySpec::Job(_) | ActivitySpec::Flow(_)) {
            continue;
        }
        let state = state_of(run, &activity.id);
        if state.state != RUNNING {
            continue;
        }
        let allowed = retries(&activity.spec);
        let (job, child, attempt) = (&mut state.job_id, &mut state.child_run, &mut state.attempt);
        match settle(job, child, attempt, allowed, outcome) {
            Settled::Running => {}
            Settled::Retry => starts.push(Start {
                activity: activity.id.clone(),
                item: None,
                attempt: state.attempt,
            }),
            Settled::Ended(done) => {
                state.rows_read = done.rows_read;
                state.rows_written = done.rows_written;
                state.state = if done.succeeded { SUCCEEDED } else { FAILED }.into();
                state.finished_at_ms = now_ms;
            }
        }
    }
}

/// Each running `foreach`: items that ended are recorded (or tried again), pending
/// ones start while fewer than `max_parallel` run, and the activity ends with its
/// last item: succeeded if every item did.
fn advance_foreach(
    flow: &Flow,
    run: &mut FlowRunRecord,
    now_ms: i64,
    outcome: &dyn Fn(&str) -> Option<JobOutcome>,
    starts: &mut Vec<Start>,
) {
    for activity in &flow.activities {
        let ActivitySpec::Foreach(foreach) = &activity.spec else {
            continue;
        };
        let state = state_of(run, &activity.id);
        if state.state != RUNNING {
            continue;
        }
        let allowed = retries(&foreach.each);
        for (index, item) in state.items.iter_mut().enumerate() {
            if item.state != RUNNING {
                continue;
            }
            let (job, child, attempt) = (&mut item.job_id, &mut item.child_run, &mut item.attempt);
            match settle(job, child, attempt, allowed, outcome) {
                Settled::Running => {}
                Settled::Retry => starts.push(Start {
                    activity: activity.id.clone(),
                    item: Some(index),
                    attempt: item.attempt,
                }),
                Settled::Ended(done) => {
                    item.state = if done.succeeded { SUCCEEDED } else { FAILED }.into();
                    item.rows_read = done.rows_read;
                    item.rows_written = done.rows_written;
                }
            }
        }
        fill(foreach, state, &activity.id, now_ms, starts);
    }
}

/// Starts pending items of a running `foreach` up to its bound, or ends it.
fn fill(
    foreach: &ForeachActivity,
    state: &mut FlowActivityState,
    id: &str,
    now_ms: i64,
    starts: &mut Vec<Start>,
) {
    let mut running = state.items.iter().filter(|i| i.state == RUNNING).count();
    for (index, item) in state.items.iter_mut().enumerate() {
        if running >= foreach.max_parallel as usize {
            break;
        }
        if item.state == PENDING {
            item.state = RUNNING.into();
            item.attempt = 1;
            running += 1;
            starts.push(Start {
                activity: id.to_string(),
                item: Some(index),
                attempt: 1,
            });
        }
    }
    if state
        .items
        .iter()
        .all(|i| !matches!(i.state.as_str(), PENDING | RUNNING))
    {
        let all = state.items.iter().all(|i| i.state == SUCCEEDED);
        state.state = if all { SUCCEEDED } else { FAILED }.into();
        state.rows_read = state.items.iter().map(|i| i.rows_read).sum();
        state.rows_written = state.items.iter().map(|i| i.rows_written).sum();
        state.finished_at_ms = now_ms;
    }
}

/// Waits whose time has come end; approvals past their timeout are decided as
/// they declare.
fn expire_waits(flow: &Flow, run: &mut FlowRunRecord, now_ms: i64) {
    for activity in &flow.activities {
        let state = state_of(run, &activity.id);
        if state.state != WAITING {
            continue;
        }
        let (seconds, verdict) = match &activity.spec {
            ActivitySpec::Wait(wait) => (wait.seconds, Verdict::Approve),
            ActivitySpec::Approval(approval) => (approval.timeout_seconds, approval.on_timeout),
            _ => continue,
        };
        let due = state
            .started_at_ms
            .saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX / 2000) * 1000);
        if now_ms < due {
            continue;
        }
        state.state = if verdict == Verdict::Approve {
            SUCCEEDED
        } else {
            FAILED
        }
        .into();
        state.finished_at_ms = now_ms;
        if matches!(activity.spec, ActivitySpec::Approval(_)) {
            state.decided_by = TIMEOUT.into();
        }
    }
}

/// Decides a waiting approval: `approve` or not, by `user`.
pub fn decide(
    run: &mut FlowRunRecord,
    activity: &str,
    approve: bool,
    user: &str,
    comment: &str,
    now_ms: i64,
) -> Result<(), String> {
    let state = run
        .activities
        .iter_mut()
        .find(|a| a.id == activity)
        .ok_or_else(|| format!("no activity {activity:?} in the run"))?;
    if state.state != WAITING {
        return Err(match state.decided_by.as_str() {
            "" => format!("{activity} is {}, not waiting for a decision", state.state),
            by => format!("{activity} was decided already, by {by}"),
        });
    }
    state.state = if approve { SUCCEEDED } else { FAILED }.into();
    state.decided_by = user.into();
    state.comment = comment.into();
    state.finished_at_ms = now_ms;
    Ok(())
}

/// Stops a running run: what runs is cancelled, what waits or has yet to start is
/// skipped. (The caller cancels the running activities' jobs.)
pub fn cancel(run: &mut FlowRunRecord, now_ms: i64) -> Result<(), String> {
    if run.state != RUNNING {
        return Err(format!("the run is {} already", run.state));
    }
    for activity in &mut run.activities {
        let next = match activity.state.as_str() {
            RUNNING => CANCELLED,
            PENDING | WAITING => SKIPPED,
            _ => continue,
        };
        activity.state = next.into();
        activity.finished_at_ms = now_ms;
        for item in &mut activity.items {
            match item.state.as_str() {
                RUNNING => item.state = CANCELLED.into(),
                PENDING => item.state = SKIPPED.into(),
                _ => {}
            }
        }
    }
    run.state = CANCELLED.into();
    run.finished_at_ms = now_ms;
    Ok(())
}

/// The values a condition reads, as the run knows them.
fn lookup(run: &FlowRunRecord, owner: &str, field: &str) -> Option<Value> {
    if owner == "params" {
        return run.parameters.get(field).map(|v| Value::Text(v.clone()));
    }
    let a = run.activities.iter().find(|a| a.id == owner)?;
    Some(match field {
        "status" => Value::Text(a.state.clone()),
        "rows_read" => Value::Number(a.rows_read as f64),
        "rows_written" => Value::Number(a.rows_written as f64),
        "attempt" => Value::Number(f64::from(a.attempt)),
        _ => return None,
    })
}

/// Decides every transition out of each ended activity, once. Answers whether any
/// was decided.
fn decide_transitions(flow: &Flow, run: &mut FlowRunRecord) -> bool {
    let mut any = false;
    for activity in &flow.activities {
        let from_state = state_of(run, &activity.id).state.clone();
        if !ended(&from_state) || run.decisions.iter().any(|d| d.from == activity.id) {
            continue;
        }
        let outgoing: Vec<_> = flow
            .transitions
            .iter()
            .filter(|t| t.from == activity.id)
            .collect();
        // An end has nothing to decide (and deciding nothing must not count as a move).
        if outgoing.is_empty() {
            continue;
        }
        let mut decisions = Vec::new();
        for t in outgoing.iter().filter(|t| t.on != On::Otherwise) {
            let (rule, values, taken, why) = judge(run, &t.on, &activity.id, &from_state);
            decisions.push(FlowDecision {
                from: t.from.clone(),
                to: t.to.clone(),
                rule,
                values,
                taken,
                why,
            });
        }
        let none_taken = !decisions.iter().any(|d| d.taken);
        for t in outgoing.iter().filter(|t| t.on == On::Otherwise) {
            let skipped = from_state == SKIPPED;
            decisions.push(FlowDecision {
                from: t.from.clone(),
                to: t.to.clone(),
                rule: "otherwise".into(),
                values: String::new(),
                taken: none_taken && !skipped,
                why: if skipped {
                    format!("{} was skipped", t.from)
                } else if none_taken {
                    "no other transition was taken".into()
                } else {
                    "another transition was taken".into()
                },
            });
        }
        run.decisions.extend(decisions);
        any = true;
    }
    any
}

/// One transition's rule against its source's end: (rule, values, taken, why).
fn judge(run: &FlowRunRecord, on: &On, from: &str, state: &str) -> (String, String, bool, String) {
    if state == SKIPPED {
        let rule = match on {
            On::When(_) => "when".to_string(),
            other => format!("on {}", rule_name(other)),
        };
        return (rule, String::new(), false, format!("{from} was skipped"));
    }
    let status = format!("{from}.status = '{state}'");
    match on {
        On::Succeeded | On::Failed | On::Always => {
            let taken = match on {
                On::Succeeded => state == SUCCEEDED,
                On::Failed => state == FAILED,
                _ => true,
            };
            let why = if taken {
                "the rule holds"
            } else {
                "the rule does not hold"
            };
            (format!("on {}", rule_name(on)), status, taken, why.into())
        }
        On::When(expr) => {
            let values: Vec<String> = expr
                .names()
                .into_iter()
                .map(|(owner, field)| match lookup(run, owner, field) {
                    Some(value) => format!("{owner}.{field} = {value}"),
                    None => format!("{owner}.{field} has no value"),
                })
                .collect();
            let rule = format!("when {}", render(expr));
            match expr.eval(&|owner, field| lookup(run, owner, field)) {
                Ok(Value::Bool(taken)) => {
                    let why = if taken {
                        "the condition holds"
                    } else {
                        "the condition does not hold"
                    };
                    (rule, values.join(", "), taken, why.into())
                }
                Ok(other) => (
                    rule,
                    values.join(", "),
                    false,
                    format!("the condition gave {other}, not true or false"),
                ),
                Err(error) => (
                    rule,
                    values.join(", "),
                    false,
                    format!("the condition could not be evaluated: {error}"),
                ),
            }
        }
        On::Otherwise => unreachable!("otherwise is decided after the others"),
    }
}

fn rule_name(on: &On) -> &'static str {
    match on {
        On::Succeeded => "succeeded",
        On::Failed => "failed",
        On::Always => "always",
        On::Otherwise => "otherwise",
        On::When(_) => "when",
    }
}

fn render(expr: &condition::Expr) -> String {
    expr.to_string()
}

/// Starts (or skips) each pending activity whose inputs are decided enough.
/// Answers whether anything moved.
fn start_ready(flow: &Flow, run: &mut FlowRunRecord, now_ms: i64, starts: &mut Vec<Start>) -> bool {
    let mut moved = false;
    for activity in &flow.activities {
        if state_of(run, &activity.id).state != PENDING {
            continue;
        }
        let incoming: Vec<_> = flow
            .transitions
            .iter()
            .filter(|t| t.to == activity.id)
            .collect();
        let decided: Vec<&FlowDecision> = run
            .decisions
            .iter()
            .filter(|d| d.to == activity.id)
            .collect();
        let all_decided = decided.len() == incoming.len();
        // `all` joins: every incoming transition taken, and it is skipped as soon as
        // one is not; `first` starts on the first taken, and is skipped only when
        // every one was decided otherwise.
        // An end is not a join: any transition taken into it reaches it.
        let input = if activity.spec.is_end() {
            InputMode::First
        } else {
            activity.input
        };
        let go = match input {
            _ if incoming.is_empty() => Some(true),
            InputMode::All if decided.iter().any(|d| !d.taken) => Some(false),
            InputMode::All if all_decided => Some(true),
            InputMode::First if decided.iter().any(|d| d.taken) => Some(true),
            InputMode::First if all_decided => Some(false),
            _ => None,
        };
        let Some(go) = go else { continue };
        moved = true;
        let state = state_of(run, &activity.id);
        state.started_at_ms = now_ms;
        if !go {
            state.state = SKIPPED.into();
            state.finished_at_ms = now_ms;
            continue;
        }
        match &activity.spec {
            ActivitySpec::Job(_) | ActivitySpec::Flow(_) => {
                state.state = RUNNING.into();
                state.attempt = 1;
                starts.push(Start {
                    activity: activity.id.clone(),
                    item: None,
                    attempt: 1,
                });
            }
            ActivitySpec::Foreach(foreach) => {
                state.state = RUNNING.into();
                let listed = items(foreach, &run.parameters.clone().into_iter().collect());
                let state = state_of(run, &activity.id);
                state.items = listed
                    .into_iter()
                    .map(|item| FlowItemState {
                        item,
                        state: PENDING.into(),
                        ..FlowItemState::default()
                    })
                    .collect();
                let state = state_of(run, &activity.id);
                fill(foreach, state, &activity.id, now_ms, starts);
            }
            // No executor slot: a state of the run until decided, or its time comes.
            ActivitySpec::Approval(_) | ActivitySpec::Wait(_) => {
                state.state = WAITING.into();
            }
            // An end is reached as it starts.
            ActivitySpec::Succeed | ActivitySpec::Fail(_) => {
                state.state = SUCCEEDED.into();
                state.finished_at_ms = now_ms;
            }
        }
    }
    moved
}

/// Ends the run once nothing runs and nothing can start: failed if a `fail` was
/// reached (or no end was), else succeeded.
fn finish(flow: &Flow, run: &mut FlowRunRecord, now_ms: i64) {
    if run
        .activities
        .iter()
        .any(|a| matches!(a.state.as_str(), RUNNING | PENDING | WAITING))
    {
        return;
    }
    let reached = |want: fn(&ActivitySpec) -> bool| {
        flow.activities.iter().any(|a| {
            want(&a.spec)
                && run
                    .activities
                    .iter()
                    .any(|s| s.id == a.id && s.state == SUCCEEDED)
        })
    };
    let failed = reached(|s| matches!(s, ActivitySpec::Fail(_)));
    let succeeded = reached(|s| matches!(s, ActivitySpec::Succeed));
    run.state = if succeeded && !failed {
        SUCCEEDED
    } else {
        FAILED
    }
    .into();
    if !succeeded && !failed && run.error.is_empty() {
        run.error = "no end was reached".into();
    }
    run.finished_at_ms = now_ms;
}

/// The flow's parameters for a run: its defaults, overridden by `given`; a
/// parameter without a default must be given. Unknown names are refused.
pub fn parameters(
    flow: &Flow,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, (String, String)> {
    if let Some(unknown) = given.keys().find(|k| !flow.parameters.contains_key(*k)) {
        return Err((
            format!("parameters.{unknown}"),
            "the flow declares no such parameter".into(),
        ));
    }
    let mut values = BTreeMap::new();
    for (name, default) in &flow.parameters {
        match given.get(name).or(default.as_ref()) {
            Some(value) => {
                values.insert(name.clone(), value.clone());
            }
            None => {
                return Err((
                    format!("parameters.{name}"),
                    "required: the flow gives it no default".into(),
                ));
            }
        }
    }
    let mut count = 0;
    for (foreach, name) in flow.activities.iter().filter_map(|a| match &a.spec {
        ActivitySpec::Foreach(f) => {
            Some((f, f.items.trim_start_matches("${").trim_end_matches('}')))
        }
        _ => None,
    }) {
        let listed = items(foreach, &values);
        if listed.iter().any(|i| i.len() > MAX_ITEM_BYTES) {
            return Err((
                format!("parameters.{name}"),
                format!("an item is longer than {MAX_ITEM_BYTES} bytes"),
            ));
        }
        count += listed.len();
        if count > MAX_ITEMS {
            return Err((
                format!("parameters.{name}"),
                format!("at most {MAX_ITEMS} foreach items in a run, all lists together"),
            ));
        }
    }
    Ok(values)
}

/// What resuming a run does with one activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub activity: String,
    /// `reuse` (its outcome is copied), `rerun`, or `keep` (it did not run and is
    /// not after what reruns).
    pub action: &'static str,
    pub why: String,
}

/// Which activities a resume of `old` reruns: `from` (`failed`: every activity that
/// failed) and everything after it; the rest is reused as it ended.
pub fn resume_plan(flow: &Flow, old: &FlowRunRecord, from: &str) -> Result<Vec<Planned>, String> {
    let roots: Vec<&str> = if from == "failed" {
        let failed: Vec<&str> = flow
            .activities
            .iter()
            .filter(|a| {
                matches!(
                    a.spec,
                    ActivitySpec::Job(_) | ActivitySpec::Flow(_) | ActivitySpec::Foreach(_)
                )
            })
            .filter(|a| {
                old.activities
                    .iter()
                    .any(|s| s.id == a.id && s.state == FAILED)
            })
            .map(|a| a.id.as_str())
            .collect();
        if failed.is_empty() {
            return Err("no activity of the run failed".into());
        }
        failed
    } else if flow.activities.iter().any(|a| a.id == from) {
        vec![from]
    } else {
        return Err(format!("no activity {from:?} in the flow"));
    };
    let mut rerun: BTreeMap<&str, String> = BTreeMap::new();
    let mut queue: Vec<(&str, String)> = roots
        .iter()
        .map(|r| {
            (
                *r,
                if from == "failed" {
                    "it failed".to_string()
                } else {
                    "resumed from it".to_string()
                },
            )
        })
        .collect();
    while let Some((id, why)) = queue.pop() {
        if rerun.contains_key(id) {
            continue;
        }
        for t in flow.transitions.iter().filter(|t| t.from == id) {
            queue.push((t.to.as_str(), format!("it comes after {id}")));
        }
        rerun.insert(id, why);
    }
    Ok(flow
        .activities
        .iter()
        .map(|a| {
            let state = old
                .activities
                .iter()
                .find(|s| s.id == a.id)
                .map_or(PENDING, |s| s.state.as_str());
            let (action, why) = match rerun.get(a.id.as_str()) {
                Some(why) => ("rerun", why.clone()),
                None if state == SUCCEEDED => (
                    "reuse",
                    "it succeeded and nothing before it reruns".to_string(),
                ),
                None => (
                    "keep",
                    format!("it was {state} and nothing before it reruns"),
                ),
            };
            Planned {
                activity: a.id.clone(),
                action,
                why,
            }
        })
        .collect())
}

/// The new run a resume starts: reused and kept activities as they ended (with
/// the decisions out of them), rerun ones pending, so that [`step`] starts them.
pub fn resumed(old: &FlowRunRecord, plan: &[Planned], id: String, now_ms: i64) -> FlowRunRecord {
    let reruns = |activity: &str| {
        plan.iter()
            .any(|p| p.activity == activity && p.action == "rerun")
    };
    FlowRunRecord {
        id,
        state: RUNNING.into(),
        created_at_ms: now_ms,
        finished_at_ms: 0,
        error: String::new(),
        idempotency_key: String::new(),
        resumed_from: old.id.clone(),
        activities: old
            .activities
            .iter()
            .map(|a| {
                if reruns(&a.id) {
                    FlowActivityState {
                        id: a.id.clone(),
                        state: PENDING.into(),
                        ..FlowActivityState::default()
                    }
                } else {
                    a.clone()
                }
            })
            .collect(),
        decisions: old
            .decisions
            .iter()
            .filter(|d| !reruns(&d.from))
            .cloned()
            .collect(),
        ..old.clone()
    }
}

#[cfg(test)]
mod tests;
