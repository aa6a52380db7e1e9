//! The cluster scenario on one machine, with real processes killed at random:
//! three NATS nodes (R3 streams), nginx over two gateways, two schedulers, the audit
//! service and three executors.
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use prism_tests::cluster::{Cluster, ClusterSpec};
use prism_tests::jobs::{
    numbered_dataflow, prepare_numbered, random_below, submit_all, submit_until_accepted,
    terminal_entries,
};
use prism_tests::{visible_files, wait_until};
use serde_json::json;

const JOB_TIMEOUT: Duration = Duration::from_secs(300);

/// Every job succeeded, once: one output each, one terminal audit entry each.
async fn assert_all_done_once(
    cluster: &Cluster,
    ids: &HashMap<usize, String>,
) -> HashMap<String, usize> {
    let api = &cluster.api;
    for id in ids.values() {
        let job = api.wait_terminal(id, JOB_TIMEOUT).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let mut expected: Vec<String> = ids.keys().map(|n| format!("{n}.csv")).collect();
    expected.sort();
    assert_eq!(visible_files(&cluster.files.join("out")), expected);
    let wanted: HashSet<&String> = ids.values().collect();
    let (terminals, by_executor) = wait_until(
        "every terminal event audited",
        Duration::from_secs(120),
        || async {
            let (per_job, per_actor) = terminal_entries(api).await;
            wanted
                .iter()
                .all(|id| per_job.contains_key(*id))
                .then_some((per_job, per_actor))
        },
    )
    .await;
    for id in ids.values() {
        assert_eq!(terminals[id], 1, "job {id} has one terminal state");
    }
    by_executor
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_runs_500_jobs_while_executors_are_killed_again_and_again() {
    let mut cluster = Cluster::start(ClusterSpec::default()).await;
    prepare_numbered(&cluster.api, &cluster.files, 0).await;

    // Configuration is the same everywhere: saved through one gateway, served by the other.
    let (status, saved) = cluster.gateway_apis[0]
        .put("/v1/dataflows/shared", &numbered_dataflow(0))
        .await;
    assert_eq!(status, 201);
    let (status, seen) = cluster.gateway_apis[1].get("/v1/dataflows/shared").await;
    assert_eq!(
        (status, seen["version"].clone()),
        (200, saved["version"].clone())
    );

    let submissions = submit_all(&cluster.api, 0..500, 6);
    let mut kills = 0;
    while !submissions.is_finished() || kills < 6 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let victim = random_below(cluster.executors.len());
        cluster.executors[victim].restart();
        kills += 1;
    }
    let ids = submissions.await.unwrap();
    assert_eq!(ids.len(), 500);
    let by_executor = assert_all_done_once(&cluster, &ids).await;
    assert!(
        by_executor.len() >= 2,
        "work spread over executors: {by_executor:?}"
    );

    // Nodes are listed with their health; a new executor joins by being started.
    cluster.add_executor();
    cluster.wait_nodes(2 + 2 + 1 + 4).await;
    let (_, nodes) = cluster.api.get("/v1/cluster/nodes").await;
    let roles: HashSet<String> = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        roles,
        ["audit", "executor", "gateway", "scheduler"]
            .into_iter()
            .map(String::from)
            .collect()
    );

    // Draining an executor: it finishes its running job, takes no more, and exits.
    prepare_slow(&cluster).await;
    let (_, accepted) = cluster
        .api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"slow","parameters":{"n":"drain"}}),
        )
        .await;
    let id = accepted["id"].as_str().unwrap().to_string();
    cluster.api.wait_status(&id, "running", JOB_TIMEOUT).await;
    let runner = wait_until(
        "the runner of the slow job",
        Duration::from_secs(30),
        || async {
            let (_, nodes) = cluster.api.get("/v1/cluster/nodes").await;
            nodes["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["in_flight"].as_u64() == Some(1))
                .map(|n| n["id"].as_str().unwrap().to_string())
        },
    )
    .await;
    let (status, body) = cluster
        .api
        .post(&format!("/v1/cluster/nodes/{runner}/drain"), &json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    let job = cluster.api.wait_terminal(&id, JOB_TIMEOUT).await;
    assert_eq!(
        (job["status"].clone(), job["attempt"].clone()),
        (json!("succeeded"), json!(1)),
        "drained executor finished its job"
    );
    let index: usize = runner.trim_start_matches("executor-").parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cluster.executors[index].exit_code().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "drained executor did not exit"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn prepare_slow(cluster: &Cluster) {
    let (status, body) = cluster
        .api
        .put("/v1/dataflows/slow", &numbered_dataflow(4_000))
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_accepted_job_is_lost_when_a_nats_node_or_a_gateway_is_killed() {
    let mut cluster = Cluster::start(ClusterSpec::default()).await;
    prepare_numbered(&cluster.api, &cluster.files, 200).await;
    let submissions = submit_all(&cluster.api, 0..120, 4);
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.nats.nodes[random_below(3)].kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.gateways[random_below(2)].kill9();
    let ids = submissions.await.unwrap();
    // The same keys again, through the load balancer: the same jobs, none twice.
    for n in 0..10 {
        assert_eq!(submit_until_accepted(&cluster.api, n).await, ids[&n]);
    }
    assert_all_done_once(&cluster, &ids).await;
    let (_, page) = cluster.api.get("/v1/jobs?limit=1000").await;
    assert_eq!(
        page["jobs"].as_array().unwrap().len(),
        120,
        "no job created twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_executor_cannot_commit_a_stale_attempt() {
    let cluster = Cluster::start(ClusterSpec {
        executors: 2,
        ack_wait_secs: 2,
        concurrency: 1,
        ..Default::default()
    })
    .await;
    prepare_numbered(&cluster.api, &cluster.files, 3_000).await;
    let id = submit_until_accepted(&cluster.api, 0).await;
    cluster.api.wait_status(&id, "running", JOB_TIMEOUT).await;
    let runner = wait_until("the runner", Duration::from_secs(30), || async {
        cluster
            .executors
            .iter()
            .position(|e| e.log_text().contains("job started"))
    })
    .await;
    cluster.executors[runner].signal(libc::SIGSTOP);
    // Past the ack wait the other executor takes over and finishes the job.
    let job = cluster.api.wait_terminal(&id, JOB_TIMEOUT).await;
    assert_eq!(
        (job["status"].clone(), job["attempt"].clone()),
        (json!("succeeded"), json!(2)),
        "{job}"
    );
    cluster.executors[runner].signal(libc::SIGCONT);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cluster.executors[runner].log_text().contains("superseded") {
        assert!(
            std::time::Instant::now() < deadline,
            "the resumed executor did not give up its stale attempt within 30 s: {}",
            cluster.executors[runner].log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, job_after) = cluster.api.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(
        job_after["attempt"], 2,
        "the stale attempt recorded nothing"
    );
    let terminals = cluster
        .api
        .audit()
        .await
        .iter()
        .filter(|e| e["target"] == format!("job/{id}") && e["action"] == "job.succeeded")
        .count();
    assert_eq!(terminals, 1);
    assert_eq!(visible_files(&cluster.files.join("out")), vec!["0.csv"]);
    assert_eq!(
        prism_tests::all_files(&cluster.files.join("out")),
        vec!["0.csv"],
        "no staging file left"
    );
}

/// Users and revocations hold on every gateway: a user created through one signs in
/// through the other at once, and a token revoked or a role taken away through one
/// is refused by the other within one second.
#[tokio::test(flavor = "multi_thread")]
async fn identities_hold_on_every_gateway_within_one_second() {
    let cluster = Cluster::start(ClusterSpec {
        executors: 0,
        ..Default::default()
    })
    .await;
    let (one, two) = (&cluster.gateway_apis[0], &cluster.gateway_apis[1]);
    let carol = json!({"password": "carol-password-long", "roles": ["viewer"]});
    assert_eq!(one.put("/v1/users/carol", &carol).await.0, 201);
    let carol_on_two = two.as_user("carol", "carol-password-long").await;
    let carol_on_one = one.with_token(carol_on_two.token.as_deref());
    // Both gateways know the session now (and cache it).
    assert_eq!(carol_on_two.get("/v1/jobs").await.0, 200);
    assert_eq!(carol_on_one.get("/v1/jobs").await.0, 200);

    // A role taken away through one gateway...
    let demoted = json!({"roles": ["user"]});
    assert_eq!(one.put("/v1/users/carol", &demoted).await.0, 200);
    let took = refused_within(&carol_on_two, "/v1/jobs", 403).await;
    assert!(
        took <= Duration::from_secs(1),
        "demotion seen after {took:?}"
    );

    // ...and a token revoked through one gateway.
    assert_eq!(
        carol_on_one.post("/v1/auth/logout", &json!({})).await.0,
        204
    );
    let took = refused_within(&carol_on_two, "/v1/me", 401).await;
    assert!(
        took <= Duration::from_secs(1),
        "revocation seen after {took:?}"
    );
}

/// How long until `api` gets `status` for `GET path`, polling every 20 ms.
async fn refused_within(api: &prism_tests::Api, path: &str, status: u16) -> Duration {
    let started = std::time::Instant::now();
    loop {
        if api.get(path).await.0 == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Services on every node: calls through the load balancer are spread over every
/// executor (one, then three), and keep answering 200 while an executor is killed
/// with `kill -9` and restarted (a call its executor took down is tried once more).
#[tokio::test(flavor = "multi_thread")]
async fn service_calls_spread_over_executors_and_survive_a_killed_one() {
    let mut cluster = Cluster::start(ClusterSpec {
        executors: 1,
        ..Default::default()
    })
    .await;
    let api = cluster.api.clone();
    std::fs::write(cluster.files.join("cities.csv"), "code,city\nB1,Berlin\n").unwrap();
    let connection = json!({"kind":"local","root": cluster.files});
    assert!(api.put("/v1/connections/files", &connection).await.0 < 300);
    let lookup = json!({"kind":"service","stages":[
        {"id":"input","type":"input","fields":[{"name":"code","type":"string","required":true}]},
        {"id":"cities","type":"read","connection":"files","path":"cities.csv","format":"csv"},
        {"id":"found","type":"sql","inputs":["input","cities"],"query":"SELECT c.city FROM input i JOIN cities c ON c.code = i.code"},
        {"id":"out","type":"output","input":"found"}]});
    assert_eq!(api.put("/v1/dataflows/lookup", &lookup).await.0, 201);
    let expose = json!({"dataflow":"lookup","timeout_ms":4000});
    assert_eq!(api.put("/v1/services/lookup", &expose).await.0, 201);
    let call = |api: prism_tests::Api| async move {
        api.post(
            "/v1/services/lookup/invoke",
            &json!({"rows":[{"code":"B1"}]}),
        )
        .await
    };
    wait_until("the service answers", Duration::from_secs(30), || async {
        (call(api.clone()).await.0 == 200).then_some(())
    })
    .await;
    let nodes_of = |answers: &[(u16, serde_json::Value)]| -> HashSet<String> {
        answers
            .iter()
            .filter_map(|(_, body)| body["node"].as_str().map(str::to_string))
            .collect()
    };
    let mut one = Vec::new();
    for _ in 0..20 {
        one.push(call(api.clone()).await);
    }
    assert_eq!(nodes_of(&one).len(), 1, "one executor answers all");

    cluster.add_executor();
    cluster.add_executor();
    let spread = wait_until(
        "calls spread over three executors",
        Duration::from_secs(60),
        || async {
            let mut answers = Vec::new();
            for _ in 0..60 {
                answers.push(call(api.clone()).await);
            }
            (nodes_of(&answers).len() == 3).then_some(answers)
        },
    )
    .await;
    assert!(spread.iter().all(|(status, _)| *status == 200));

    // Steady calls while an executor is killed and restarted: every one answers 200.
    let steady = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..150 {
                statuses.push(call(api.clone()).await.0);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.executors[1].kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.executors[1].restart();
    let statuses = steady.await.unwrap();
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
}

/// A cluster whose third NATS node is still starting when every prism process
/// starts: streams of three replicas cannot be made until it runs. Each process
/// waits for the bus (with backoff, logged) instead of exiting, for longer than
/// the thirty seconds start-up used to allow, and every node reaches ready once
/// the node runs and then runs jobs.
#[tokio::test(flavor = "multi_thread")]
async fn every_node_waits_for_a_nats_node_still_starting_and_becomes_ready() {
    let cluster = Cluster::start(ClusterSpec {
        executors: 2,
        late_nats_node: Some(Duration::from_secs(35)),
        ..Default::default()
    })
    .await;
    for executor in &cluster.executors {
        assert!(
            executor.log_text().contains("bus not ready; waiting"),
            "the executor waited for the bus: {}",
            executor.log_text()
        );
    }
    prepare_numbered(&cluster.api, &cluster.files, 0).await;
    let id = submit_until_accepted(&cluster.api, 0).await;
    let job = cluster.api.wait_terminal(&id, JOB_TIMEOUT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
}
