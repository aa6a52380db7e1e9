//! Previews for the designer: the document as it is being edited (not saved), run
//! by an executor up to one stage, every write left out, answering at most 1,000
//! rows within 30 s under the executor's memory budget. It needs `execute` on the
//! dataflow's name and on every connection the document reads, as a job would.
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission};
use prism_bus::subjects;
use prism_dataflow::validate::Syntax;
use prism_schemas::v1::{PreviewReply, PreviewRequest, preview_reply};
use prost::Message;

use crate::auth::Caller;
use crate::bodies;
use crate::error::{ApiError, ApiResult, Code};
use crate::input::{self, Typed};
use crate::routes::dataflows;
use crate::state::AppState;

/// Rows answered when the request names no limit, and at most.
const DEFAULT_ROWS: u32 = 100;
const MAX_ROWS: u32 = 1000;
/// The time an executor is given; the gateway waits a little longer for the reply.
const PREVIEW_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn preview(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(ask): Typed<bodies::PreviewAsk>,
) -> ApiResult<Json<bodies::Preview>> {
    input::check_name("name", &name)?;
    let limit = rows_wanted(&ask)?;
    let text = ask.document.to_string();
    let checked = state
        .store
        .transact(|tx| {
            let text = text.clone();
            async move {
                let (dataflow, document) = match dataflows::check(&tx, &text, Syntax::Json).await? {
                    Ok(parsed) => parsed,
                    Err(problems) => return Ok(Err(problems)),
                };
                let names: Vec<String> = dataflow
                    .connections()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let connections = prism_jobs::snapshot_connections(&tx, &names).await?;
                Ok(Ok((dataflow, document, names, connections)))
            }
        })
        .await?;
    // The problems, as a save would answer them.
    let (dataflow, document, names, connections) = checked.map_err(dataflows::refused)?;
    if !dataflow.stages.iter().any(|s| s.id == ask.stage) {
        return Err(ApiError::invalid(
            "stage",
            format!("no stage {:?} in the document", ask.stage),
        ));
    }
    for connection in &names {
        let wanted = Permission::on(Action::Execute, Entity::Connections, connection);
        caller.require(&state, wanted).await?;
    }
    let connections = connections.map_err(ApiError::from)?;
    let parameters = prism_dataflow::parameters::resolve(&dataflow.parameters, &ask.parameters)
        .and_then(|values| {
            let paths = dataflow.paths();
            prism_dataflow::parameters::check_paths(paths, &values).map(|()| values)
        })
        .map_err(|e| ApiError::invalid(&e.field(), e.message))?;
    let request = PreviewRequest {
        preview_id: format!("preview-{}", uuid::Uuid::now_v7()),
        dataflow_document: document.to_string(),
        connections,
        parameters: parameters.into_iter().collect(),
        stage: ask.stage.clone(),
        limit,
        timeout_ms: PREVIEW_TIMEOUT.as_millis() as u32,
        actor: caller.name().to_string(),
    };
    let reply = ask_an_executor(&state, request).await?;
    answer(ask.stage, reply)
}

/// The executor's reply as the API answers it: the rows shown, or its error.
fn answer(stage: String, reply: PreviewReply) -> ApiResult<Json<bodies::Preview>> {
    match reply.result {
        Some(preview_reply::Result::Rows(shown)) => {
            let rows = serde_json::from_str(&shown.rows_json).unwrap_or_default();
            Ok(Json(bodies::Preview {
                stage,
                columns: shown
                    .columns
                    .into_iter()
                    .map(|c| bodies::PreviewColumn {
                        name: c.name,
                        kind: c.r#type,
                    })
                    .collect(),
                rows,
                truncated: shown.truncated,
                stages: shown
                    .stages
                    .into_iter()
                    .map(|s| bodies::StageStats {
                        id: s.id,
                        rows_in: s.rows_in,
                        rows_out: s.rows_out,
                        elapsed_ms: s.elapsed_ms,
                    })
                    .collect(),
                node: shown.node,
                elapsed_ms: shown.elapsed_ms,
            }))
        }
        Some(preview_reply::Result::Error(error)) => {
            let code = match error.code.as_str() {
                "invalid_argument" => Code::InvalidArgument,
                "unavailable" => Code::Unavailable,
                _ => Code::Unprocessable,
            };
            Err(ApiError::new(code, None, error.message))
        }
        None => Err(ApiError::new(
            Code::Internal,
            None,
            "an empty preview reply",
        )),
    }
}

/// The rows asked for, once the request's own fields are checked.
fn rows_wanted(ask: &bodies::PreviewAsk) -> ApiResult<u32> {
    let limit = ask.limit.unwrap_or(DEFAULT_ROWS);
    if limit == 0 || limit > MAX_ROWS {
        return Err(ApiError::invalid("limit", format!("1 to {MAX_ROWS} rows")));
    }
    if !ask.document.is_object() {
        return Err(ApiError::invalid(
            "document",
            "a dataflow document (an object)",
        ));
    }
    Ok(limit)
}

async fn ask_an_executor(state: &AppState, request: PreviewRequest) -> ApiResult<PreviewReply> {
    let subject = subjects::preview(&state.pool);
    let sent = state
        .bus
        .client
        .request(subject, request.encode_to_vec().into());
    let unavailable = |message: String| ApiError::new(Code::Unavailable, None, message);
    match tokio::time::timeout(PREVIEW_TIMEOUT + Duration::from_secs(2), sent).await {
        Err(_) => Err(ApiError::new(
            Code::DeadlineExceeded,
            None,
            format!("no preview within {} s", PREVIEW_TIMEOUT.as_secs()),
        )),
        Ok(Err(error)) if error.kind() == async_nats::RequestErrorKind::NoResponders => {
            Err(unavailable("no executor is running to preview on".into()))
        }
        Ok(Err(error)) => Err(unavailable(format!("bus: {error}"))),
        Ok(Ok(message)) => PreviewReply::decode(message.payload.as_ref()).map_err(|e| {
            ApiError::new(
                Code::Internal,
                None,
                format!("unreadable preview reply: {e}"),
            )
        }),
    }
}
