//! The audit entry each event becomes. Error texts are bounded here, so that no
//! event can make an entry exceed the store's value limit by its error alone.
use prism_errors::bounded;
use prism_schemas::v1::{
    AuditRecord, ConfigEvent, FlowEvent, JobEvent, NodeEvent, RunRejected, ScheduleEvent,
    SubmissionRejected,
};
use prism_store::records::now_ms;
use serde_json::json;

use crate::event::{Event, Incoming};

pub fn to_audit_record(event: &Event, incoming: &Incoming<'_>) -> AuditRecord {
    match event {
        Event::Job(e) => job(e),
        Event::Config(e) => config(e),
        Event::Schedule(e) => schedule(e),
        Event::Flow(e) => flow(e),
        Event::SubmitRejected(e) => submit_rejected(e),
        Event::RunRejected(e) => run_rejected(e),
        Event::Node(e) => node(e),
        // Never recorded (`apply_event` skips it); kept as a trace if asked.
        Event::ServiceCall | Event::Malformed => malformed(incoming),
    }
}

/// A job's events name who it runs for (the submitting user, or
/// `schedule:<name>`); the executor that ran an attempt is in the details.
fn job(event: &JobEvent) -> AuditRecord {
    let actor = match (event.actor.is_empty(), event.executor.is_empty()) {
        (false, _) => event.actor.clone(),
        // Events from before identities existed.
        (true, true) => "gateway".into(),
        (true, false) => format!("executor:{}", event.executor),
    };
    AuditRecord {
        event_id: event.event_id.clone(),
        time_ms: event.occurred_at_ms,
        actor,
        action: format!("job.{}", event.state().event_kind()),
        target: format!("job/{}", event.job_id),
        details_json: json!({
            "attempt": event.attempt,
            "dataflow": event.dataflow,
            "version": event.dataflow_version,
            "rows_read": event.rows_read,
            "rows_written": event.rows_written,
            "error": bounded(&event.error),
            "executor": event.executor,
            "secrets_used": secrets_used(event),
        })
        .to_string(),
    }
}

/// A job opens at most a few secrets per connection; an event claiming more than
/// 100, or names past 300 bytes, is cut, so no event can bloat its entry.
fn secrets_used(event: &JobEvent) -> Vec<String> {
    event
        .secrets_used
        .iter()
        .take(100)
        .map(|s| bounded_to(s, 300))
        .collect()
}

