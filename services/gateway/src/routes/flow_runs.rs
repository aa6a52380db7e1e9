//! Runs of process flows: started here, pinned to the flow's latest version and
//! each dataflow's, and advanced by the schedulers (see `prism-scheduler`'s
//! `flows`). Starting needs `execute` on the flow and, as running each job would,
//! on every dataflow and connection it names; an `Idempotency-Key` makes a retried
//! start the same run.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission};
use prism_flows::run;
use prism_flows::{ActivitySpec, Flow};
use prism_jobs::flows::{self, StartRequest};
use prism_schemas::v1::FlowRunRecord;
use prism_store::records::{dataflows, flow_runs, now_ms, processflows};
use serde_json::json;

use crate::auth::Caller;
use crate::bodies;
use crate::error::{ApiError, ApiResult, Code};
use crate::input::{self, Typed};
use crate::state::AppState;

const MAX_KEY_BYTES: usize = 200;
const MAX_COMMENT_BYTES: usize = 1_000;

fn time(ms: i64) -> Option<String> {
    (ms != 0).then(|| input::time_text(ms)).flatten()
}

pub fn body(run: &FlowRunRecord) -> bodies::FlowRun {
    bodies::FlowRun {
        id: run.id.clone(),
        flow: run.flow.clone(),
        flow_version: run.flow_version,
        state: run.state.clone(),
        parameters: run.parameters.clone().into_iter().collect(),
        dataflow_versions: run.dataflow_versions.clone().into_iter().collect(),
        submitted_by: run.submitted_by.clone(),
        created_at: time(run.created_at_ms),
        finished_at: time(run.finished_at_ms),
        error: (!run.error.is_empty()).then(|| run.error.clone()),
        activities: run
            .activities
            .iter()
            .map(|a| bodies::FlowActivity {
                id: a.id.clone(),
                state: a.state.clone(),
                decided_by: (!a.decided_by.is_empty()).then(|| a.decided_by.clone()),
                comment: (!a.comment.is_empty()).then(|| a.comment.clone()),
                job_id: (!a.job_id.is_empty()).then(|| a.job_id.clone()),
                child_run: (!a.child_run.is_empty()).then(|| a.child_run.clone()),
                items: a
                    .items
                    .iter()
                    .map(|i| bodies::FlowItem {
                        item: i.item.clone(),
                        state: i.state.clone(),
                        job_id: (!i.job_id.is_empty()).then(|| i.job_id.clone()),
                        child_run: (!i.child_run.is_empty()).then(|| i.child_run.clone()),
                        attempt: i.attempt,
                    })
                    .collect(),
                attempt: a.attempt,
                started_at: time(a.started_at_ms),
                finished_at: time(a.finished_at_ms),
                rows_read: a.rows_read,
                rows_written: a.rows_written,
            })
            .collect(),
        decisions: run
            .decisions
            .iter()
            .map(|d| bodies::FlowDecision {
                from: d.from.clone(),
                to: d.to.clone(),
                rule: d.rule.clone(),
                values: d.values.clone(),
                taken: d.taken,
                why: d.why.clone(),
            })
            .collect(),
        resumed_from: (!run.resumed_from.is_empty()).then(|| run.resumed_from.clone()),
        parent_run: (!run.parent_run.is_empty()).then(|| run.parent_run.clone()),
        idempotency_key: (!run.idempotency_key.is_empty()).then(|| run.idempotency_key.clone()),
    }
}

/// Starts a run (201), or answers the run an `Idempotency-Key` started already (200).
pub async fn start(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Typed(ask): Typed<bodies::FlowRunRequest>,
) -> ApiResult<(StatusCode, Json<bodies::FlowRun>)> {
    input::check_name("name", &name)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => match value.to_str() {
            Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_BYTES => Some(key.to_string()),
            _ => {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    format!("1 to {MAX_KEY_BYTES} bytes of text"),
                ));
            }
        },
    };
    let request = StartRequest {
        flow: name,
        parameters: ask.parameters,
        idempotency_key: key.clone(),
        submitted_by: caller.name().to_string(),
        parent_run: String::new(),
    };
    let planned = flows::plan(&state.store, &request).await?;
    for wanted in planned.permissions {
        caller.require(&state, wanted).await?;
    }
    let run = planned.run;
    let (run, created) = state
        .store
        .transact(|tx| {
            let (run, key) = (run.clone(), key.clone());
            async move { flows::create(&tx, run, key.as_deref()).await }
        })
        .await?;
    let status = match created {
        Some(staged) => {
            state.announce(&staged).await;
            StatusCode::CREATED
        }
        None => StatusCode::OK,
    };
    Ok((status, Json(body(&run))))
}

