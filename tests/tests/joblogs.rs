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
    // Each stage is told finished when it is: the read and the query only once the
    // write has drained them.
    let stages: Vec<&str> = lines
        .iter()
        .filter(|l| l["message"] == "stage finished")
        .map(|l| l["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["pause", "people", "adults", "out"], "{followed}");
    let told = |stage: &str| {
        lines
            .iter()
            .find(|l| l["stage"] == stage && l["message"] == "stage finished")
            .unwrap()
    };
    assert!(told("pause")["elapsed_ms"].as_u64() >= Some(1900));
    assert_eq!(told("out")["rows_out"], 2);
    assert_eq!(told("people")["rows_in"], 4);

    // The record keeps the same statistics, in the dataflow's order.
    let stats = job["stages"].as_array().expect("stages");
    let ids: Vec<&str> = stats.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["people", "adults", "pause", "out"], "{job}");
    let (people, adults, pause, out) = (&stats[0], &stats[1], &stats[2], &stats[3]);
    // The file has 4 rows; the query's filter may run inside the read's scan.
    assert_eq!(people["rows_in"], 4, "{people}");
    let passed = people["rows_out"].as_u64().unwrap();
    assert!((2..=4).contains(&passed), "{people}");
    assert_eq!(adults["rows_in"], passed, "a query takes its inputs' rows");
    assert_eq!(adults["rows_out"], 2, "{adults}");
    assert_eq!(
        (&pause["rows_in"], &pause["rows_out"]),
        (&json!(0), &json!(0))
    );
    assert!(pause["elapsed_ms"].as_u64() >= Some(1900), "{pause}");
    assert_eq!((&out["rows_in"], &out["rows_out"]), (&json!(2), &json!(2)));
    // The write runs the whole pipeline; the read streams within it.
    let elapsed = |s: &Value| s["elapsed_ms"].as_u64().unwrap();
    assert!(elapsed(out) >= elapsed(people), "{job}");
    for (stage, id) in stats.iter().zip(ids) {
        assert_eq!(stage["rows_out"], told(id)["rows_out"], "{stage}");
    }
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
    // A failed job's record has the stages it reached: the read that failed.
    let failed = api.wait_terminal(id, JOB_TIMEOUT).await;
    let reached: Vec<&str> = failed["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(reached, ["people"], "{failed}");
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
