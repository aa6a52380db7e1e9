//! A job's own log, from the bus: followed while it runs (the answer ends when the
//! job does), read whole afterwards, and the error of a failing job.
use std::time::{Duration, Instant};

use prism_tests::{Standalone, adults_dataflow, failing_dataflow};
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn parse(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn job_logs_follow_until_the_job_ends_and_tell_each_stage() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    let slow = adults_dataflow("files", "out/adults.csv", 2_000);
    assert_eq!(api.put("/v1/dataflows/slow", &slow).await.0, 201);
    let (_, job) = api.post("/v1/jobs", &json!({"dataflow": "slow"})).await;
    let id = job["id"].as_str().unwrap();

    let started = Instant::now();
    let (status, followed) = api
        .get_text(&format!("/v1/jobs/{id}/logs?follow=true"))
        .await;
    assert_eq!(status, 200, "{followed}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "ended before the job"
    );
    let job = api.wait_terminal(id, JOB_TIMEOUT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let lines = parse(&followed);
    assert_eq!(lines[0]["message"], "attempt 1 started", "{followed}");
    let stages: Vec<&str> = lines
        .iter()
        .filter(|l| l["message"] == "stage finished")
        .map(|l| l["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["people", "adults", "pause", "out"], "{followed}");
    let pause = lines.iter().find(|l| l["stage"] == "pause").unwrap();
    assert!(pause["elapsed_ms"].as_u64() >= Some(1900), "{pause}");
    let out = lines.iter().find(|l| l["stage"] == "out").unwrap();
    assert_eq!(out["rows_out"], 2, "{out}");
    let last = lines.last().unwrap();
    assert_eq!(
        (&last["end"], &last["status"]),
        (&json!(true), &json!("succeeded"))
    );

    // Afterwards, the same lines without following.
    let (_, whole) = api.get_text(&format!("/v1/jobs/{id}/logs")).await;
    assert_eq!(parse(&whole), lines);

    // A failing job's log ends with its error.
    let broken = failing_dataflow("files");
    assert_eq!(api.put("/v1/dataflows/broken", &broken).await.0, 201);
    let (_, job) = api.post("/v1/jobs", &json!({"dataflow": "broken"})).await;
    let id = job["id"].as_str().unwrap();
    let (_, followed) = api
        .get_text(&format!("/v1/jobs/{id}/logs?follow=true"))
        .await;
    let last = parse(&followed).pop().unwrap();
    assert_eq!(
        (&last["level"], &last["status"]),
        (&json!("error"), &json!("failed"))
    );
    assert!(
        last["message"].as_str().unwrap().contains("missing.csv"),
        "{last}"
    );

    let (status, refused) = api.get("/v1/jobs/no-such-job/logs").await;
    assert_eq!((status, &refused["error"]["field"]), (404, &json!("id")));
    let (status, refused) = api.get(&format!("/v1/jobs/{id}/logs?follow=yes")).await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (400, &json!("follow"))
    );
}
