//! Job submission over the bus: `prism.jobs.submit`, answered by one gateway of the
//! queue group with a `SubmitJobReply`. Same authentication (the `Authorization`
//! header carries `Bearer <token>`), authorization, validation and idempotency as
//! HTTP; a refused submission is answered and recorded, and never stops the gateway.
use std::sync::Arc;

use futures::StreamExt;
use prism_auth::{Action, Entity, Permission};
use prism_bus::subjects;
use prism_errors::Code;
use prism_jobs::SubmitRequest;
use prism_schemas::v1::{
    self, SubmissionRejected, SubmitJobReply, SubmitJobRequest, submit_job_reply,
};
use prism_store::records::now_ms;
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::state::AppState;
use tracing::Instrument;

/// The header a bus submission carries its token in, as over HTTP.
pub const AUTHORIZATION: &str = "Authorization";

pub async fn serve(state: Arc<AppState>, shutdown: CancellationToken) -> prism_bus::Result<()> {
    let mut requests = state
        .bus
        .client
        .queue_subscribe(subjects::SUBMIT, subjects::GATEWAY_QUEUE_GROUP.into())
        .await
        .map_err(|e| prism_bus::Error::jetstream("subscribe to submissions", e))?;
    loop {
        let request = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = requests.next() => match next {
                Some(request) => request,
                None => return Ok(()),
            },
        };
        let state = state.clone();
        // The submitter's trace, if its request carried one; a new one otherwise.
        let span = tracing::info_span!("bus submission", otel.kind = "server");
        prism_telemetry::adopt_trace_context(&span, request.headers.as_ref());
        let answered = async move {
            let authorization = request
                .headers
                .as_ref()
                .and_then(|h| h.get(AUTHORIZATION))
                .map(|v| v.as_str().to_string());
            let reply = answer(&state, authorization.as_deref(), &request.payload).await;
            if let Some(reply_to) = request.reply
                && let Err(error) = state
                    .bus
                    .client
                    .publish(reply_to, reply.encode_to_vec().into())
                    .await
            {
                tracing::warn!(%error, "submission reply not sent");
            }
        };
        tokio::spawn(answered.instrument(span));
    }
}

fn error_reply(code: Code, field: &str, message: String) -> SubmitJobReply {
    SubmitJobReply {
        result: Some(submit_job_reply::Result::Error(v1::Error {
            code: code.name().into(),
            message,
            field: field.into(),
        })),
    }
}

fn api_error_reply(error: ApiError) -> SubmitJobReply {
    let field = error.field.clone().unwrap_or_default();
    error_reply(error.code, &field, error.message)
}

/// The caller, who must be allowed to execute `dataflow`.
async fn authorize(
    state: &AppState,
    authorization: Option<&str>,
    dataflow: &str,
) -> Result<Caller, ApiError> {
    let caller = auth::authenticate(state, authorization).await?;
    caller
        .require(
            state,
            Permission::on(Action::Execute, Entity::Dataflows, dataflow),
        )
        .await?;
    Ok(caller)
}

async fn answer(state: &AppState, authorization: Option<&str>, payload: &[u8]) -> SubmitJobReply {
    let request = match SubmitJobRequest::decode(payload) {
        Ok(request) => request,
        Err(e) => {
            let reply = error_reply(
                Code::InvalidArgument,
                "payload",
                format!("not a prism.v1.SubmitJobRequest: {e}"),
            );
            record_rejection(state, &reply, payload.len()).await;
            return reply;
        }
    };
    let _admitted = match state.admit_submission() {
        Ok(permit) => permit,
        Err(error) => return api_error_reply(error),
    };
    let caller = match authorize(state, authorization, &request.dataflow).await {
        Ok(caller) => caller,
        Err(error) => {
            let reply = api_error_reply(error);
            record_rejection(state, &reply, payload.len()).await;
            return reply;
        }
    };
    let mut submission = SubmitRequest {
        dataflow: request.dataflow,
        version: request.version,
        parameters: request.parameters.into_iter().collect(),
        idempotency_key: Some(request.idempotency_key).filter(|k| !k.is_empty()),
        schedule: None,
        submitted_by: caller.name().to_string(),
        permitted_connections: None,
    };
    match caller.require_connections(state, &submission).await {
        Ok(permitted) => submission.permitted_connections = Some(permitted),
        Err(error) => {
            let reply = api_error_reply(error);
            record_rejection(state, &reply, payload.len()).await;
            return reply;
        }
    }
    match state.submit(submission).await {
        Ok(submitted) => SubmitJobReply {
            result: Some(submit_job_reply::Result::Accepted(v1::JobAccepted {
                id: submitted.job.id.clone(),
                status: submitted.job.state().api_name().into(),
            })),
        },
        Err(error) => {
            // A conflict is a retry with another request, not a malformed one.
            let refused_by_input = matches!(error.code(), Code::InvalidArgument | Code::NotFound);
            let reply = error_reply(error.code(), error.field().unwrap_or(""), error.to_string());
            if refused_by_input {
                record_rejection(state, &reply, payload.len()).await;
            }
            reply
        }
    }
}

async fn record_rejection(state: &AppState, reply: &SubmitJobReply, payload_bytes: usize) {
    let Some(submit_job_reply::Result::Error(error)) = &reply.result else {
        return;
    };
    tracing::info!(code = %error.code, field = %error.field, "bus submission refused");
    let event = SubmissionRejected {
        event_id: uuid::Uuid::now_v7().to_string(),
        code: error.code.clone(),
        message: prism_errors::bounded(&error.message),
        field: error.field.clone(),
        occurred_at_ms: now_ms(),
        payload_bytes: payload_bytes as u64,
    };
    if let Err(e) = state
        .bus
        .publish_durable(subjects::SUBMIT_REJECTED.into(), &event.event_id, &event)
        .await
    {
        tracing::warn!(error = %e, "rejection event not published");
    }
}
