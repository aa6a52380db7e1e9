//! The four services as separate `prism` processes on a harness nats-server, sharing
//! one embedded store; processes are killed with SIGKILL mid-work.
use std::time::Duration;

use prism_tests::jobs::{prepare_numbered, terminal_entries};
use prism_tests::{Api, NatsServer, Services, ServicesSpec, visible_files, wait_until};
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(90);

async fn submit(api: &Api, n: usize) -> String {
    let (status, body) = api
        .submit_with_key(
            &json!({"dataflow":"numbered","parameters":{"n": n}}),
            &format!("job-{n}"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Every job succeeded once, with one output each and one terminal audit entry.
async fn assert_each_job_done_once(services: &Services, ids: &[String]) {
    for id in ids {
        let job = services.api.wait_terminal(id, JOB_TIMEOUT).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let expected: Vec<String> = {
        let mut names: Vec<String> = (0..ids.len()).map(|n| format!("{n}.csv")).collect();
        names.sort();
        names
    };
    assert_eq!(visible_files(&services.files.join("out")), expected);
    for n in 0..ids.len() {
        let text = std::fs::read_to_string(services.files.join(format!("out/{n}.csv"))).unwrap();
        assert_eq!(text, "name\nann\ncid\n");
    }
    let terminals = wait_until(
        "terminal audit entries",
        Duration::from_secs(30),
        || async {
            let (t, _) = terminal_entries(&services.api).await;
            (ids.iter().all(|id| t.contains_key(id))).then_some(t)
        },
    )
    .await;
    for id in ids {
        assert_eq!(terminals[id], 1, "job {id} has one terminal state");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn four_services_as_separate_processes_run_jobs() {
    let nats = NatsServer::start();
    let services = Services::start(&nats, ServicesSpec::default()).await;
    prepare_numbered(&services.api, &services.files, 0).await;
    let ids = vec![
        submit(&services.api, 0).await,
        submit(&services.api, 1).await,
    ];
    assert_each_job_done_once(&services, &ids).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_killed_mid_job_loses_nothing() {
    let nats = NatsServer::start();
    let mut services = Services::start(
        &nats,
        ServicesSpec {
            executors: 2,
            ack_wait_secs: 3,
            ..Default::default()
        },
    )
    .await;
    prepare_numbered(&services.api, &services.files, 3_000).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(submit(&services.api, n).await);
    }
    // Kill executor 0 while it runs a job.
    let victim = &services.executors[0];
    wait_until(
        "executor 0 to start a job",
        Duration::from_secs(30),
        || async { victim.log_text().contains("job started").then_some(()) },
    )
    .await;
    services.executors[0].kill9();
    assert_each_job_done_once(&services, &ids).await;
    let mut retried = 0;
    for id in &ids {
        let (_, job) = services.api.get(&format!("/v1/jobs/{id}")).await;
        if job["attempt"].as_u64().unwrap() > 1 {
            retried += 1;
        }
    }
    assert!(retried >= 1, "the killed executor's job ran again");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_gateway_and_audit_lose_nothing() {
    let nats = NatsServer::start();
    let mut services = Services::start(&nats, ServicesSpec::default()).await;
    prepare_numbered(&services.api, &services.files, 500).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(submit(&services.api, n).await);
    }
    services.audit.kill9();
    services.gateway.kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    services.audit.restart();
    services.gateway.restart();
    services.api.wait_ready(Duration::from_secs(30)).await;
    // The same keys again: the same jobs, none created twice.
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(&submit(&services.api, n).await, id);
    }
    assert_each_job_done_once(&services, &ids).await;
    assert_eq!(
        services.api.get("/v1/jobs").await.1["jobs"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_past_its_attempts_is_dead_lettered_with_the_reason() {
    let nats = NatsServer::start();
    let mut services = Services::start(
        &nats,
        ServicesSpec {
            ack_wait_secs: 2,
            max_attempts: 1,
            ..Default::default()
        },
    )
    .await;
    prepare_numbered(&services.api, &services.files, 60_000).await;
    let id = submit(&services.api, 0).await;
    services.api.wait_status(&id, "running", JOB_TIMEOUT).await;
    services.executors[0].restart();
    let job = services.api.wait_terminal(&id, JOB_TIMEOUT).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("dead-lettered"),
        "{job}"
    );
    assert!(!services.files.join("out/0.csv").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_schedulers_fire_each_occurrence_once_even_when_one_dies() {
    let nats = NatsServer::start();
    let mut services = Services::start(
        &nats,
        ServicesSpec {
            schedulers: 2,
            ..Default::default()
        },
    )
    .await;
    prepare_numbered(&services.api, &services.files, 0).await;
    let schedule = json!({"dataflow":"numbered","cron":"* * * * * *","parameters":{"n":"s"}});
    let (status, body) = services.api.put("/v1/schedules/tick", &schedule).await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    services.schedulers[0].kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut disabled = schedule.clone();
    disabled["enabled"] = json!(false);
    assert_eq!(
        services.api.put("/v1/schedules/tick", &disabled).await.0,
        200
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (_, page) = services.api.get("/v1/jobs?limit=1000").await;
    let jobs: Vec<Value> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["schedule"] == "tick")
        .cloned()
        .collect();
    let mut occurrences: Vec<i64> = jobs
        .iter()
        .map(|j| {
            j["idempotency_key"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    occurrences.sort();
    let before = occurrences.len();
    occurrences.dedup();
    assert_eq!(before, occurrences.len(), "an occurrence fired twice");
    assert!(
        occurrences.len() >= 5,
        "too few occurrences: {occurrences:?}"
    );
    for pair in occurrences.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1000,
            "an occurrence was missed: {occurrences:?}"
        );
    }
    let fired = wait_until("fired events audited", Duration::from_secs(20), || async {
        let n = services
            .api
            .audit()
            .await
            .iter()
            .filter(|e| e["action"] == "schedule.fired")
            .count();
        (n >= occurrences.len()).then_some(n)
    })
    .await;
    assert_eq!(fired, occurrences.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn occurrences_missed_while_no_scheduler_runs_are_recorded_as_misfires() {
    let nats = NatsServer::start();
    let mut services = Services::start(
        &nats,
        ServicesSpec {
            misfire_grace_secs: 1,
            ..Default::default()
        },
    )
    .await;
    prepare_numbered(&services.api, &services.files, 0).await;
    services.schedulers[0].kill9();
    let schedule = json!({"dataflow":"numbered","cron":"* * * * * *","parameters":{"n":"m"}});
    assert_eq!(
        services.api.put("/v1/schedules/tick", &schedule).await.0,
        201
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    services.schedulers[0].restart();
    let misfired = wait_until("misfires recorded", Duration::from_secs(30), || async {
        let entries = services.api.audit().await;
        let misfired = entries
            .iter()
            .filter(|e| e["action"] == "schedule.misfired")
            .count();
        let fired = entries
            .iter()
            .filter(|e| e["action"] == "schedule.fired")
            .count();
        (misfired >= 3 && fired >= 1).then_some(misfired)
    })
    .await;
    assert!(
        misfired <= 7,
        "only the occurrences of the outage misfire: {misfired}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_always_fails_to_write_is_retried_then_failed_with_the_reason() {
    let nats = NatsServer::start();
    let services = Services::start(
        &nats,
        ServicesSpec {
            max_attempts: 3,
            ..Default::default()
        },
    )
    .await;
    prepare_numbered(&services.api, &services.files, 0).await;
    // A file where the output's directory should be: every write fails with an I/O
    // error, which is retried, unlike a mistake in the dataflow.
    std::fs::write(services.files.join("blocked"), "not a directory").unwrap();
    let dataflow = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"out","type":"write","input":"people","connection":"files","path":"blocked/out.csv","format":"csv"}]});
    assert_eq!(
        services.api.put("/v1/dataflows/blocked", &dataflow).await.0,
        201
    );
    let (status, accepted) = services
        .api
        .post("/v1/jobs", &json!({"dataflow":"blocked"}))
        .await;
    assert_eq!(status, 202);
    let job = services
        .api
        .wait_terminal(accepted["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["attempt"], 3, "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("failed after 3 attempts") && error.contains("blocked"),
        "{error}"
    );
}
