//! Jobs from the command line: `run` (with `--wait`, live progress), and
//! `jobs list|show|cancel|logs`.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::client::{Client, Failure, Outcome, encode};
use crate::output::cell;

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

/// A job's life as log lines, from its record: accepted, started (per attempt),
/// ended with rows or the error. Lines already printed are skipped by the caller.
pub fn log_lines(job: &Value) -> Vec<String> {
    let mut lines = vec![format!("{} queued", cell(&job["created_at"]))];
    if !job["started_at"].is_null() {
        lines.push(format!(
            "{} running (attempt {})",
            cell(&job["started_at"]),
            cell(&job["attempt"])
        ));
    }
    let status = job["status"].as_str().unwrap_or("");
    if is_terminal(status) {
        let detail = match status {
            "succeeded" => format!(
                "rows read {}, written {}",
                cell(&job["rows_read"]),
                cell(&job["rows_written"])
            ),
            _ => format!("error: {}", cell(&job["error"])),
        };
        lines.push(format!("{} {status}: {detail}", cell(&job["finished_at"])));
    }
    lines
}

/// Prints a job's log lines; with `follow`, keeps printing new ones until it ends.
pub async fn logs(client: &Client, id: &str, follow: bool) -> Outcome<()> {
    let mut printed = 0;
    loop {
        let job = client.get(&format!("/v1/jobs/{}", encode(id))).await?;
        let lines = log_lines(&job);
        for line in lines.iter().skip(printed) {
            println!("{line}");
        }
        printed = printed.max(lines.len());
        if !follow || is_terminal(job["status"].as_str().unwrap_or("")) {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
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
        assert_eq!(log_lines(&running), ["t0 queued", "t1 running (attempt 1)"]);
        let failed = json!({"id":"j","status":"failed","attempt":2,"created_at":"t0","started_at":"t1","finished_at":"t2","error":"boom"});
        assert_eq!(log_lines(&failed)[2], "t2 failed: error: boom");
        assert!(verdict(&failed).unwrap_err().to_string().contains("boom"));
    }
}