fn bounded_to(text: &str, limit: usize) -> String {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn config(event: &ConfigEvent) -> AuditRecord {
    AuditRecord {
        event_id: event.event_id.clone(),
        time_ms: event.occurred_at_ms,
        actor: event.actor.clone(),
        action: format!("{}.{}", event.entity, event.op),
        target: format!("{}/{}", event.entity, event.name),
        details_json: event.details_json.clone(),
    }
}

/// A schedule acts as `schedule:<name>`, with the permissions of its owner.
fn schedule(event: &ScheduleEvent) -> AuditRecord {
    AuditRecord {
        event_id: event.event_id.clone(),
        time_ms: event.occurred_at_ms,
        actor: format!("schedule:{}", event.schedule),
        action: format!("schedule.{}", event.kind),
        target: format!("schedule/{}", event.schedule),
        details_json: json!({
            "occurrence_ms": event.occurrence_ms,
            "job_id": event.job_id,
            "flow_run": event.flow_run,
            "detail": bounded(&event.detail),
            "owner": event.owner,
        })
        .to_string(),
    }
}

/// A flow run acts for its user; a decision, for its decider (or `timeout`).
fn flow(event: &FlowEvent) -> AuditRecord {
    AuditRecord {
        event_id: event.event_id.clone(),
        time_ms: event.occurred_at_ms,
        actor: event.actor.clone(),
        action: format!("flow.{}", event.kind),
        target: format!("flow_run/{}", event.run_id),
        details_json: json!({
            "flow": event.flow,
            "version": event.flow_version,
            "activity": event.activity,
            "state": event.state,
            "attempt": event.attempt,
            "job_id": event.job_id,
            "child_run": event.child_run,
            "detail": bounded(&event.detail),
        })
        .to_string(),
    }
}

fn submit_rejected(event: &SubmissionRejected) -> AuditRecord {
    AuditRecord {
        event_id: event.event_id.clone(),
        time_ms: event.occurred_at_ms,
        actor: "bus".into(),
        action: "job.submit_rejected".into(),
        target: prism_bus::subjects::SUBMIT.into(),
        details_json: json!({
            "code": event.code,
            "message": bounded(&event.message),
            "field": event.field,
            "payload_bytes": event.payload_bytes,
        })
        .to_string(),
    }
}

fn run_rejected(event: &RunRejected) -> AuditRecord {
    AuditRecord {
        event_id: event.event_id.clone(),
        time_ms: event.occurred_at_ms,
        actor: format!("executor:{}", event.executor),
        action: "job.rejected".into(),
        target: format!("job/{}", event.job_id),
        details_json: json!({
            "reason": bounded(&event.reason),
            "stream_sequence": event.stream_sequence,
            "payload_bytes": event.payload_bytes,
        })
        .to_string(),
    }
}

fn node(event: &NodeEvent) -> AuditRecord {
    AuditRecord {
        event_id: event.event_id.clone(),
        time_ms: event.occurred_at_ms,
        actor: format!("node:{}", event.node),
        action: format!("node.{}", event.kind),
        target: format!("node/{}", event.node),
        details_json: json!({ "role": event.role }).to_string(),
    }
}

/// Unknown or undecodable: keep a trace of it, keyed by its stream position.
fn malformed(incoming: &Incoming<'_>) -> AuditRecord {
    AuditRecord {
        event_id: format!("stream-seq-{}", incoming.stream_sequence),
        time_ms: now_ms(),
        actor: "bus".into(),
        action: "event.malformed".into(),
        target: prism_errors::bounded_to(incoming.subject, 512),
        details_json: json!({
            "message_type": incoming.message_type.map(|t| prism_errors::bounded_to(t, 512)),
            "payload_bytes": incoming.payload.len(),
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use prism_schemas::v1::JobState;
    use prost::{Message, Name};
    use serde_json::Value;

    use super::*;

    fn incoming<'a>(message_type: &'a str, payload: &'a [u8]) -> Incoming<'a> {
        Incoming {
            subject: "prism.events.test",
            message_type: Some(message_type),
            payload,
            stream_sequence: 7,
        }
    }

    #[test]
    fn a_job_event_names_its_executor_action_and_bounded_error() {
        let event = JobEvent {
            event_id: "j.2.failed".into(),
            job_id: "j".into(),
            state: JobState::Failed as i32,
            attempt: 2,
            executor: "node-1".into(),
            error: "x".repeat(50_000),
            ..Default::default()
        };
        let payload = event.encode_to_vec();
        let message_type = JobEvent::full_name();
        let incoming = incoming(&message_type, &payload);
        let decoded = Event::decode(&incoming);
        let record = to_audit_record(&decoded, &incoming);
        assert_eq!(record.action, "job.failed");
        assert_eq!(record.actor, "executor:node-1");
        assert_eq!(record.target, "job/j");
        let details: Value = serde_json::from_str(&record.details_json).unwrap();
        let error = details["error"].as_str().unwrap();
        assert!(
            error.len() <= prism_errors::MAX_ERROR_TEXT_BYTES,
            "{}",
            error.len()
        );
        assert!(error.contains("truncated"));
        assert_eq!(details["attempt"], 2);
    }

    #[test]
    fn a_rejected_run_is_a_job_rejected_entry() {
        let event = RunRejected {
            event_id: "rejected.9".into(),
            job_id: "not-a-uuid".into(),
            reason: "invalid job id".into(),
            executor: "e".into(),
            ..Default::default()
        };
        let payload = event.encode_to_vec();
        let message_type = RunRejected::full_name();
        let incoming = incoming(&message_type, &payload);
        let record = to_audit_record(&Event::decode(&incoming), &incoming);
        assert_eq!(
            (
                record.action.as_str(),
                record.target.as_str(),
                record.event_id.as_str()
            ),
            ("job.rejected", "job/not-a-uuid", "rejected.9")
        );
    }

    #[test]
    fn a_payload_that_does_not_decode_as_its_type_is_malformed_by_position() {
        let message_type = JobEvent::full_name();
        let incoming = incoming(&message_type, b"\xff\xff\xff");
        let decoded = Event::decode(&incoming);
        assert_eq!(decoded, Event::Malformed);
        let record = to_audit_record(&decoded, &incoming);
        assert_eq!(record.action, "event.malformed");
        assert_eq!(record.event_id, "stream-seq-7");
        let unknown = super::Incoming {
            message_type: None,
            ..incoming.clone()
        };
        assert_eq!(Event::decode(&unknown), Event::Malformed);
    }
}
