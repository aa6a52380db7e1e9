//! A job's own log lines, on the bus: `prism.logs.job.<id>` (stream `LOGS`, at most
//! 1,000 lines per job, kept 7 days), served by `GET /v1/jobs/{id}/logs`. Lines are
//! published without waiting for JetStream's acknowledgement: a log must never slow
//! or fail the job it describes, so a line lost with a dying connection is accepted.
use prism_bus::Bus;
use prism_bus::subjects;
use serde_json::json;

/// The longest message of one line, in characters; the stream refuses larger lines.
const MAX_MESSAGE_CHARS: usize = 2000;

#[derive(Clone)]
pub struct JobLog {
    bus: Bus,
    subject: String,
    attempt: u32,
    node: String,
}

#[derive(Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl JobLog {
    pub fn new(bus: &Bus, job_id: &str, attempt: u32, node: &str) -> JobLog {
        JobLog {
            bus: bus.clone(),
            subject: subjects::job_log(job_id),
            attempt,
            node: node.to_string(),
        }
    }

    /// One line: `{"time","level","attempt","node","stage"?,"message", ...fields}`.
    pub async fn line(
        &self,
        level: Level,
        stage: Option<&str>,
        message: &str,
        fields: serde_json::Value,
    ) {
        let level = match level {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        let mut line = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": level,
            "attempt": self.attempt,
            "node": self.node,
            "stage": stage,
            "message": message,
        });
        if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
            line.extend(fields.clone());
        }
        let payload = line.to_string().into_bytes();
        if let Err(error) = self
            .bus
            .client
            .publish(self.subject.clone(), payload.into())
            .await
        {
            tracing::debug!(%error, "job log line not published");
        }
    }
}
