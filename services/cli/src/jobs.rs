//! Jobs from the command line: `run` (with `--wait`, live progress), and
//! `jobs list|show|cancel|logs`.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::client::{Client, Failure, Outcome, encode};
use crate::output::{self, cell};

/// How often a waiting command asks for the job again.
const POLL: Duration = Duration::from_millis(500);

pub fn is_terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

/// `-p name=value` pairs as the API's parameters object.
pub fn parameters(pairs: &[String]) -> Outcome<Value> {
    let mut map = Map::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| Failure::local(format!("-p {pair:?}: expected name=value")))?;
        map.insert(name.to_string(), Value::String(value.to_string()));
    }
    Ok(Value::Object(map))
}

pub async fn submit(client: &Client, dataflow: &str, params: &[String]) -> Outcome<Value> {
    let body = json!({"dataflow": dataflow, "parameters": parameters(params)?});
    client.post("/v1/jobs", &body).await
}

/// One line of a job's progress: state, attempt, rows, elapsed.
fn progress_line(job: &Value, elapsed: Duration) -> String {
    let mut line = format!(
        "{} {} attempt {}",
        short(job["id"].as_str().unwrap_or("?")),
        job["status"].as_str().unwrap_or("?"),
        cell(&job["attempt"]),
    );
    if !job["rows_read"].is_null() || !job["rows_written"].is_null() {
        line += &format!(
            ", rows read {} written {}",
            cell(&job["rows_read"]),
            cell(&job["rows_written"])
        );
    }
    line + &format!(", {:.1}s", elapsed.as_secs_f64())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// Follows a job until it ends: a spinner redrawn in place on a terminal, a plain
/// line per change of state otherwise. Answers the final record.
pub async fn wait(client: &Client, id: &str) -> Outcome<Value> {
    let started = Instant::now();
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("template"));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let mut last_status = String::new();
    loop {
        let job = client.get(&format!("/v1/jobs/{}", encode(id))).await?;
        let status = job["status"].as_str().unwrap_or("").to_string();
        let line = progress_line(&job, started.elapsed());
        match &spinner {
            Some(bar) => bar.set_message(line.clone()),
            None if status != last_status => eprintln!("{line}"),
            None => {}
        }
        if is_terminal(&status) {
            if let Some(bar) = spinner {
                bar.finish_with_message(line);
            }
            return Ok(job);
        }
        last_status = status;
        tokio::time::sleep(POLL).await;
    }
}

/// The outcome of a finished job as an exit: success, or the reason it is not.
pub fn verdict(job: &Value) -> Outcome<()> {
    match job["status"].as_str() {
        Some("succeeded") => Ok(()),
        Some("cancelled") => Err(Failure::local(format!(
            "job {} was cancelled",
            cell(&job["id"])
        ))),
        _ => Err(Failure::local(format!(
            "job {} failed: {}",
            cell(&job["id"]),
            cell(&job["error"])
        ))),
    }
}

/// `GET /v1/jobs` with its filters.
pub fn list_path(status: Option<&str>, dataflow: Option<&str>, limit: u32) -> String {
    let mut path = format!("/v1/jobs?limit={limit}");
    if let Some(status) = status {
        path += &format!("&status={}", encode(status));
    }
    if let Some(dataflow) = dataflow {
        path += &format!("&dataflow={}", encode(dataflow));
    }
    path
}

/// One line of a job's log for people: `time level stage message key=value...`.
pub fn log_line(line: &Value) -> String {
    let mut out = format!(
        "{} {:<5} {} {}",
        cell(&line["time"]),
        cell(&line["level"]),
        cell(&line["stage"]),
        cell(&line["message"]),
    );
    if let Some(fields) = line.as_object() {
        for (key, value) in fields {
            let shown = [
                "time", "level", "stage", "message", "attempt", "node", "end",
            ];
            if !shown.contains(&key.as_str()) {
                out += &format!(" {key}={}", cell(value));
            }
        }
    }
    out
}

/// Prints a job's own log (`GET /v1/jobs/{id}/logs`); with `follow`, new lines as
/// they come, until the job ends. JSON lines as they are with `-o json`.
pub async fn logs(client: &Client, id: &str, follow: bool, raw: bool) -> Outcome<()> {
    let path = format!("/v1/jobs/{}/logs?follow={follow}", encode(id));
    client
        .lines(&path, |text| {
            let parsed = serde_json::from_str::<Value>(text);
            match parsed {
                Ok(line) if !raw => output::print(log_line(&line)),
                _ => output::print(text),
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_name_value_pairs() {
        assert_eq!(
            parameters(&["n=1".into(), "s=a=b".into()]).unwrap(),
            json!({"n":"1","s":"a=b"})
        );
        assert!(
            parameters(&["n".into()])
                .unwrap_err()
                .to_string()
                .contains("name=value")
        );
    }

    #[test]
    fn progress_and_logs_follow_the_record() {
        let running = json!({"id":"0123456789","status":"running","attempt":1,"created_at":"t0","started_at":"t1","finished_at":null,"rows_read":null,"rows_written":null});
        assert_eq!(
            progress_line(&running, Duration::from_millis(1500)),
            "01234567 running attempt 1, 1.5s"
        );
        let failed = json!({"id":"j","status":"failed","error":"boom"});
        assert!(verdict(&failed).unwrap_err().to_string().contains("boom"));
        let line = json!({"time":"t","level":"info","attempt":1,"node":"n","stage":"out","message":"stage finished","elapsed_ms":5,"rows_out":2});
        assert_eq!(
            log_line(&line),
            "t info  out stage finished elapsed_ms=5 rows_out=2"
        );
    }
}
