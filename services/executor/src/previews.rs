//! Previews for the console's designer: requests on `prism.preview.<pool>`, in
//! the executors' queue group, each run by `jobs::run::preview` with the same
//! confinement as a job, at most [`AT_ONCE`] at a time per executor, and answered
//! with a [`PreviewReply`]. A preview publishes nothing else and writes nothing.
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::json::ArrayWriter;
use futures::StreamExt;
use prism_bus::{Bus, subjects};
use prism_schemas::v1::{
    Error as WireError, PreviewColumn, PreviewReply, PreviewRequest, PreviewResult, preview_reply,
};
use prost::Message;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::engine::Confinement;
use crate::engine::remote::Remotes;
use crate::jobs::run::RunSpec;
use crate::jobs::run::preview::{Previewed, Shown, preview};

/// Previews one executor runs at once; more are refused as busy at once, since
/// the designer asks again rather than waits.
pub const AT_ONCE: usize = 2;
/// Rows a preview answers at most.
pub const MAX_ROWS: u32 = 1000;
/// Bytes of rows a reply carries at most (NATS's payload limit is 1 MiB).
pub const MAX_ROW_BYTES: usize = 512 * 1024;
/// The longest a preview may run.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers previews until `shutdown`.
pub async fn serve(
    bus: Bus,
    pool: String,
    confinement: Arc<Confinement>,
    node: String,
    shutdown: CancellationToken,
) -> prism_bus::Result<()> {
    let mut requests = bus
        .client
        .queue_subscribe(
            subjects::preview(&pool),
            subjects::SERVICE_QUEUE_GROUP.into(),
        )
        .await
        .map_err(|e| prism_bus::Error::jetstream("subscribe to previews", e))?;
    let slots = Arc::new(Semaphore::new(AT_ONCE));
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = requests.next() => match next {
                Some(message) => message,
                None => return Ok(()),
            },
        };
        let Some(reply_to) = message.reply.clone() else {
            continue;
        };
        let (bus, confinement, node) = (bus.clone(), confinement.clone(), node.clone());
        let slot = slots.clone().try_acquire_owned();
        let stop = shutdown.child_token();
        tokio::spawn(async move {
            let reply = match slot {
                Ok(_slot) => answer(&message.payload, &confinement, &node, &stop).await,
                Err(_) => refusal(
                    "unavailable",
                    "every preview slot of this executor is busy: try again",
                ),
            };
            if let Err(error) = bus
                .client
                .publish(reply_to, reply.encode_to_vec().into())
                .await
            {
                tracing::warn!(%error, "preview reply not sent");
            }
        });
    }
}

fn refusal(code: &str, message: impl Into<String>) -> PreviewReply {
    PreviewReply {
        result: Some(preview_reply::Result::Error(WireError {
            code: code.into(),
            message: message.into(),
            field: String::new(),
        })),
    }
}

async fn answer(
    payload: &[u8],
    confinement: &Confinement,
    node: &str,
    stop: &CancellationToken,
) -> PreviewReply {
    let started = Instant::now();
    let Ok(request) = PreviewRequest::decode(payload) else {
        return refusal("invalid_argument", "not a PreviewRequest");
    };
    if request.limit == 0 || request.limit > MAX_ROWS {
        return refusal("invalid_argument", format!("limit: 1 to {MAX_ROWS} rows"));
    }
    let dataflow = match prism_dataflow::validate::from_stored(&request.dataflow_document) {
        Ok(dataflow) => dataflow,
        Err(problems) => {
            let reason = problems.first().map_or("", |p| p.message.as_str());
            return refusal(
                "invalid_argument",
                format!("invalid dataflow document: {reason}"),
            );
        }
    };
    let remotes = match Remotes::open(&request.connections, confinement).await {
        Ok(remotes) => remotes,
        Err(error) => return refusal("unprocessable", error.to_string()),
    };
    let parameters = request.parameters.clone().into_iter().collect();
    let timeout = Duration::from_millis(u64::from(request.timeout_ms)).min(MAX_TIMEOUT);
    let spec = RunSpec {
        dataflow: &dataflow,
        connections: &request.connections,
        parameters: &parameters,
        job_id: &request.preview_id,
        attempt: 0,
        confinement,
        remotes: &remotes,
        log: None,
    };
    let Previewed { result, stages } =
        preview(spec, &request.stage, request.limit as usize, timeout, stop).await;
    tracing::info!(preview = %request.preview_id, actor = %request.actor, stage = %request.stage,
        ok = result.is_ok(), "preview");
    let shown = match result {
        Ok(shown) => shown,
        Err(error) => return refusal("unprocessable", error.to_string()),
    };
    match rows_of(&shown) {
        Ok((columns, rows_json, cut)) => PreviewReply {
            result: Some(preview_reply::Result::Rows(PreviewResult {
                columns,
                rows_json,
                stages,
                truncated: shown.truncated || cut,
                node: node.to_string(),
                elapsed_ms: started.elapsed().as_millis() as u64,
            })),
        },
        Err(error) => refusal("unprocessable", error),
    }
}

/// The columns, and the rows as a JSON array of at most [`MAX_ROW_BYTES`] (rows
/// past it are left out, and the third value says so).
fn rows_of(shown: &Shown) -> Result<(Vec<PreviewColumn>, String, bool), String> {
    let columns = shown.batches.first().map_or_else(Vec::new, |batch| {
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| PreviewColumn {
                name: f.name().clone(),
                r#type: f.data_type().to_string(),
            })
            .collect()
    });
    let mut writer = ArrayWriter::new(Vec::new());
    for batch in &shown.batches {
        writer.write(batch).map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    let bytes = writer.into_inner();
    let mut rows: Vec<serde_json::Value> = if bytes.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())?
    };
    let mut text = serde_json::to_string(&rows).map_err(|e| e.to_string())?;
    let mut cut = false;
    while text.len() > MAX_ROW_BYTES && !rows.is_empty() {
        let keep = rows.len() / 2;
        rows.truncate(keep);
        text = serde_json::to_string(&rows).map_err(|e| e.to_string())?;
        cut = true;
    }
    Ok((columns, text, cut))
}
