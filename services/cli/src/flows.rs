//! `prism flows`: starting, showing, resuming runs of process flows, and deciding
//! their approvals, over the API.
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Client, Failure, Outcome, encode};
use crate::jobs::parameters;
use crate::output::{self, Format};

/// How often `run --wait` asks how the run is doing.
const POLL: Duration = Duration::from_millis(500);

fn run_path(id: &str) -> String {
    format!("/v1/processflow-runs/{}", encode(id))
}

/// Starts a run; with `wait`, follows it and fails unless it succeeds.
pub async fn start(
    client: &Client,
    format: Format,
    flow: &str,
    params: &[String],
    wait: bool,
) -> Outcome<()> {
    let path = format!("/v1/processflows/{}/runs", encode(flow));
    let mut run = client
        .post(&path, &json!({"parameters": parameters(params)?}))
        .await?;
    let id = run["id"].as_str().unwrap_or_default().to_string();
    if format == Format::Table {
        output::print(format!("run {id} of {flow} started"));
    }
    if !wait {
        if format == Format::Json {
            output::print(output::json(&run));
        }
        return Ok(());
    }
    while run["state"] == "running" {
        tokio::time::sleep(POLL).await;
        run = client.get(&run_path(&id)).await?;
    }
    print_run(format, &run);
    match run["state"].as_str() {
        Some("succeeded") => Ok(()),
        other => Err(Failure::local(format!(
            "run {id} {}",
            other.unwrap_or("ended")
        ))),
    }
}

pub async fn show(client: &Client, format: Format, id: &str) -> Outcome<()> {
    let run = client.get(&run_path(id)).await?;
    print_run(format, &run);
    Ok(())
}

/// A run as a table of its activities, then every decision and why.
fn print_run(format: Format, run: &Value) {
    if format == Format::Json {
        output::print(output::json(run));
        return;
    }
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut lines = vec![format!(
        "run {} of {} (version {}): {}{}",
        text(&run["id"]),
        text(&run["flow"]),
        run["flow_version"],
        text(&run["state"]),
        run["error"]
            .as_str()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )];
    for a in run["activities"].as_array().into_iter().flatten() {
        let by = a["decided_by"]
            .as_str()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
        let job = a["job_id"]
            .as_str()
            .map(|j| format!(" job {j} attempt {}", a["attempt"]))
            .unwrap_or_default();
        lines.push(format!(
            "  {:<16} {:<10}{job}{by}",
            text(&a["id"]),
            text(&a["state"])
        ));
    }
    for d in run["decisions"].as_array().into_iter().flatten() {
        let taken = if d["taken"] == true {
            "taken"
        } else {
            "not taken"
        };
        let values = d["values"]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(|v| format!(" [{v}]"))
            .unwrap_or_default();
        lines.push(format!(
            "  {} -> {}: {}{values}: {taken}, {}",
            text(&d["from"]),
            text(&d["to"]),
            text(&d["rule"]),
            text(&d["why"])
        ));
    }
    output::print(lines.join("\n"));
}

/// The plan of resuming a run, or (with `execute`) the new run it starts.
pub async fn resume(
    client: &Client,
    format: Format,
    id: &str,
    from: Option<String>,
    execute: bool,
    latest: bool,
) -> Outcome<()> {
    let mut body = json!({"dry_run": !execute, "latest": latest});
    if let Some(from) = from {
        body["from"] = json!(from);
    }
    let answer = client
        .post(&format!("{}/resume", run_path(id)), &body)
        .await?;
    if format == Format::Json {
        output::print(output::json(&answer));
        return Ok(());
    }
    let mut lines: Vec<String> = answer["plan"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "  {:<16} {:<6} {}",
                p["activity"].as_str().unwrap_or(""),
                p["action"].as_str().unwrap_or(""),
                p["why"].as_str().unwrap_or("")
            )
        })
        .collect();
    for c in answer["changed"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  changed since the run: {} (version {} then, {} now)",
            c["dataflow"].as_str().unwrap_or(""),
            c["pinned"],
            c["latest"]
        ));
    }
    match answer["run"]["id"].as_str() {
        Some(new) => lines.push(format!("run {new} started, resuming {id}")),
        None => lines.push("a plan only: --execute starts it".into()),
    }
    output::print(lines.join("\n"));
    Ok(())
}

/// Approves (or rejects) a waiting approval.
pub async fn approve(
    client: &Client,
    format: Format,
    id: &str,
    activity: &str,
    reject: bool,
    comment: Option<String>,
) -> Outcome<()> {
    let decision = if reject { "reject" } else { "approve" };
    let path = format!("{}/approvals/{}", run_path(id), encode(activity));
    let run = client
        .post(&path, &json!({"decision": decision, "comment": comment}))
        .await?;
    match format {
        Format::Json => output::print(output::json(&run)),
        Format::Table => output::print(format!("{activity} of run {id}: {decision}d")),
    }
    Ok(())
}