/// A page of a flow's runs, newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<bodies::FlowRuns>> {
    input::reject_unknown_query(&query, &["limit", "cursor"])?;
    let limit = input::limit(query.get("limit"))?;
    let cursor = query.get("cursor").cloned();
    let runs = state
        .store
        .transact(|tx| {
            let (name, cursor) = (name.clone(), cursor.clone());
            async move { flow_runs::list(&tx, &name, cursor.as_deref(), limit).await }
        })
        .await?;
    let next_cursor = (runs.len() == limit)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    let runs = runs
        .iter()
        .map(|run| bodies::FlowRunSummary {
            id: run.id.clone(),
            flow_version: run.flow_version,
            state: run.state.clone(),
            submitted_by: run.submitted_by.clone(),
            created_at: time(run.created_at_ms),
            finished_at: time(run.finished_at_ms),
            error: (!run.error.is_empty()).then(|| run.error.clone()),
            resumed_from: (!run.resumed_from.is_empty()).then(|| run.resumed_from.clone()),
            parent_run: (!run.parent_run.is_empty()).then(|| run.parent_run.clone()),
        })
        .collect();
    Ok(Json(bodies::FlowRuns { runs, next_cursor }))
}

/// Runs read for the approvals inbox: the running ones, oldest first.
const MAX_INBOX_RUNS: usize = 500;

