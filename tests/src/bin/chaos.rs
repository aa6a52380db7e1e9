//! Chaos run: many jobs through the load balancer of a local cluster while processes
//! of every kind (executors, gateways, schedulers, the audit service, NATS nodes) are
//! killed with SIGKILL at random and restarted. Prints what became of every job.
//!
//!   cargo build -p prism && cargo run -p prism-tests --bin chaos [jobs] [kill every ms] [job ms]
//!
//! Authenticated throughout, as in production: every process logs in to NATS as
//! its own bus user, and the harness calls the API with a token.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use prism_tests::cluster::{Cluster, ClusterSpec};
use prism_tests::jobs::{prepare_numbered, random_below, submit_all, terminal_entries};
use prism_tests::visible_files;

/// Kills one random process and starts it again; returns what it killed.
async fn strike(cluster: &mut Cluster) -> String {
    match random_below(5) {
        0 => {
            let i = random_below(cluster.executors.len());
            cluster.executors[i].kill9();
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.executors[i].restart();
            format!("executor-{i}")
        }
        1 => {
            let i = random_below(cluster.gateways.len());
            cluster.gateways[i].kill9();
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.gateways[i].restart();
            format!("gateway-{i}")
        }
        2 => {
            let i = random_below(cluster.schedulers.len());
            cluster.schedulers[i].restart();
            format!("scheduler-{i}")
        }
        3 => {
            cluster.audit.kill9();
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.audit.restart();
            "audit".into()
        }
        _ => {
            let i = random_below(cluster.nats.nodes.len());
            cluster.nats.nodes[i].kill9();
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.nats.nodes[i].restart();
            format!("nats-{i}")
        }
    }
}

/// Jobs in a terminal state, counted over the job list (newest first).
async fn finished_jobs(cluster: &Cluster) -> usize {
    let mut finished = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=1000&cursor={c}"),
            None => "/v1/jobs?limit=1000".to_string(),
        };
        let (status, page) = cluster.api.get(&path).await;
        if status != 200 {
            return 0;
        }
        let jobs = page["jobs"].as_array().cloned().unwrap_or_default();
        finished += jobs
            .iter()
            .filter(|j| {
                matches!(
                    j["status"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                )
            })
            .count();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return finished,
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let jobs = args.first().copied().unwrap_or(1000) as usize;
    let every = Duration::from_millis(args.get(1).copied().unwrap_or(3000));
    let job_ms = args.get(2).copied().unwrap_or(300);
    let mut cluster = Cluster::start(ClusterSpec::default()).await;
    prepare_numbered(&cluster.api, &cluster.files, job_ms).await;

    let started = Instant::now();
    let submissions = submit_all(&cluster.api, 0..jobs, 8);
    let mut kills: HashMap<String, usize> = HashMap::new();
    // Keep striking while jobs are submitted and while they run.
    let chaos_deadline = Instant::now() + Duration::from_secs(900);
    while Instant::now() < chaos_deadline {
        tokio::time::sleep(every).await;
        let victim = strike(&mut cluster).await;
        println!("{:>6.1}s killed {victim}", started.elapsed().as_secs_f64());
        *kills
            .entry(victim.split('-').next().unwrap().to_string())
            .or_default() += 1;
        if submissions.is_finished() && finished_jobs(&cluster).await >= jobs {
            break;
        }
    }
    let ids = submissions.await.unwrap();

    // Let everything settle: every accepted job must reach a terminal state.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut statuses: HashMap<String, String> = HashMap::new();
    while Instant::now() < deadline {
        statuses.clear();
        for id in ids.values() {
            let (_, job) = cluster.api.get(&format!("/v1/jobs/{id}")).await;
            statuses.insert(
                id.clone(),
                job["status"].as_str().unwrap_or("missing").to_string(),
            );
        }
        if statuses
            .values()
            .all(|s| matches!(s.as_str(), "succeeded" | "failed" | "cancelled"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (terminals, per_executor) = terminal_entries(&cluster.api).await;
    let outputs = visible_files(&cluster.files.join("out"));
    let count = |wanted: &str| statuses.values().filter(|s| s.as_str() == wanted).count();
    let succeeded = count("succeeded");
    let failed = count("failed");
    let stuck = ids.len() - succeeded - failed - count("cancelled");
    let missing_outputs = ids
        .keys()
        .filter(|n| !outputs.contains(&format!("{n}.csv")))
        .count();
    let duplicate_terminals = ids
        .values()
        .filter(|id| terminals.get(*id).copied().unwrap_or(0) > 1)
        .count();
    let unaudited = ids
        .values()
        .filter(|id| !terminals.contains_key(*id))
        .count();
    println!("kills: {kills:?}");
    println!(
        "jobs accepted: {}, succeeded: {succeeded}, failed: {failed}, stuck: {stuck}",
        ids.len()
    );
    println!(
        "outputs: {} files for {} jobs, missing: {missing_outputs}",
        outputs.len(),
        ids.len()
    );
    println!(
        "terminal audit entries: duplicated for {duplicate_terminals} jobs, missing for {unaudited}"
    );
    println!("terminal events by executor: {per_executor:?}");
    let lost = stuck + missing_outputs + unaudited;
    let duplicated = duplicate_terminals + outputs.len().saturating_sub(ids.len());
    println!("lost: {lost}, duplicated: {duplicated}, failed: {failed}");
    let code = if lost + duplicated + failed == 0 {
        0
    } else {
        1
    };
    // `exit` skips destructors: stop the cluster's processes first.
    drop(cluster);
    std::process::exit(code);
}
