use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use prism_auth::Entity;
use prism_dataflow::Dataflow;
use prism_dataflow::validate::{Known, Problem, Syntax, parse_document};
use prism_schemas::v1::DataflowVersionRecord;
use prism_store::Tx;
use prism_store::records::{connections, dataflows, now_ms};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{Change, stage};
use crate::error::{ApiError, ApiResult, Code};
use crate::exposure;
use crate::input;
use crate::state::AppState;
use prism_bus::subjects::{ConfigEntity, ConfigOp};

fn body(record: &DataflowVersionRecord) -> ApiResult<bodies::DataflowVersion> {
    let document: Value = serde_json::from_str(&record.document_json).map_err(|e| {
        ApiError::new(
            Code::Internal,
            None,
            format!("stored document unreadable: {e}"),
        )
    })?;
    Ok(bodies::DataflowVersion {
        name: record.name.clone(),
        version: record.version,
        created_at: input::time_text(record.created_at_ms),
        document,
    })
}

pub(crate) fn syntax_of(headers: &HeaderMap) -> Syntax {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.contains("yaml") {
        Syntax::Yaml
    } else {
        Syntax::Json
    }
}

/// Saves a new immutable version (201), or none when the document is the latest
/// one already (200); answers `{"name", "version"}`.
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
    let syntax = syntax_of(&headers);
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
    let saved = bodies::DataflowSaved {
        name: record.name,
        version: record.version,
    };
    Ok((status, Json(saved)))
}

/// A dataflow version committed (with its staged announcement), or none when the
/// document is the latest one already.
type Saved = (DataflowVersionRecord, Option<prism_outbox::Staged>);

/// Within `tx`: parses and checks `text`, and saves it as a new version with its
/// outline and change event, rolling out the services that follow its latest.
async fn save(
    tx: &Tx,
    actor: &str,
    name: &str,
    text: &str,
    syntax: Syntax,
) -> prism_store::Result<Result<Saved, Vec<Problem>>> {
    let (dataflow, document) = match check(tx, text, syntax).await? {
        Ok(parsed) => parsed,
        Err(problems) => return Ok(Err(problems)),
    };
    // Saving the latest document again makes no version: applying the same
    // configuration twice changes nothing.
    let document = document.to_string();
    if let Some(latest) = dataflows::latest(tx, name).await?
        && latest.document_json == document
    {
        return Ok(Ok((latest, None)));
    }
    // Kept with the version, so that no later use parses it again.
    let outline = prism_jobs::outline::record(&dataflow.outline());
    let record = dataflows::save_new_version(tx, name, &document, Some(outline), now_ms()).await?;
    let change = Change {
        actor,
        entity: ConfigEntity::Dataflow,
        op: ConfigOp::Put,
        name,
        version: record.version,
        details: json!({ "version": record.version }),
    };
    // Services following the latest version roll out with it, atomically.
    let mut messages = vec![change.message()];
    messages.extend(exposure::roll_out(tx, name).await?);
    let staged = stage(tx, messages).await?;
    Ok(Ok((record, Some(staged))))
}

/// Within `tx`: `text` parsed and checked against the connections that exist.
pub(crate) async fn check(
    tx: &Tx,
    text: &str,
    syntax: Syntax,
) -> prism_store::Result<Result<(Dataflow, Value), Vec<Problem>>> {
    let kinds: HashMap<String, String> = connections::list(tx)
        .await?
        .into_iter()
        .map(|c| (c.name, c.kind))
        .collect();
    let known = |name: &str| match kinds.get(name) {
        Some(kind) => Known::Kind(kind.clone()),
        None => Known::Missing,
    };
    Ok(parse_document(text, syntax, &known))
}

/// A dry run of a save: every problem of the document, by stage and field, and
/// whether saving it would make a new version. Nothing is written.
pub async fn validate(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<bodies::DataflowCheck>> {
    input::check_name("name", &name)?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "not UTF-8 text"))?;
    let syntax = syntax_of(&headers);
    let checked = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move {
                let checked = check(&tx, text, syntax).await?;
                let latest = dataflows::latest(&tx, &name).await?;
                Ok((checked, latest))
            }
        })
        .await?;
    let answer = match checked {
        (Ok((_, document)), latest) => {
            let document = document.to_string();
            bodies::DataflowCheck {
                valid: true,
                problems: Vec::new(),
                changed: latest.is_none_or(|l| l.document_json != document),
            }
        }
        (Err(problems), _) => bodies::DataflowCheck {
            valid: false,
            problems: problems
                .into_iter()
                .map(bodies::DataflowProblem::from)
                .collect(),
            changed: true,
        },
    };
    Ok(Json(answer))
}

/// 400 naming the first problem's field, with every problem in `details`.
pub(crate) fn refused(problems: Vec<Problem>) -> ApiError {
    let first = problems.first();
    ApiError {
        code: Code::InvalidArgument,
        message: first.map_or("invalid dataflow".into(), |p| match &p.stage {
            Some(stage) => format!("stage {stage:?}: {}", p.message),
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
) -> ApiResult<Json<bodies::DataflowVersion>> {
    let record = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { dataflows::latest(&tx, &name).await }
        })
        .await?;
    match record {
        Some(record) => Ok(Json(body(&record)?)),
        None => Err(ApiError::not_found(
            "name",
            format!("no dataflow named {name:?}"),
        )),
    }
}

pub async fn get_version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<bodies::DataflowVersion>> {
    let version: u32 = version
        .parse()
        .map_err(|_| ApiError::invalid("version", "a positive integer"))?;
    let record = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move { dataflows::get_version(&tx, &name, version).await }
        })
        .await?;
    match record {
        Some(record) => Ok(Json(body(&record)?)),
        None => Err(ApiError::not_found(
            "version",
            format!("dataflow {name:?} has no version {version}"),
        )),
    }
}

/// The dataflows the caller may view, each at its latest version.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::Dataflows>> {
    let records = state
        .store
        .transact(|tx| async move { dataflows::list_latest(&tx).await })
        .await?;
    let visible = caller
        .visible(&state, Entity::Dataflows, records, |r| &r.name)
        .await?;
    let dataflows = visible
        .into_iter()
        .map(|r| bodies::DataflowSummary {
            updated_at: input::time_text(r.created_at_ms),
            name: r.name,
            latest_version: r.version,
        })
        .collect();
    Ok(Json(bodies::Dataflows { dataflows }))
}
