//! End to end over HTTP against `prism standalone` (its own nats-server child).
use std::time::Duration;

use futures::StreamExt;
use prism_schemas::v1::{JobEvent, JobState, SubmitJobReply, SubmitJobRequest, submit_job_reply};
use prism_tests::{Standalone, adults_dataflow, visible_files, wait_until, write_people_csv};
use prost::Message;
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

async fn with_connection(platform: &Standalone) {
    write_people_csv(&platform.files);
    let (status, body) = platform
        .api
        .put(
            "/v1/connections/files",
            &json!({"kind":"local","root": platform.files}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn example_job_runs_and_its_events_reach_an_outside_consumer() {
    let platform = Standalone::start().await;
    with_connection(&platform).await;
    let api = &platform.api;

    // An outside consumer: a plain NATS client on the public subjects, with the
    // read-only event credential.
    let nats = platform.nats_as(prism_tests::BusUser::Events).await;
    let mut events = nats.subscribe("prism.events.>").await.unwrap();
    nats.flush().await.unwrap();

    let (status, saved) = api
        .put(
            "/v1/dataflows/adults",
            &adults_dataflow("files", "out/adults.csv", 0),
        )
        .await;
    assert_eq!(
        (status, saved.clone()),
        (201, json!({"name":"adults","version":1}))
    );
    let (status, accepted) = api.post("/v1/jobs", &json!({"dataflow":"adults"})).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    let id = accepted["id"].as_str().unwrap().to_string();

    let job = api.wait_terminal(&id, JOB_TIMEOUT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["dataflow"], "adults");
    assert_eq!(job["version"], 1);
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["rows_read"], 4);
    assert_eq!(job["rows_written"], 2);
    for field in ["created_at", "started_at", "finished_at"] {
        assert!(job[field].is_string(), "{field} missing: {job}");
    }
    let output = std::fs::read_to_string(platform.files.join("out/adults.csv")).unwrap();
    assert_eq!(output, "name,age\nann,34\ncid,18\n");
    assert_eq!(
        visible_files(&platform.files.join("out")),
        vec!["adults.csv"]
    );

    // The job's events, decoded from protobuf by their message-type header.
    let mut states = Vec::new();
    let job_events = async {
        while let Some(message) = events.next().await {
            let type_name = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Prism-Message-Type"))
                .map(|v| v.to_string());
            if type_name.as_deref() != Some("prism.v1.JobEvent") {
                continue;
            }
            let event = JobEvent::decode(message.payload).unwrap();
            if event.job_id != id {
                continue;
            }
            assert_eq!(
                message.subject.as_str(),
                format!("prism.events.job.{id}.{}", event.state().event_kind())
            );
            assert!(
                message
                    .headers
                    .as_ref()
                    .unwrap()
                    .get("traceparent")
                    .is_some(),
                "no trace context"
            );
            assert!(event.occurred_at_ms > 0);
            states.push(event.state());
            if event.state().is_terminal() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), job_events)
        .await
        .expect("job events");
    assert_eq!(
        states,
        vec![JobState::Queued, JobState::Running, JobState::Succeeded]
    );

    // The audit log holds the configuration changes and the job's history.
    let actions: Vec<String> = wait_until("audit of the job", Duration::from_secs(20), || async {
        let entries = api.audit().await;
        let actions: Vec<String> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap_or("").to_string())
            .collect();
        actions
            .contains(&"job.succeeded".to_string())
            .then_some(actions)
    })
    .await;
    for action in [
        "connection.put",
        "dataflow.put",
        "job.queued",
        "job.started",
        "job.succeeded",
    ] {
        assert!(
            actions.contains(&action.to_string()),
            "{action} not in {actions:?}"
        );
    }
    let entries = api.audit().await;
    let seqs: Vec<&str> = entries.iter().map(|e| e["seq"].as_str().unwrap()).collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seqs, sorted, "audit seqs strictly increase");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_structured_error_and_changes_nothing() {
    let platform = Standalone::start().await;
    with_connection(&platform).await;
    let api = &platform.api;

    let expect = |(status, body): (u16, Value), want_status: u16, want_field: &str| {
        assert_eq!(status, want_status, "{body}");
        assert!(body["error"]["code"].is_string(), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
        assert_eq!(body["error"]["field"], want_field, "{body}");
    };
    expect(
        api.put(
            "/v1/connections/files2",
            &json!({"kind":"local","root":"relative/dir"}),
        )
        .await,
        400,
        "root",
    );
    expect(
        api.put(
            "/v1/connections/files2",
            &json!({"kind":"ftp","root":"/tmp"}),
        )
        .await,
        400,
        "kind",
    );
    expect(
        api.put(
            "/v1/connections/bad%20name",
            &json!({"kind":"local","root":"/tmp"}),
        )
        .await,
        400,
        "name",
    );
    expect(api.get("/v1/connections/nope").await, 404, "name");

    let mut escaping = adults_dataflow("files", "../outside.csv", 0);
    expect(
        api.put("/v1/dataflows/adults", &escaping).await,
        400,
        "stages[2].path",
    );
    escaping["stages"][0]["connection"] = json!("missing");
    let (status, body) = api.put("/v1/dataflows/adults", &escaping).await;
    assert_eq!(status, 400);
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["stage"] == "people" && p["field"] == "stages[0].connection"),
        "{body}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p["stage"] == "out" && p["field"] == "stages[2].path"),
        "{body}"
    );
    expect(
        api.put_raw("/v1/dataflows/adults", "application/json", "{not json")
            .await,
        400,
        "document",
    );

    expect(
        api.post("/v1/jobs", &json!({"dataflow":"adults"})).await,
        404,
        "dataflow",
    );
    expect(api.post("/v1/jobs", &json!({})).await, 400, "dataflow");
    expect(api.post_raw("/v1/jobs", "[1,2]").await, 400, "body");
    expect(
        api.post("/v1/jobs", &json!({"dataflow":"adults","colour":"red"}))
            .await,
        400,
        "colour",
    );
    expect(api.get("/v1/jobs?status=sleeping").await, 400, "status");
    expect(api.get("/v1/jobs?limit=0").await, 400, "limit");
    expect(api.get("/v1/jobs/does-not-exist").await, 404, "id");
    expect(api.get("/v1/audit?cursor=zz").await, 400, "cursor");
    expect(
        api.put(
            "/v1/schedules/nightly",
            &json!({"dataflow":"adults","cron":"0 3 * * *"}),
        )
        .await,
        400,
        "dataflow",
    );

    // With a valid dataflow: wrong version, unknown parameter, bad cron.
    let (status, _) = api
        .put(
            "/v1/dataflows/adults",
            &adults_dataflow("files", "out/adults.csv", 0),
        )
        .await;
    assert_eq!(status, 201);
    expect(
        api.post("/v1/jobs", &json!({"dataflow":"adults","version":7}))
            .await,
        404,
        "version",
    );
    expect(
        api.post(
            "/v1/jobs",
            &json!({"dataflow":"adults","parameters":{"x":1}}),
        )
        .await,
        400,
        "parameters.x",
    );
    expect(
        api.put(
            "/v1/schedules/nightly",
            &json!({"dataflow":"adults","cron":"61 * * * *"}),
        )
        .await,
        400,
        "cron",
    );

    // Nothing above changed anything.
    assert_eq!(
        api.get("/v1/connections").await.1["connections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, dataflow) = api.get("/v1/dataflows/adults").await;
    assert_eq!(dataflow["version"], 1);
    assert_eq!(api.get("/v1/jobs").await.1["jobs"], json!([]));
    assert_eq!(api.get("/v1/schedules").await.1["schedules"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_key_returns_the_same_job_and_versions_are_immutable() {
    let platform = Standalone::start().await;
    with_connection(&platform).await;
    let api = &platform.api;
    api.put(
        "/v1/dataflows/adults",
        &adults_dataflow("files", "out/v1.csv", 0),
    )
    .await;
    let (status, second) = api
        .put(
            "/v1/dataflows/adults",
            &adults_dataflow("files", "out/v2.csv", 0),
        )
        .await;
    assert_eq!((status, second["version"].clone()), (201, json!(2)));
    let (_, v1) = api.get("/v1/dataflows/adults/versions/1").await;
    assert_eq!(v1["document"]["stages"][2]["path"], "out/v1.csv");
    assert_eq!(api.get("/v1/dataflows/adults").await.1["version"], 2);

    let body = json!({"dataflow":"adults","version":1});
    let (s1, first) = api.submit_with_key(&body, "order-42").await;
    let (s2, again) = api.submit_with_key(&body, "order-42").await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["id"], again["id"]);
    let id = first["id"].as_str().unwrap();
    let job = api.wait_terminal(id, JOB_TIMEOUT).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["version"], 1);
    // The same key with a different request is a client error, not a new job.
    let (status, conflict) = api
        .submit_with_key(&json!({"dataflow":"adults","version":2}), "order-42")
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["field"], "Idempotency-Key");
    let (_, third) = api.submit_with_key(&body, "order-42").await;
    assert_eq!(third["id"], first["id"]);
    assert_eq!(third["status"], "succeeded");
    assert_eq!(
        api.get("/v1/jobs").await.1["jobs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(platform.files.join("out/v1.csv").exists());
    assert!(!platform.files.join("out/v2.csv").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_can_be_submitted_over_the_bus() {
    let platform = Standalone::start().await;
    with_connection(&platform).await;
    let api = &platform.api;
    api.put(
        "/v1/dataflows/adults",
        &adults_dataflow("files", "out/bus.csv", 0),
    )
    .await;
    // Outside automation: the bus `client` credential, and a user's token per request.
    let nats = platform.nats_as(prism_tests::BusUser::Client).await;

    let request = SubmitJobRequest {
        dataflow: "adults".into(),
        idempotency_key: "bus-1".into(),
        ..Default::default()
    };
    let token = api.token.clone().unwrap();
    let ask_as = |token: Option<String>, payload: Vec<u8>| {
        let nats = nats.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(token) = token {
                headers.insert("Authorization", format!("Bearer {token}").as_str());
            }
            let reply = nats
                .request_with_headers("prism.jobs.submit", headers, payload.into())
                .await
                .unwrap();
            SubmitJobReply::decode(reply.payload)
                .unwrap()
                .result
                .unwrap()
        }
    };
    let ask = |payload: Vec<u8>| ask_as(Some(token.clone()), payload);
    // Without a token, or with a token of a user who may not run it: refused.
    let submit_job_reply::Result::Error(error) = ask_as(None, request.encode_to_vec()).await else {
        panic!("accepted without a token");
    };
    assert_eq!(
        (error.code.as_str(), error.field.as_str()),
        ("unauthenticated", "Authorization")
    );
    let viewer = "{\"password\":\"viewer-password\",\"roles\":[\"viewer\"]}";
    let (status, _) = api
        .put("/v1/users/watcher", &serde_json::from_str(viewer).unwrap())
        .await;
    assert_eq!(status, 201);
    let watcher = api.as_user("watcher", "viewer-password").await;
    let submit_job_reply::Result::Error(error) =
        ask_as(watcher.token.clone(), request.encode_to_vec()).await
    else {
        panic!("accepted from a viewer");
    };
    assert_eq!(error.code, "permission_denied");
    assert_eq!(
        error.message,
        "missing permission: execute on dataflows/adults"
    );
    let submit_job_reply::Result::Accepted(accepted) = ask(request.encode_to_vec()).await else {
        panic!("not accepted");
    };
    let submit_job_reply::Result::Accepted(again) = ask(request.encode_to_vec()).await else {
        panic!("not accepted");
    };
    assert_eq!(accepted.id, again.id, "same idempotency key, same job");
    let job = api.wait_terminal(&accepted.id, JOB_TIMEOUT).await;
    assert_eq!(job["status"], "succeeded");

    // Garbage and invalid requests get a structured error and are recorded.
    let submit_job_reply::Result::Error(error) = ask(vec![0xff, 0xff, 0xff]).await else {
        panic!("garbage accepted");
    };
    assert_eq!(
        (error.code.as_str(), error.field.as_str()),
        ("invalid_argument", "payload")
    );
    let unknown = SubmitJobRequest {
        dataflow: "nope".into(),
        ..Default::default()
    };
    let submit_job_reply::Result::Error(error) = ask(unknown.encode_to_vec()).await else {
        panic!("unknown dataflow accepted");
    };
    assert_eq!(
        (error.code.as_str(), error.field.as_str()),
        ("not_found", "dataflow")
    );
    wait_until("rejections audited", Duration::from_secs(20), || async {
        let n = api
            .audit()
            .await
            .iter()
            .filter(|e| e["action"] == "job.submit_rejected")
            .count();
        (n == 4).then_some(())
    })
    .await;
    // The gateway still serves.
    let submit_job_reply::Result::Accepted(_) = ask(SubmitJobRequest {
        dataflow: "adults".into(),
        ..Default::default()
    }
    .encode_to_vec())
    .await
    else {
        panic!("gateway stopped serving after bad input");
    };
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_cancellation_and_formats() {
    let platform = Standalone::start().await;
    with_connection(&platform).await;
    let api = &platform.api;

    // A query that fails at run time ends the job as failed, with the reason.
    let broken = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"bad","type":"sql","inputs":["people"],"query":"SELECT no_such_column FROM people"}]});
    api.put("/v1/dataflows/broken", &broken).await;
    let (_, accepted) = api.post("/v1/jobs", &json!({"dataflow":"broken"})).await;
    let job = api
        .wait_terminal(accepted["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"].as_str().unwrap().contains("no_such_column"),
        "{job}"
    );

    // Cancelling a running job stops it before it writes.
    api.put(
        "/v1/dataflows/slow",
        &adults_dataflow("files", "out/slow.csv", 60_000),
    )
    .await;
    let (_, accepted) = api.post("/v1/jobs", &json!({"dataflow":"slow"})).await;
    let id = accepted["id"].as_str().unwrap();
    api.wait_status(id, "running", JOB_TIMEOUT).await;
    let (status, body) = api.post(&format!("/v1/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let job = api.wait_terminal(id, JOB_TIMEOUT).await;
    assert_eq!(job["status"], "cancelled");
    assert!(!platform.files.join("out/slow.csv").exists());
    let (status, body) = api.post(&format!("/v1/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("conflict"))
    );

    // csv -> parquet -> jsonl, with a parameter.
    let chain = json!({"kind":"job","parameters":{"min_age":"18"},"stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"adults","type":"sql","inputs":["people"],"query":"SELECT name, age FROM people WHERE age >= ${min_age} ORDER BY name"},
        {"id":"pq","type":"write","input":"adults","connection":"files","path":"out/adults.parquet","format":"parquet"}]});
    api.put("/v1/dataflows/to-parquet", &chain).await;
    let (_, accepted) = api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"to-parquet","parameters":{"min_age":30}}),
        )
        .await;
    let job = api
        .wait_terminal(accepted["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(
        (job["status"].clone(), job["rows_written"].clone()),
        (json!("succeeded"), json!(1)),
        "{job}"
    );
    let back = json!({"kind":"job","stages":[
        {"id":"pq","type":"read","connection":"files","path":"out/adults.parquet","format":"parquet"},
        {"id":"j","type":"write","input":"pq","connection":"files","path":"out/adults.jsonl","format":"jsonl"}]});
    api.put("/v1/dataflows/to-jsonl", &back).await;
    let (_, accepted) = api.post("/v1/jobs", &json!({"dataflow":"to-jsonl"})).await;
    let job = api
        .wait_terminal(accepted["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let jsonl = std::fs::read_to_string(platform.files.join("out/adults.jsonl")).unwrap();
    assert_eq!(jsonl.trim(), r#"{"name":"ann","age":34}"#);

    // Listing filters by status and dataflow.
    let (_, failed) = api.get("/v1/jobs?status=failed").await;
    assert_eq!(failed["jobs"].as_array().unwrap().len(), 1);
    let (_, page) = api.get("/v1/jobs?limit=2").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = api.get(&format!("/v1/jobs?limit=10&cursor={cursor}")).await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 2, "4 jobs in all");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_submits_jobs_and_can_be_removed() {
    let platform = Standalone::start().await;
    with_connection(&platform).await;
    let api = &platform.api;
    api.put(
        "/v1/dataflows/adults",
        &adults_dataflow("files", "out/scheduled.csv", 0),
    )
    .await;
    let (status, body) = api
        .put(
            "/v1/schedules/every-second",
            &json!({"dataflow":"adults","cron":"* * * * * *","enabled":true}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        api.get("/v1/schedules/every-second").await.1["cron"],
        "* * * * * *"
    );
    wait_until(
        "two scheduled jobs to succeed",
        Duration::from_secs(30),
        || async {
            let (_, page) = api.get("/v1/jobs?status=succeeded").await;
            let jobs = page["jobs"].as_array().cloned().unwrap_or_default();
            (jobs
                .iter()
                .filter(|j| j["schedule"] == "every-second")
                .count()
                >= 2)
                .then_some(())
        },
    )
    .await;
    let (status, _) = api.delete("/v1/schedules/every-second").await;
    assert_eq!(status, 204);
    assert_eq!(api.get("/v1/schedules/every-second").await.0, 404);
    assert!(platform.files.join("out/scheduled.csv").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_shuts_down_gracefully() {
    let mut platform = Standalone::start().await;
    let code = platform.prism.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", platform.prism.log_text());
}
