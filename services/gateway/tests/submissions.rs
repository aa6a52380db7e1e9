//! Submissions that arrive together are accepted together: one transaction (one
//! disk sync) for many jobs, each still its own job, and a refused one harms none.
mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::Gateway;
use serde_json::{Value, json};

/// Transactions with writes the gateway has committed (each a disk sync).
fn commits(gateway: &Gateway) -> u64 {
    gateway.store.write_commits()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submissions_share_their_commits() {
    let gateway = Arc::new(Gateway::start().await);
    let admin = gateway.admin().await;
    let root = gateway.dir.path().display().to_string();
    let connection = json!({"kind":"local","root": root}).to_string();
    assert_eq!(
        gateway
            .status("PUT", "/v1/connections/files", Some(&admin), &connection)
            .await,
        201
    );
    let dataflow = json!({"kind":"job","stages":[{"id":"wait","type":"delay","milliseconds":0}]});
    assert_eq!(
        gateway
            .status(
                "PUT",
                "/v1/dataflows/noop",
                Some(&admin),
                &dataflow.to_string()
            )
            .await,
        201
    );

    let before = commits(&gateway);
    // 50 at a time: within the gateway's bound on submissions in flight (64).
    let submitters = (0..50).map(|worker| {
        let (gateway, admin) = (gateway.clone(), admin.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for round in 0..4 {
                // One in ten names no dataflow that exists: refused, alone.
                let body = if (worker * 4 + round) % 10 == 0 {
                    json!({"dataflow":"missing"})
                } else {
                    json!({"dataflow":"noop"})
                };
                answers.push(
                    gateway
                        .send("POST", "/v1/jobs", Some(&admin), &body.to_string())
                        .await,
                );
            }
            answers
        })
    });
    let answers: Vec<(u16, Value)> = futures::future::join_all(submitters)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    let used = commits(&gateway) - before;

    let refused = answers.iter().filter(|(status, _)| *status == 404).count();
    let accepted: HashSet<&str> = answers
        .iter()
        .filter(|(status, _)| *status == 202)
        .map(|(_, job)| job["id"].as_str().unwrap())
        .collect();
    assert_eq!((refused, accepted.len()), (20, 180));
    let (_, page) = gateway
        .send("GET", "/v1/jobs?dataflow=noop&limit=1000", Some(&admin), "")
        .await;
    let listed: HashSet<&str> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, accepted, "every accepted job, once");
    // 180 jobs, and the batched clears of their outbox entries: one commit per job
    // would be 180 for the accepts alone.
    assert!(used * 3 < 180, "{used} commits for 180 jobs");
}
