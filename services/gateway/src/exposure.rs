//! What executors serve: a service's entry in the bucket `prism_services`, written
//! through the outbox with the change that makes it (exposing, unexposing, a new
//! version of the dataflow a service follows). Executors never read the store.
use prism_bus::{envelope, subjects};
use prism_dataflow::Kind;
use prism_schemas::v1::{OutboxMessage, ServiceRecord, ServiceSpec};
use prism_store::Tx;
use prism_store::records::{dataflows, now_ms, services};

use crate::error::{ApiError, ApiResult};

/// The bucket entry that serves `record`'s dataflow version (resolving the latest
/// when it is not pinned), checked to be a service.
pub async fn spec_for(
    tx: &Tx,
    record: &mut ServiceRecord,
) -> prism_store::Result<ApiResult<OutboxMessage>> {
    let found = if record.pinned {
        dataflows::get_version(tx, &record.dataflow, record.version).await?
    } else {
        dataflows::latest(tx, &record.dataflow).await?
    };
    let Some(version) = found else {
        let (field, message) = if record.pinned {
            (
                "version",
                format!(
                    "dataflow {:?} has no version {}",
                    record.dataflow, record.version
                ),
            )
        } else {
            (
                "dataflow",
                format!("no dataflow named {:?}", record.dataflow),
            )
        };
        return Ok(Err(ApiError::invalid(field, message)));
    };
    let Ok(dataflow) = prism_jobs::outline::of(&version) else {
        return Ok(Err(ApiError::invalid(
            "dataflow",
            "the stored dataflow is invalid",
        )));
    };
    if dataflow.kind != Kind::Service {
        let message = format!(
            "{:?} is a job dataflow; services expose \"kind\":\"service\"",
            record.dataflow
        );
        return Ok(Err(ApiError::invalid("dataflow", message)));
    }
    let connections = match prism_jobs::snapshot_connections(tx, &dataflow.connections).await? {
        Ok(connections) => connections,
        Err(refused) => return Ok(Err(refused.into())),
    };
    record.version = version.version;
    let spec = ServiceSpec {
        name: record.name.clone(),
        exposed: true,
        dataflow: record.dataflow.clone(),
        version: version.version,
        dataflow_document: version.document_json,
        connections,
        timeout_ms: record.timeout_ms,
        max_inflight: record.max_inflight,
        updated_at_ms: record.updated_at_ms,
    };
    Ok(Ok(spec_message(&spec)))
}

pub fn spec_message(spec: &ServiceSpec) -> OutboxMessage {
    let msg_id = format!("svc.{}.{}", spec.name, spec.updated_at_ms);
    envelope(subjects::service_spec(&spec.name), &msg_id, spec)
}

/// Within the transaction that saved a new version of `dataflow`: every service
/// that follows its latest version moves to it. Answers the messages to stage.
pub async fn roll_out(tx: &Tx, dataflow: &str) -> prism_store::Result<Vec<OutboxMessage>> {
    let mut messages = Vec::new();
    for mut record in services::list(tx).await? {
        if record.pinned || record.dataflow != dataflow {
            continue;
        }
        record.updated_at_ms = now_ms();
        // A new version that is not a service leaves the running one in place.
        if let Ok(spec) = spec_for(tx, &mut record).await? {
            services::put(tx, &record).await?;
            messages.push(spec);
        }
    }
    Ok(messages)
}
