//! One owner per concern, over the real bus and real processes: cancelling a queued
//! job through the attempt fence, messages that can never be processed ending in a
//! bounded time with a record, bounded error texts, and the outbox that announces
//! every committed change even when its gateway is killed.
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use prism_schemas::v1::{ConfigEvent, JobEvent, JobRun, JobState};
use prism_tests::jobs::prepare_numbered;
use prism_tests::{
    BusUser, NatsServer, Services, ServicesSpec, Standalone, wait_until, write_people_csv,
};
use prost::{Message, Name};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Publishes `payload` as `message_type` on `subject` as `client` (the bus admin:
/// what a compromised or buggy publisher could send).
async fn publish_raw(
    client: &async_nats::Client,
    subject: &str,
    message_type: &str,
    payload: Vec<u8>,
) {
    let client = client.clone();
    let mut headers = HeaderMap::new();
    headers.insert("Prism-Message-Type", message_type);
    jetstream::new(client)
        .publish_with_headers(subject.to_string(), headers, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn audit_entries(api: &prism_tests::Api, action: &str) -> Vec<Value> {
    api.audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// Gateway, scheduler and audit with no executor, so jobs stay queued; the
/// `numbered` dataflow is ready.
async fn without_executors() -> (NatsServer, Services) {
    let nats = NatsServer::start();
    let spec = ServicesSpec {
        executors: 0,
        ..Default::default()
    };
    let services = Services::start(&nats, spec).await;
    prepare_numbered(&services.api, &services.files, 0).await;
    (nats, services)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_job_is_cancelled_at_once_and_never_runs() {
    let (nats, mut services) = without_executors().await;
    let api = services.api.clone();
    let (_, accepted) = api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"numbered","parameters":{"n":7}}),
        )
        .await;
    let id = accepted["id"].as_str().unwrap().to_string();

    let (status, body) = api.post(&format!("/v1/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(
        (status, body["status"].clone()),
        (202, json!("cancelled")),
        "{body}"
    );
    // No executor exists: the audit alone records the outcome the gateway fenced.
    let job = api.wait_terminal(&id, Duration::from_secs(15)).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(job["started_at"], Value::Null, "{job}");
    assert_eq!(job["cancel_requested"], true, "{job}");
    let (status, body) = api.post(&format!("/v1/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("conflict"))
    );

    // The executor that pulls the message later acknowledges it without running it.
    services.start_executor("late-executor").await;
    let js = jetstream::new(nats.client().await);
    wait_until("the run message acknowledged", TIMEOUT, || async {
        let mut stream = js.get_stream("JOBS").await.ok()?;
        let info = stream.info().await.ok()?;
        (info.state.messages == 0).then_some(())
    })
    .await;
    assert!(
        !services.files.join("out/7.csv").exists(),
        "a cancelled job wrote output"
    );
    let started: Vec<Value> = audit_entries(&api, "job.started")
        .await
        .into_iter()
        .filter(|e| e["target"] == format!("job/{id}"))
        .collect();
    assert!(started.is_empty(), "{started:?}");
    let cancels = audit_entries(&api, "job.cancel").await;
    assert_eq!(cancels.len(), 1, "{cancels:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_messages_that_can_never_run_are_rejected_once_and_free_their_slot() {
    let platform = Standalone::start().await;
    let api = &platform.api;
    let admin = platform.nats_as(BusUser::Admin).await;
    let run_type = JobRun::full_name();
    publish_raw(
        &admin,
        "prism.jobs.run.default",
        &run_type,
        b"\xff\xff\xff".to_vec(),
    )
    .await;
    let bad_id = JobRun {
        job_id: "not-a-uuid".into(),
        dataflow: "x".into(),
        max_attempts: 3,
        ..Default::default()
    };
    publish_raw(
        &admin,
        "prism.jobs.run.default",
        &run_type,
        bad_id.encode_to_vec(),
    )
    .await;

    let rejected = wait_until("two job.rejected entries", TIMEOUT, || async {
        let entries = audit_entries(api, "job.rejected").await;
        (entries.len() >= 2).then_some(entries)
    })
    .await;
    let targets: HashSet<&str> = rejected
        .iter()
        .filter_map(|e| e["target"].as_str())
        .collect();
    assert_eq!(
        targets,
        HashSet::from(["job/", "job/not-a-uuid"]),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|e| e["details"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("UUID")),
        "{rejected:?}"
    );

    // Terminated: nothing left on the queue, and a real job still runs at once.
    let js = jetstream::new(admin.clone());
    wait_until("the queue empty", TIMEOUT, || async {
        let info = js
            .get_stream("JOBS")
            .await
            .ok()?
            .info()
            .await
            .ok()?
            .state
            .clone();
        (info.messages == 0).then_some(())
    })
    .await;
    write_people_csv(&platform.files);
    api.put(
        "/v1/connections/files",
        &json!({"kind":"local","root": platform.files}),
    )
    .await;
    api.put(
        "/v1/dataflows/adults",
        &prism_tests::adults_dataflow("files", "out/adults.csv", 0),
    )
    .await;
    let (_, accepted) = api.post("/v1/jobs", &json!({"dataflow":"adults"})).await;
    let job = api
        .wait_terminal(accepted["id"].as_str().unwrap(), TIMEOUT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        audit_entries(api, "job.rejected").await.len(),
        2,
        "reported once each"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_that_can_never_be_recorded_are_dead_lettered_and_the_job_still_ends() {
    let (nats, services) = without_executors().await;
    let api = services.api.clone();
    let (_, accepted) = api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"numbered","parameters":{"n":1}}),
        )
        .await;
    let id = accepted["id"].as_str().unwrap().to_string();

    // A change too large for any audit entry (the store's value limit is 100,000 bytes).
    let huge_change = ConfigEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        entity: "connection".into(),
        name: "huge".into(),
        op: "put".into(),
        details_json: json!({ "blob": "x".repeat(150_000) }).to_string(),
        ..Default::default()
    };
    let subject = "prism.events.config.connection.put";
    let admin = nats.client().await;
    publish_raw(
        &admin,
        subject,
        &ConfigEvent::full_name(),
        huge_change.encode_to_vec(),
    )
    .await;
    // A terminal event of a real job whose audit entry cannot fit either.
    let huge_failure = JobEvent {
        event_id: format!("{id}.1.failed"),
        job_id: id.clone(),
        state: JobState::Failed as i32,
        attempt: 1,
        dataflow: "d".repeat(150_000),
        error: "e".repeat(20_000),
        finished_at_ms: 1,
        ..Default::default()
    };
    let subject = format!("prism.events.job.{id}.failed");
    publish_raw(
        &admin,
        &subject,
        &JobEvent::full_name(),
        huge_failure.encode_to_vec(),
    )
    .await;

    let letters = wait_until("two dead letters", TIMEOUT, || async {
        let (_, body) = api.get("/v1/audit/dead-letters").await;
        let letters = body["dead_letters"].as_array().cloned().unwrap_or_default();
        (letters.len() >= 2).then_some(letters)
    })
    .await;
    assert!(
        letters.iter().all(|l| l["error"]
            .as_str()
            .unwrap_or("")
            .contains("value too large")),
        "{letters:?}"
    );
    assert!(
        letters.iter().any(|l| l["job_id"] == id.as_str()),
        "{letters:?}"
    );
    let job = api.wait_terminal(&id, TIMEOUT).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["dataflow"], "numbered",
        "the record keeps its own dataflow"
    );
    let error = job["error"].as_str().unwrap();
    assert!(
        error.len() <= 4_096 && error.contains("truncated"),
        "{}",
        error.len()
    );
    // Terminated, not redelivered: the audit consumer has nothing outstanding.
    let js = jetstream::new(nats.client().await);
    wait_until("the audit consumer caught up", TIMEOUT, || async {
        let mut consumer: jetstream::consumer::PullConsumer = js
            .get_stream("EVENTS")
            .await
            .ok()?
            .get_consumer("audit")
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_ack_pending == 0 && info.num_pending == 0).then_some(())
    })
    .await;
    let (_, body) = api.get("/v1/audit/dead-letters").await;
    assert_eq!(body["dead_letters"].as_array().unwrap().len(), 2, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_text_of_any_size_is_bounded_in_the_job_record() {
    let platform = Standalone::start().await;
    let api = &platform.api;
    write_people_csv(&platform.files);
    api.put(
        "/v1/connections/files",
        &json!({"kind":"local","root": platform.files}),
    )
    .await;
    let column = "c".repeat(20_000);
    let dataflow = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"bad","type":"sql","inputs":["people"],"query": format!("SELECT {column} FROM people")}]});
    let (status, body) = api.put("/v1/dataflows/huge-error", &dataflow).await;
    assert_eq!(status, 201, "{body}");
    let (_, accepted) = api
        .post("/v1/jobs", &json!({"dataflow":"huge-error"}))
        .await;
    let job = api
        .wait_terminal(accepted["id"].as_str().unwrap(), TIMEOUT)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.len() <= 4_096, "{} bytes", error.len());
    assert!(
        error.starts_with("stage bad:") && error.ends_with("bytes]"),
        "{error:.200}"
    );
}

