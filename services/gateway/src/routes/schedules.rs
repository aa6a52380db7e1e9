//! Schedules: a dataflow's job, or a process flow's run, started at the times of a
//! cron expression, as its owner.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission};
use prism_bus::subjects::ConfigOp;
use prism_schemas::v1::ScheduleRecord;
use prism_store::Tx;
use prism_store::records::{dataflows, now_ms, processflows};

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{self, Draft, Entry, Saved};
use crate::error::{ApiError, ApiResult};
use crate::input::{self, Typed};
use crate::state::AppState;

/// Saves a schedule owned by the caller: it will run with the caller's permissions,
/// so the caller must be allowed to execute its dataflow (or flow) now.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(spec): Typed<bodies::ScheduleSpec>,
) -> ApiResult<Saved<ScheduleRecord>> {
    input::check_name("name", &name)?;
    let runs = match (&spec.dataflow, &spec.processflow) {
        (Some(dataflow), None) => {
            input::non_empty("dataflow", dataflow)?;
            Permission::on(Action::Execute, Entity::Dataflows, dataflow)
        }
        (None, Some(flow)) => {
            input::non_empty("processflow", flow)?;
            Permission::on(Action::Execute, Entity::ProcessFlows, flow)
        }
        _ => {
            return Err(ApiError::invalid(
                "dataflow",
                "exactly one of dataflow and processflow: what the schedule runs",
            ));
        }
    };
    input::non_empty("cron", &spec.cron)?;
    prism_cron::parse(&spec.cron)
        .map_err(|e| ApiError::invalid("cron", format!("invalid cron expression: {e}")))?;
    caller.require(&state, runs).await?;
    let parameters = input::parameter_values(spec.parameters.iter().flatten())?;
    let wanted = ScheduleRecord {
        name: name.clone(),
        owner: caller.name().to_string(),
        dataflow: spec.dataflow.unwrap_or_default(),
        processflow: spec.processflow.unwrap_or_default(),
        cron: spec.cron,
        parameters: parameters.into_iter().collect(),
        enabled: spec.enabled.unwrap_or(true),
        ..Default::default()
    };
    let wanted = &wanted;
    catalog::save(
        &state,
        caller.name(),
        &name,
        ConfigOp::Put,
        |tx, existing| async move { draft(&tx, wanted, existing).await },
    )
    .await
}

/// `wanted` as it is saved, if what it runs exists and its parameters fit the
/// latest version (which the schedule runs).
async fn draft(
    tx: &Tx,
    wanted: &ScheduleRecord,
    existing: Option<ScheduleRecord>,
) -> prism_store::Result<ApiResult<Draft<ScheduleRecord>>> {
    let fits = if wanted.processflow.is_empty() {
        dataflow_fits(tx, wanted).await?
    } else {
        flow_fits(tx, wanted).await?
    };
    if let Err(refused) = fits {
        return Ok(Err(refused));
    }
    let now = now_ms();
    Ok(Ok(Draft::of(ScheduleRecord {
        created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
        updated_at_ms: now,
        // Never fire retroactively for the time before this save.
        handled_through_ms: existing
            .as_ref()
            .map_or(now, |e| e.handled_through_ms.max(now)),
        ..wanted.clone()
    })))
}

/// The schedule's process flow exists and takes its parameters.
async fn flow_fits(tx: &Tx, wanted: &ScheduleRecord) -> prism_store::Result<ApiResult<()>> {
    let Some(latest) = processflows::latest(tx, &wanted.processflow).await? else {
        let message = format!("no process flow named {:?}", wanted.processflow);
        return Ok(Err(ApiError::invalid("processflow", message)));
    };
    let Ok(flow) = prism_flows::validate::from_stored(&latest.document_json) else {
        return Ok(Err(ApiError::invalid(
            "processflow",
            "the process flow is stored unreadable",
        )));
    };
    let given = wanted.parameters.clone().into_iter().collect();
    Ok(prism_flows::run::parameters(&flow, &given)
        .map(drop)
        .map_err(|(field, message)| ApiError::invalid(&field, message)))
}

/// The schedule's dataflow is a job's and takes its parameters.
async fn dataflow_fits(tx: &Tx, wanted: &ScheduleRecord) -> prism_store::Result<ApiResult<()>> {
    let Some(latest) = dataflows::latest(tx, &wanted.dataflow).await? else {
        let message = format!("no dataflow named {:?}", wanted.dataflow);
        return Ok(Err(ApiError::invalid("dataflow", message)));
    };
    let stored = prism_jobs::outline::of(&latest).ok();
    if stored
        .as_ref()
        .is_some_and(|d| d.kind != prism_dataflow::Kind::Job)
    {
        let message = format!(
            "{:?} is a service dataflow: only jobs run on schedules",
            wanted.dataflow
        );
        return Ok(Err(ApiError::invalid("dataflow", message)));
    }
    let declared = stored.map(|d| d.parameters).unwrap_or_default();
    let given = wanted.parameters.clone().into_iter().collect();
    if let Err(refused) = prism_dataflow::parameters::resolve(&declared, &given) {
        return Ok(Err(ApiError::invalid(&refused.field(), refused.message)));
    }
    Ok(Ok(()))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    catalog::delete::<ScheduleRecord, _, _>(
        &state,
        caller.name(),
        &name,
        ConfigOp::Delete,
        catalog::nothing_else,
    )
    .await
}

pub async fn enable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<bodies::Schedule>> {
    switch(&state, caller.name(), &name, true).await
}

pub async fn disable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<bodies::Schedule>> {
    switch(&state, caller.name(), &name, false).await
}

/// Turns a schedule on or off without changing what it runs or whose it is.
/// Turning it on never fires the occurrences missed while it was off.
async fn switch(
    state: &AppState,
    actor: &str,
    name: &str,
    enabled: bool,
) -> ApiResult<Json<bodies::Schedule>> {
    let op = if enabled {
        ConfigOp::Enable
    } else {
        ConfigOp::Disable
    };
    let saved = catalog::save(
        state,
        actor,
        name,
        op,
        |_, existing: Option<ScheduleRecord>| async move {
            let Some(mut record) = existing else {
                return Ok(Err(catalog::missing::<ScheduleRecord>(name)));
            };
            let now = now_ms();
            if enabled && !record.enabled {
                record.handled_through_ms = record.handled_through_ms.max(now);
            }
            record.enabled = enabled;
            record.updated_at_ms = now;
            Ok(Ok(Draft::of(record)))
        },
    )
    .await?;
    Ok(Json(saved.record.body()))
}
