//! Job reports over real jobs: grouped by dataflow, node and day, as JSON and CSV.
use std::time::Duration;

use prism_tests::{Standalone, adults_dataflow, failing_dataflow};
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn group<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}: {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_group_jobs_by_dataflow_node_and_day() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    platform
        .save_dataflows(&[
            ("adults", adults_dataflow("files", "out/adults.csv", 0)),
            ("broken", failing_dataflow("files")),
        ])
        .await;
    let mut executor = String::new();
    for dataflow in ["adults", "adults", "adults", "broken"] {
        let (_, job) = api.post("/v1/jobs", &json!({"dataflow": dataflow})).await;
        let done = api
            .wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
            .await;
        executor = done["executor"]
            .as_str()
            .expect("the job names its executor")
            .into();
    }

    let (status, report) = api.get("/v1/reports/jobs").await;
    assert_eq!(status, 200, "{report}");
    let adults = group(&report, "adults");
    assert_eq!(
        (
            &adults["jobs"],
            &adults["succeeded"],
            &adults["success_rate"]
        ),
        (&json!(3), &json!(3), &json!(1.0)),
        "{report}"
    );
    // people.csv has four rows, two of them adults.
    assert_eq!(
        (&adults["rows_read"], &adults["rows_written"]),
        (&json!(12), &json!(6))
    );
    assert!(
        adults["p95_ms"].as_u64() >= adults["p50_ms"].as_u64(),
        "{report}"
    );
    let broken = group(&report, "broken");
    assert_eq!(
        (&broken["failed"], &broken["success_rate"]),
        (&json!(1), &json!(0.0))
    );

    let (_, by_node) = api.get("/v1/reports/jobs?group_by=node").await;
    assert_eq!(group(&by_node, &executor)["jobs"], 4, "{by_node}");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (_, by_day) = api.get("/v1/reports/jobs?group_by=day").await;
    assert_eq!(group(&by_day, &today)["jobs"], 4, "{by_day}");

    let (status, csv) = api.get_text("/v1/reports/jobs?format=csv").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("key,jobs,queued,running,succeeded"),
        "{csv}"
    );
    assert!(lines[1].starts_with("adults,3,0,0,3,0,0,1.0000,"), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");

    // A window with no jobs, and refusals naming their field.
    let (_, empty) = api
        .get("/v1/reports/jobs?from=2020-01-01&to=2020-01-02")
        .await;
    assert_eq!(empty["groups"], json!([]), "{empty}");
    for (query, field) in [
        ("group_by=owner", "group_by"),
        ("from=2026-01-02&to=2026-01-01", "from"),
        ("from=2020-01-01&to=2026-01-01", "from"),
        ("format=xml", "format"),
        ("from=yesterday", "from"),
    ] {
        let (status, refused) = api.get(&format!("/v1/reports/jobs?{query}")).await;
        assert_eq!(
            (status, &refused["error"]["field"]),
            (400, &json!(field)),
            "{query}: {refused}"
        );
    }
}
