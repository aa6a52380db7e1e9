//! Process flows as versioned documents: saved like dataflows (a new immutable
//! version only when the document changed, announced through the outbox, hence
//! audited), checked by `prism_flows` against the dataflows, flows and roles that
//! exist, every problem named by activity and field.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use prism_auth::Entity;
use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_flows::validate::{Known, Problem, Syntax};
use prism_schemas::v1::ProcessFlowVersionRecord;
use prism_store::Tx;
use prism_store::records::{dataflows, now_ms, processflows, roles};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{Change, stage};
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::routes::dataflows::syntax_of;
use crate::state::AppState;

fn body(record: &ProcessFlowVersionRecord) -> ApiResult<bodies::ProcessFlowVersion> {
    let document: Value = serde_json::from_str(&record.document_json).map_err(|e| {
        ApiError::new(
            Code::Internal,
            None,
            format!("stored document unreadable: {e}"),
        )
    })?;
    Ok(bodies::ProcessFlowVersion {
        name: record.name.clone(),
        version: record.version,
        created_at: input::time_text(record.created_at_ms),
        document,
    })
}

/// What the checks may ask, read once from the transaction saving the flow.
struct InStore {
    own_name: String,
    dataflows: Vec<String>,
    processflows: Vec<String>,
    roles: Vec<String>,
}

impl Known for InStore {
    fn dataflow(&self, name: &str) -> bool {
        self.dataflows.iter().any(|d| d == name)
    }
    /// A flow may not run itself as a child (a run would never end).
    fn processflow(&self, name: &str) -> bool {
        name != self.own_name && self.processflows.iter().any(|f| f == name)
    }
    fn role(&self, name: &str) -> bool {
        prism_auth::builtin::is_builtin(name) || self.roles.iter().any(|r| r == name)
    }
}

async fn known(tx: &Tx, own_name: &str) -> prism_store::Result<InStore> {
    Ok(InStore {
        own_name: own_name.to_string(),
        dataflows: dataflows::list_latest(tx)
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect(),
        processflows: processflows::list_latest(tx)
            .await?
            .into_iter()
            .map(|f| f.name)
            .collect(),
        roles: roles::list(tx).await?.into_iter().map(|r| r.name).collect(),
    })
}

type Saved = (ProcessFlowVersionRecord, Option<prism_outbox::Staged>);

/// Saves a new version (201), or none when the document is the latest (200).
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<bodies::DataflowSaved>)> {
    input::check_name("name", &name)?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "not UTF-8 text"))?;
    let syntax = match syntax_of(&headers) {
        prism_dataflow::validate::Syntax::Yaml => Syntax::Yaml,
        prism_dataflow::validate::Syntax::Json => Syntax::Json,
    };
    let saved = state
        .store
        .transact(|tx| {
            let (name, actor) = (name.clone(), caller.name());
            async move { save(&tx, actor, &name, text, syntax).await }
        })
        .await?;
    let (record, staged) = saved.map_err(refused)?;
    let status = match &staged {
        Some(staged) => {
            state.announce(staged).await;
            StatusCode::CREATED
        }
        None => StatusCode::OK,
    };
    Ok((
        status,
        Json(bodies::DataflowSaved {
            name: record.name,
            version: record.version,
        }),
    ))
}

async fn save(
    tx: &Tx,
    actor: &str,
    name: &str,
    text: &str,
    syntax: Syntax,
) -> prism_store::Result<Result<Saved, Vec<Problem>>> {
    let known = known(tx, name).await?;
    let document = match prism_flows::parse_document(text, syntax, &known) {
        Ok((_, document)) => document.to_string(),
        Err(problems) => return Ok(Err(problems)),
    };
    if let Some(latest) = processflows::latest(tx, name).await?
        && latest.document_json == document
    {
        return Ok(Ok((latest, None)));
    }
    let record = processflows::save_new_version(tx, name, &document, now_ms()).await?;
    let change = Change {
        actor,
        entity: ConfigEntity::ProcessFlow,
        op: ConfigOp::Put,
        name,
        version: record.version,
        details: json!({ "version": record.version }),
    };
    let staged = stage(tx, vec![change.message()]).await?;
    Ok(Ok((record, Some(staged))))
}

/// 400 naming the first problem's field, with every problem in `details`.
fn refused(problems: Vec<Problem>) -> ApiError {
    let first = problems.first();
    ApiError {
        code: Code::InvalidArgument,
        message: first.map_or("invalid process flow".into(), |p| match &p.activity {
            Some(activity) => format!("activity {activity:?}: {}", p.message),
            None => p.message.clone(),
        }),
        field: first.map(|p| p.field.clone()),
        details: Some(json!({ "problems": problems })),
        retry_after_secs: None,
    }
}

pub async fn get_latest(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<bodies::ProcessFlowVersion>> {
    let record = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { processflows::latest(&tx, &name).await }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("name", format!("no process flow named {name:?}")))?;
    Ok(Json(body(&record)?))
}

pub async fn get_version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<bodies::ProcessFlowVersion>> {
    let version: u32 = version
        .parse()
        .map_err(|_| ApiError::invalid("version", "a positive integer"))?;
    let record = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { processflows::get_version(&tx, &name, version).await }
        })
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "version",
                format!("process flow {name:?} has no version {version}"),
            )
        })?;
    Ok(Json(body(&record)?))
}

/// The process flows the caller may view, each at its latest version.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::ProcessFlows>> {
    let records = state
        .store
        .transact(|tx| async move { processflows::list_latest(&tx).await })
        .await?;
    let visible = caller
        .visible(&state, Entity::ProcessFlows, records, |r| &r.name)
        .await?;
    Ok(Json(bodies::ProcessFlows {
        processflows: visible
            .into_iter()
            .map(|r| bodies::DataflowSummary {
                updated_at: input::time_text(r.created_at_ms),
                name: r.name,
                latest_version: r.version,
            })
            .collect(),
    }))
}