/// The approvals waiting for a decision the caller may make: of running runs of
/// flows the caller may view, those whose role the caller holds.
pub async fn approvals(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::WaitingApprovals>> {
    let runs = state
        .store
        .transact(|tx| async move {
            let mut runs = Vec::new();
            for id in flow_runs::running(&tx, MAX_INBOX_RUNS).await? {
                if let Some(run) = flow_runs::get(&tx, &id).await?
                    && run.activities.iter().any(|a| a.state == run::WAITING)
                {
                    let flow = processflows::get_version(&tx, &run.flow, run.flow_version).await?;
                    runs.push((run, flow));
                }
            }
            Ok(runs)
        })
        .await?;
    let mut approvals = Vec::new();
    for (run, stored) in runs {
        let Some(flow) =
            stored.and_then(|f| prism_flows::validate::from_stored(&f.document_json).ok())
        else {
            continue;
        };
        let wanted = Permission::on(Action::View, Entity::ProcessFlows, &run.flow);
        if caller.require(&state, wanted).await.is_err() {
            continue;
        }
        for activity in &flow.activities {
            let ActivitySpec::Approval(approval) = &activity.spec else {
                continue;
            };
            let Some(waiting) = run
                .activities
                .iter()
                .find(|a| a.id == activity.id && a.state == run::WAITING)
            else {
                continue;
            };
            if !caller.user.roles.contains(&approval.role) {
                continue;
            }
            let timeout_ms =
                i64::try_from(approval.timeout_seconds).unwrap_or(i64::MAX / 2000) * 1000;
            approvals.push(bodies::WaitingApproval {
                run: run.id.clone(),
                flow: run.flow.clone(),
                activity: activity.id.clone(),
                role: approval.role.clone(),
                since: time(waiting.started_at_ms),
                due: time(waiting.started_at_ms.saturating_add(timeout_ms)),
                on_timeout: match approval.on_timeout {
                    prism_flows::model::Verdict::Approve => "approve",
                    prism_flows::model::Verdict::Reject => "reject",
                }
                .into(),
            });
        }
    }
    Ok(Json(bodies::WaitingApprovals { approvals }))
}

/// Run `id`, if the caller may do `action` on its flow.
async fn load_run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<FlowRunRecord> {
    let run = state
        .store
        .transact(|tx| {
            let id = id.to_string();
            async move { flow_runs::get(&tx, &id).await }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("id", format!("no process flow run {id:?}")))?;
    caller
        .require(
            state,
            Permission::on(action, Entity::ProcessFlows, &run.flow),
        )
        .await?;
    Ok(run)
}

/// [`load_run`], with the flow version the run pinned.
async fn load_run_with_flow(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<(FlowRunRecord, Flow)> {
    let run = load_run(state, caller, id, action).await?;
    let stored = state
        .store
        .transact(|tx| {
            let (flow, version) = (run.flow.clone(), run.flow_version);
            async move { processflows::get_version(&tx, &flow, version).await }
        })
        .await?;
    let flow = stored
        .and_then(|f| prism_flows::validate::from_stored(&f.document_json).ok())
        .ok_or_else(|| {
            ApiError::new(Code::Internal, None, "the run's flow version is unreadable")
        })?;
    Ok((run, flow))
}

/// A run, for those who may view its flow.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<bodies::FlowRun>> {
    let run = load_run(&state, &caller, &id, Action::View).await?;
    Ok(Json(body(&run)))
}

/// The plan of a resume (`dry_run`, the default), or the new run it starts: only
/// what failed (or `from` and what follows it) runs again, with the same dataflow
/// versions unless the caller asks for the latest.
pub async fn resume(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Typed(ask): Typed<bodies::ResumeRequest>,
) -> ApiResult<(StatusCode, Json<bodies::ResumePlan>)> {
    let from = ask.from.unwrap_or_else(|| "failed".into());
    let (old, flow) = load_run_with_flow(&state, &caller, &id, Action::Execute).await?;
    if old.state == run::RUNNING {
        return Err(ApiError::new(
            Code::Conflict,
            Some("id"),
            "the run is still running",
        ));
    }
    let plan = run::resume_plan(&flow, &old, &from)
        .map_err(|message| ApiError::invalid("from", message))?;
    let rerun_dataflows = rerun_dataflows(&flow, &plan);
    let changed = changed_since(&state, &old, &rerun_dataflows).await?;
    let steps = plan
        .iter()
        .map(|p| bodies::ResumeStep {
            activity: p.activity.clone(),
            action: p.action.into(),
            why: p.why.clone(),
        })
        .collect();
    if ask.dry_run.unwrap_or(true) {
        let plan = bodies::ResumePlan {
            plan: steps,
            changed,
            run: None,
        };
        return Ok((StatusCode::OK, Json(plan)));
    }
    if !changed.is_empty() && !ask.latest.unwrap_or(false) {
        return Err(changed_refusal(&changed));
    }
    for dataflow in &rerun_dataflows {
        let wanted = Permission::on(Action::Execute, Entity::Dataflows, dataflow);
        caller.require(&state, wanted).await?;
    }
    let mut next = run::resumed(&old, &plan, uuid::Uuid::now_v7().to_string(), now_ms());
    next.submitted_by = caller.name().to_string();
    for c in &changed {
        next.dataflow_versions.insert(c.dataflow.clone(), c.latest);
    }
    let staged = state
        .store
        .transact(|tx| {
            let next = next.clone();
            async move { flows::create(&tx, next, None).await }
        })
        .await?
        .1;
    if let Some(staged) = staged {
        state.announce(&staged).await;
    }
    let plan = bodies::ResumePlan {
        plan: steps,
        changed,
        run: Some(body(&next)),
    };
    Ok((StatusCode::CREATED, Json(plan)))
}

/// The dataflows the plan's rerun job activities run, each once.
fn rerun_dataflows(flow: &Flow, plan: &[run::Planned]) -> Vec<String> {
    let mut names: Vec<String> = flow
        .activities
        .iter()
        .filter(|a| {
            plan.iter()
                .any(|p| p.activity == a.id && p.action == "rerun")
        })
        .filter_map(|a| match &a.spec {
            ActivitySpec::Job(job) => Some(job.dataflow.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Those of `names` whose latest version is not the one `old` pinned.
async fn changed_since(
    state: &AppState,
    old: &FlowRunRecord,
    names: &[String],
) -> ApiResult<Vec<bodies::ChangedDataflow>> {
    let latest = state
        .store
        .transact(|tx| {
            let names = names.to_vec();
            async move {
                let mut latest = BTreeMap::new();
                for name in names {
                    if let Some(record) = dataflows::latest(&tx, &name).await? {
                        latest.insert(name, record.version);
                    }
                }
                Ok(latest)
            }
        })
        .await?;
    Ok(names
        .iter()
        .filter_map(|name| {
            let pinned = *old.dataflow_versions.get(name)?;
            let now = *latest.get(name).unwrap_or(&pinned);
            (now != pinned).then(|| bodies::ChangedDataflow {
                dataflow: name.clone(),
                pinned,
                latest: now,
            })
        })
        .collect())
}

/// 409 naming each dataflow that changed since the run, with both versions.
fn changed_refusal(changed: &[bodies::ChangedDataflow]) -> ApiError {
    let named: Vec<String> = changed
        .iter()
        .map(|c| {
            format!(
                "{} (version {} then, {} now)",
                c.dataflow, c.pinned, c.latest
            )
        })
        .collect();
    let mut error = ApiError::new(
        Code::Conflict,
        Some("latest"),
        format!(
            "changed since the run: {}; resume with latest: true to run them",
            named.join(", ")
        ),
    );
    error.details = Some(json!({ "changed": named }));
    error
}

/// Decides a waiting approval. Only a user holding the approval's role may, once;
/// the decision is audited with its comment.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((id, activity)): Path<(String, String)>,
    Typed(ask): Typed<bodies::ApprovalDecision>,
) -> ApiResult<Json<bodies::FlowRun>> {
    let approve = match ask.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ApiError::invalid("decision", "approve or reject")),
    };
    let comment = ask.comment.unwrap_or_default();
    if comment.len() > MAX_COMMENT_BYTES {
        return Err(ApiError::invalid(
            "comment",
            format!("at most {MAX_COMMENT_BYTES} bytes"),
        ));
    }
    let (run, flow) = load_run_with_flow(&state, &caller, &id, Action::View).await?;
    let role = flow
        .activities
        .iter()
        .find_map(|a| match &a.spec {
            ActivitySpec::Approval(approval) if a.id == activity => Some(approval.role.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            ApiError::not_found("activity", format!("no approval {activity:?} in the run"))
        })?;
    if !caller.user.roles.contains(&role) {
        let why = format!("only a user holding role {role:?} may decide {activity}");
        // Refused, and on record: who tried to decide what.
        let event = prism_flows::events::refused(&run, &activity, caller.name(), &why, now_ms());
        let staged = state
            .store
            .transact(|tx| {
                let event = event.clone();
                async move { flows::stage(&tx, vec![event]).await }
            })
            .await?;
        state.announce(&staged).await;
        return Err(ApiError::new(Code::PermissionDenied, Some("activity"), why));
    }
    let user = caller.name().to_string();
    let decided = state
        .store
        .transact(|tx| {
            let (id, activity, user, comment) =
                (id.clone(), activity.clone(), user.clone(), comment.clone());
            async move {
                let Some(before) = flow_runs::get(&tx, &id).await? else {
                    return Ok(Err("the run is gone".to_string()));
                };
                let mut run = before.clone();
                if let Err(why) =
                    run::decide(&mut run, &activity, approve, &user, &comment, now_ms())
                {
                    return Ok(Err(why));
                }
                let staged = flows::save(&tx, Some(&before), &run, &user).await?;
                Ok(Ok((run, staged)))
            }
        })
        .await?;
    let (run, staged) =
        decided.map_err(|why| ApiError::new(Code::Conflict, Some("activity"), why))?;
    state.announce(&staged).await;
    Ok(Json(body(&run)))
}

/// Cancels a running run: its running jobs are cancelled, its child runs follow
/// it, nothing more starts.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<bodies::FlowRun>> {
    load_run(&state, &caller, &id, Action::Modify).await?;
    let user = caller.name().to_string();
    let (run, jobs) = cancel_tree(&state, &id, &user)
        .await?
        .map_err(|why| ApiError::new(Code::Conflict, Some("id"), why))?;
    for job_id in jobs {
        let job = crate::catalog::job(&state, &job_id).await?;
        match crate::routes::jobs::cancel_job(&state, &user, job).await {
            Ok(_) => {}
            // It ended on its own meanwhile.
            Err(error) if error.code == Code::Conflict => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Json(body(&run)))
}

/// Stops run `id` and, depth first, every child run it started; answers the run
/// and the jobs left to cancel. Each run is stopped in its own transaction before
/// its jobs are cancelled, so that no scheduler starts anything more.
async fn cancel_tree(
    state: &AppState,
    id: &str,
    user: &str,
) -> ApiResult<Result<(FlowRunRecord, Vec<String>), String>> {
    let mut queue = vec![id.to_string()];
    let (mut top, mut jobs) = (None, Vec::new());
    // Children nest at most `MAX_DEPTH` deep with at most `MAX_ITEMS` each: a
    // bound the walk never meets but keeps.
    let mut left = 10_000;
    while let Some(next) = queue.pop() {
        left -= 1;
        if left == 0 {
            break;
        }
        let stopped = state
            .store
            .transact(|tx| {
                let (next, user) = (next.clone(), user.to_string());
                async move {
                    let Some(before) = flow_runs::get(&tx, &next).await? else {
                        return Ok(Err("the run is gone".to_string()));
                    };
                    let mut run = before.clone();
                    let work = run::running_work(&run);
                    if let Err(why) = run::cancel(&mut run, now_ms()) {
                        return Ok(Err(why));
                    }
                    let staged = flows::save(&tx, Some(&before), &run, &user).await?;
                    Ok(Ok((run, work, staged)))
                }
            })
            .await?;
        match stopped {
            Ok((run, (running, children), staged)) => {
                state.announce(&staged).await;
                jobs.extend(running);
                queue.extend(children);
                top.get_or_insert(run);
            }
            Err(why) if top.is_none() => return Ok(Err(why)),
            // A child that ended meanwhile.
            Err(_) => {}
        }
    }
    Ok(Ok((top.expect("the first run was stopped"), jobs)))
}
