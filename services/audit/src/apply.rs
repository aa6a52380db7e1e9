//! Turning one event into an audit entry and, for job events, the job record.
use async_nats::jetstream;
use prism_bus::headers;
use prism_schemas::v1::{
    AuditRecord, ConfigEvent, JobEvent, JobRecord, JobState, NodeEvent, ScheduleEvent,
    SubmissionRejected,
};
use prism_store::records::{audit, jobs, now_ms};
use prism_store::{Store, Tx};
use prost::{Message, Name};
use serde_json::json;

/// Records `message` in the store. Errors are the store's only: a malformed event is
/// itself recorded (as `event.malformed`) rather than blocking the stream.
pub async fn apply_event(store: &Store, message: &jetstream::Message) -> prism_store::Result<()> {
    let record = to_audit_record(message);
    let job_event = decode_as::<JobEvent>(message);
    store
        .transact(|tx| {
            let (record, job_event) = (record.clone(), job_event.clone());
            async move {
                if !audit::append(&tx, &record).await? {
                    return Ok(());
                }
                if let Some(event) = job_event {
                    update_job(&tx, &event).await?;
                }
                Ok(())
            }
        })
        .await
}

fn decode_as<M: Message + Name + Default>(message: &jetstream::Message) -> Option<M> {
    let type_name = headers::message_type(message.headers.as_ref())?;
    if type_name != M::full_name() {
        return None;
    }
    M::decode(message.payload.as_ref()).ok()
}

fn to_audit_record(message: &jetstream::Message) -> AuditRecord {
    let stream_sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
    if let Some(event) = decode_as::<JobEvent>(message) {
        let kind = event.state().event_kind();
        return AuditRecord {
            event_id: event.event_id.clone(),
            time_ms: event.occurred_at_ms,
            actor: if event.executor.is_empty() {
                "gateway".into()
            } else {
                format!("executor:{}", event.executor)
            },
            action: format!("job.{kind}"),
            target: format!("job/{}", event.job_id),
            details_json: json!({
                "attempt": event.attempt,
                "dataflow": event.dataflow,
                "version": event.dataflow_version,
                "rows_read": event.rows_read,
                "rows_written": event.rows_written,
                "error": event.error,
            })
            .to_string(),
        };
    }
    if let Some(event) = decode_as::<ConfigEvent>(message) {
        return AuditRecord {
            event_id: event.event_id,
            time_ms: event.occurred_at_ms,
            actor: event.actor,
            action: format!("{}.{}", event.entity, event.op),
            target: format!("{}/{}", event.entity, event.name),
            details_json: event.details_json,
        };
    }
    if let Some(event) = decode_as::<ScheduleEvent>(message) {
        return AuditRecord {
            event_id: event.event_id,
            time_ms: event.occurred_at_ms,
            actor: "scheduler".into(),
            action: format!("schedule.{}", event.kind),
            target: format!("schedule/{}", event.schedule),
            details_json: json!({
                "occurrence_ms": event.occurrence_ms,
                "job_id": event.job_id,
                "detail": event.detail,
            })
            .to_string(),
        };
    }
    if let Some(event) = decode_as::<SubmissionRejected>(message) {
        return AuditRecord {
            event_id: event.event_id,
            time_ms: event.occurred_at_ms,
            actor: "bus".into(),
            action: "job.submit_rejected".into(),
            target: prism_bus::subjects::SUBMIT.into(),
            details_json: json!({
                "code": event.code,
                "message": event.message,
                "field": event.field,
                "payload_bytes": event.payload_bytes,
            })
            .to_string(),
        };
    }
    if let Some(event) = decode_as::<NodeEvent>(message) {
        return AuditRecord {
            event_id: event.event_id,
            time_ms: event.occurred_at_ms,
            actor: format!("node:{}", event.node),
            action: format!("node.{}", event.kind),
            target: format!("node/{}", event.node),
            details_json: json!({ "role": event.role }).to_string(),
        };
    }
    // Unknown or undecodable: keep a trace of it, keyed by its stream position.
    AuditRecord {
        event_id: format!("stream-seq-{stream_sequence}"),
        time_ms: now_ms(),
        actor: "bus".into(),
        action: "event.malformed".into(),
        target: message.subject.to_string(),
        details_json: json!({
            "message_type": headers::message_type(message.headers.as_ref()),
            "payload_bytes": message.payload.len(),
        })
        .to_string(),
    }
}

/// Applies a job event to the job record. Terminal states are final. A terminal event
/// is taken whatever its attempt: executors publish one only after recording it in the
/// attempt bucket with compare-and-set, which admits one outcome per job. A start of an
/// older attempt than the record's is ignored.
async fn update_job(tx: &Tx, event: &JobEvent) -> prism_store::Result<()> {
    let mut job = jobs::get(tx, &event.job_id)
        .await?
        .unwrap_or_else(|| JobRecord {
            // The gateway writes the record before it publishes; this covers records that
            // were never written (e.g. a store restored from an older backup).
            id: event.job_id.clone(),
            dataflow: event.dataflow.clone(),
            dataflow_version: event.dataflow_version,
            state: JobState::Queued as i32,
            created_at_ms: event.created_at_ms,
            ..Default::default()
        });
    let state = event.state();
    if job.state().is_terminal() {
        return Ok(());
    }
    match state {
        // A start older than the record's attempt is a stale delivery's.
        JobState::Running if event.attempt < job.attempt => return Ok(()),
        JobState::Running => {
            job.state = JobState::Running as i32;
            job.attempt = event.attempt;
            job.started_at_ms = event.started_at_ms;
        }
        JobState::Succeeded | JobState::Failed | JobState::Cancelled => {
            job.state = state as i32;
            job.attempt = event.attempt;
            if event.started_at_ms != 0 {
                job.started_at_ms = event.started_at_ms;
            }
            job.finished_at_ms = event.finished_at_ms;
            job.rows_read = event.rows_read;
            job.rows_written = event.rows_written;
            job.error = event.error.clone();
        }
        JobState::Queued | JobState::Unspecified => return Ok(()),
    }
    jobs::put(tx, &job).await
}