/// Saves connections from several clients until stopped; returns the names whose
/// save was answered 2xx.
fn save_connections(
    api: &prism_tests::Api,
    client: usize,
    root: &std::path::Path,
    stop: Stop,
) -> tokio::task::JoinHandle<Vec<String>> {
    let (api, root) = (api.clone(), root.to_path_buf());
    tokio::spawn(async move {
        let mut saved = Vec::new();
        let mut n = 0;
        while !stop.is_set() {
            let name = format!("c{client}-{n}");
            let (status, _) = api
                .put(
                    &format!("/v1/connections/{name}"),
                    &json!({"kind":"local","root": root}),
                )
                .await;
            if (200..300).contains(&status) {
                saved.push(name);
            }
            n += 1;
        }
        saved
    })
}

/// A flag the clients poll, set once.
#[derive(Clone, Default)]
struct Stop(Arc<AtomicBool>);

impl Stop {
    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_a_killed_gateway_committed_reaches_the_audit_log() {
    let nats = NatsServer::start();
    // No scheduler: the gateways' own relay must announce what was left behind. The
    // gateway also aborts right after committing its 40th change of each life, before
    // announcing it, so the window between commit and publish is hit every time.
    let mut services = Services::start(
        &nats,
        ServicesSpec {
            schedulers: 0,
            gateway_env: vec![("PRISM_FAULT_CRASH_BEFORE_PUBLISH", "40".into())],
            ..Default::default()
        },
    )
    .await;
    let api = services.api.clone();
    let stop = Stop::default();
    let clients: Vec<_> = (0..4)
        .map(|client| save_connections(&api, client, &services.files, stop.clone()))
        .collect();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Aborted at its 40th change by now, or killed here at a random point.
        services.gateway.kill9();
        services.gateway.restart();
        api.wait_ready(TIMEOUT).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.set();
    let mut answered = HashSet::new();
    for client in clients {
        answered.extend(client.await.unwrap());
    }
    // The last life may have aborted too. A fresh one, without the injected crash,
    // answers the reads: with it, relaying the entries the killed lives left could
    // trip the crash counter again under load, and the reads would find no gateway.
    services
        .gateway
        .env
        .remove("PRISM_FAULT_CRASH_BEFORE_PUBLISH");
    services.gateway.restart();
    api.wait_ready(TIMEOUT).await;
    // Committed: what the store holds now, answered or not.
    let (_, body) = api.get("/v1/connections").await;
    let committed: HashSet<String> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert!(answered.is_subset(&committed), "an answered save was lost");
    eprintln!(
        "{} changes committed, {} of them answered before their gateway was killed",
        committed.len(),
        answered.len()
    );
    assert!(
        committed.len() >= 10,
        "too little load: {}",
        committed.len()
    );
    let missing = wait_until(
        "every committed change in the audit log",
        TIMEOUT,
        || async {
            let audited: HashSet<String> = audit_entries(&api, "connection.put")
                .await
                .iter()
                .filter_map(|e| {
                    e["target"]
                        .as_str()?
                        .strip_prefix("connection/")
                        .map(str::to_string)
                })
                .collect();
            let missing: Vec<&String> = committed.difference(&audited).collect();
            missing.is_empty().then_some(missing.len())
        },
    )
    .await;
    assert_eq!(missing, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_that_arrive_together_commit_together_once_each_and_in_order() {
    let (nats, mut services) = without_executors().await;
    let api = services.api.clone();
    // A backlog: the audit service is down while 300 changes are published, 60 of
    // them twice (a redelivered or replayed event).
    services.audit.kill9();
    let admin = jetstream::new(nats.client().await);
    let ids: Vec<String> = (0..300).map(|i| format!("batch-{i:03}")).collect();
    let mut acks = Vec::new();
    for (i, id) in ids.iter().chain(ids.iter().step_by(5)).enumerate() {
        let change = ConfigEvent {
            event_id: id.clone(),
            entity: "connection".into(),
            name: format!("c{i}"),
            op: "batched".into(),
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("Prism-Message-Type", ConfigEvent::full_name().as_str());
        let subject = "prism.events.config.connection.batched".to_string();
        let payload = change.encode_to_vec().into();
        acks.push(
            admin
                .publish_with_headers(subject, headers, payload)
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
    services.audit.restart();

    wait_until("the backlog recorded", TIMEOUT, || async {
        let entries = audit_entries(&api, "connection.batched").await;
        (entries.len() >= ids.len()).then_some(())
    })
    .await;
    // Any duplicate would come after the originals: give it the time to show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let entries = audit_entries(&api, "connection.batched").await;
    let recorded: Vec<&str> = entries
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, ids, "each event once, in the order published");
    // An entry's position starts with its commit's version: fewer commits than
    // events means events were recorded together.
    let commits: HashSet<&str> = entries
        .iter()
        .map(|e| &e["seq"].as_str().unwrap()[..16])
        .collect();
    assert!(
        commits.len() * 4 < entries.len(),
        "{} commits for {} events",
        commits.len(),
        entries.len()
    );
}
