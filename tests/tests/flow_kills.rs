//! Process flow runs on the cluster scenario while schedulers, gateways and
//! executors are SIGKILLed at random: every run ends, none is stuck, and every
//! activity attempt started exactly one job (counted from the job records).
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prism_tests::cluster::{Cluster, ClusterSpec};
use prism_tests::jobs::{prepare_numbered, random_below};
use prism_tests::{Api, wait_until};
use serde_json::{Value, json};

const RUNS: usize = 300;

/// `a -> (b, c) -> d -> done`: five activities with a fan-out and a join.
fn diamond() -> Value {
    let job = |id: &str| {
        json!({"id": id, "type": "job", "dataflow": "numbered",
               "parameters": {"n": format!("${{run}}-{id}")}})
    };
    json!({
        "parameters": {"run": null},
        "activities": [job("a"), job("b"), job("c"), job("d"), {"id": "done", "type": "succeed"}],
        "transitions": [
            {"from": "a", "to": "b", "on": "succeeded"},
            {"from": "a", "to": "c", "on": "succeeded"},
            {"from": "b", "to": "d", "on": "succeeded"},
            {"from": "c", "to": "d", "on": "succeeded"},
            {"from": "d", "to": "done", "on": "succeeded"}
        ]
    })
}

/// Starts run `n`, retrying with the same key as a careful client does while
/// gateways die; answers its id.
async fn start_until_accepted(api: &Api, n: usize) -> String {
    let body = json!({"parameters": {"run": format!("r{n}")}});
    wait_until(
        &format!("run {n} started"),
        Duration::from_secs(300),
        || async {
            let (status, run) = api
                .submit_with_key_to("/v1/processflows/diamond/runs", &body, &format!("run-{n}"))
                .await;
            matches!(status, 200 | 201).then(|| run["id"].as_str().unwrap().to_string())
        },
    )
    .await
}

/// Whether all runs were started and none runs any more (as far as an answering
/// gateway tells).
async fn all_ended(api: &Api) -> bool {
    let (status, page) = api.get("/v1/processflows/diamond/runs?limit=1000").await;
    let runs = page["runs"].as_array().cloned().unwrap_or_default();
    status == 200 && runs.len() == RUNS && runs.iter().all(|r| r["state"] != "running")
}

/// Every job's idempotency key, counted, over the whole job list.
async fn job_keys(api: &Api) -> HashMap<String, usize> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=1000&cursor={c}"),
            None => "/v1/jobs?limit=1000".to_string(),
        };
        let (status, page) = api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for job in page["jobs"].as_array().unwrap() {
            let key = job["idempotency_key"].as_str().unwrap_or("").to_string();
            *keys.entry(key).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return keys,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flow_runs_end_with_every_attempt_started_once_while_processes_are_killed() {
    let mut cluster = Cluster::start(ClusterSpec::default()).await;
    prepare_numbered(&cluster.api, &cluster.files, 0).await;
    let (status, body) = cluster
        .api
        .put("/v1/processflows/diamond", &diamond())
        .await;
    assert_eq!(status, 201, "{body}");

    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..6 {
        let (api, next) = (cluster.api.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= RUNS {
                    return ids;
                }
                ids.push(start_until_accepted(&api, n).await);
            }
        }));
    }
    // Kill until every run has ended, and at least ten times.
    let mut killed = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while clients.iter().any(|c| !c.is_finished())
        || killed.len() < 10
        || !all_ended(&cluster.api).await
    {
        assert!(
            std::time::Instant::now() < deadline,
            "runs still running after {killed:?}"
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let victim = match random_below(3) {
            0 => {
                let i = random_below(cluster.schedulers.len());
                cluster.schedulers[i].restart();
                format!("scheduler-{i}")
            }
            1 => {
                let i = random_below(cluster.gateways.len());
                cluster.gateways[i].restart();
                format!("gateway-{i}")
            }
            _ => {
                let i = random_below(cluster.executors.len());
                cluster.executors[i].restart();
                format!("executor-{i}")
            }
        };
        killed.push(victim);
    }
    let mut ids = Vec::new();
    for client in clients {
        ids.extend(client.await.unwrap());
    }
    assert_eq!(ids.len(), RUNS);

    // Every run ends, and succeeds: a killed process delays, never loses, a step.
    let api = &cluster.api;
    let mut runs = Vec::new();
    for id in &ids {
        let path = format!("/v1/processflow-runs/{id}");
        let run = wait_until(
            &format!("run {id} ended"),
            Duration::from_secs(300),
            || async {
                let (status, run) = api.get(&path).await;
                (status == 200 && run["state"] != "running").then_some(run)
            },
        )
        .await;
        assert_eq!(run["state"], "succeeded", "killed {killed:?}: {run:#}");
        runs.push(run);
    }

    // One job per activity attempt, and no job that no attempt names.
    let keys = job_keys(api).await;
    let mut expected = 0;
    for run in &runs {
        let id = run["id"].as_str().unwrap();
        for activity in run["activities"].as_array().unwrap() {
            let Some(attempts) = activity["attempt"].as_u64().filter(|a| *a > 0) else {
                continue;
            };
            if activity["job_id"].is_null() {
                continue;
            }
            for attempt in 1..=attempts {
                let key = format!("flow:{id}:{}:{attempt}", activity["id"].as_str().unwrap());
                assert_eq!(keys.get(&key), Some(&1), "{key}: one job");
                expected += 1;
            }
        }
    }
    let flow_jobs: usize = keys
        .iter()
        .filter(|(k, _)| k.starts_with("flow:"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(flow_jobs, expected, "no job outside an attempt");
    assert_eq!(expected, RUNS * 4);
    println!("{RUNS} runs, {expected} jobs, killed: {killed:?}");
}
