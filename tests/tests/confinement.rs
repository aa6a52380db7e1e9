//! Jobs are confined to what they are given: each attack here is tried over the
//! real platform and must fail without touching anything outside the connection.
use std::time::Duration;

use prism_tests::{Standalone, write_people_csv};
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn read_then_write(read: &str, write: &str) -> Value {
    json!({"kind":"job","parameters":{"p":"people.csv"},"stages":[
        {"id":"input","type":"read","connection":"files","path":read,"format":"csv"},
        {"id":"out","type":"write","input":"input","connection":"files","path":write,"format":"csv"}]})
}

/// Submits `dataflow` (saved as `name`) and waits for it to end.
async fn run(platform: &Standalone, name: &str, dataflow: &Value) -> Value {
    let api = &platform.api;
    let (status, body) = api.put(&format!("/v1/dataflows/{name}"), dataflow).await;
    assert_eq!(status, 201, "{body}");
    let (status, job) = api.post("/v1/jobs", &json!({"dataflow": name})).await;
    assert_eq!(status, 202, "{job}");
    api.wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_stay_within_the_file_roots_and_jobs_within_their_connections() {
    let platform = Standalone::start().await;
    let api = &platform.api;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.csv"), "name,age\nsecret,99\n").unwrap();

    for root in ["/", "/etc", &outside.path().display().to_string()] {
        let (status, body) = api
            .put(
                "/v1/connections/wide",
                &json!({"kind":"local","root": root}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (400, json!("root")),
            "{root}: {body}"
        );
    }
    write_people_csv(&platform.files);
    let (status, body) = api
        .put(
            "/v1/connections/files",
            &json!({"kind":"local","root": platform.files}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // A symlink inside the root that leads out: reading through it fails.
    std::os::unix::fs::symlink(
        outside.path().join("secret.csv"),
        platform.files.join("leak.csv"),
    )
    .unwrap();
    let job = run(
        &platform,
        "leak-read",
        &read_then_write("leak.csv", "out/leak.csv"),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("leads outside the connection root"),
        "{job}"
    );
    assert!(!platform.files.join("out/leak.csv").exists());

    // A symlinked directory: writing through it fails, and nothing lands outside.
    std::os::unix::fs::symlink(outside.path(), platform.files.join("exit")).unwrap();
    let job = run(
        &platform,
        "leak-write",
        &read_then_write("people.csv", "exit/stolen.csv"),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("symlink"), "{job}");
    let names: Vec<String> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["secret.csv"],
        "nothing written outside, not even a staging file"
    );

    // A parameter value that climbs out of the root: refused before anything runs.
    let (status, body) = api
        .put(
            "/v1/dataflows/by-path",
            &read_then_write("${p}", "out/copy.csv"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for value in ["../../etc/passwd", "/etc/passwd", "a/../../b"] {
        let submit = json!({"dataflow":"by-path","parameters":{"p": value}});
        let (status, body) = api.post("/v1/jobs", &submit).await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (400, json!("parameters.p")),
            "{value}: {body}"
        );
    }
    let (_, page) = api.get("/v1/jobs?dataflow=by-path").await;
    assert_eq!(page["jobs"], json!([]), "no job was accepted");
}

/// An executor keeps its own list of file roots: a job message that names a
/// connection elsewhere fails, whatever the message says.
#[tokio::test(flavor = "multi_thread")]
async fn an_executor_refuses_a_job_whose_connection_lies_outside_its_roots() {
    use futures::StreamExt;
    use prism_schemas::v1::{Connection, JobEvent, JobRun};
    use prost::{Message, Name};

    let platform = Standalone::start().await;
    let client = async_nats::connect(platform.nats_url()).await.unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let mut events = client
        .subscribe(format!("prism.events.job.{id}.>"))
        .await
        .unwrap();
    let document = read_then_write("etc/passwd", "tmp/passwd.csv").to_string();
    let run = JobRun {
        job_id: id.clone(),
        dataflow: "forged".into(),
        dataflow_version: 1,
        dataflow_document: document,
        connections: vec![Connection {
            name: "files".into(),
            kind: "local".into(),
            root: "/".into(),
        }],
        parameters: [("p".to_string(), "people.csv".to_string())].into(),
        max_attempts: 1,
        ..Default::default()
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Prism-Message-Type", JobRun::full_name().as_str());
    headers.insert("Nats-Msg-Id", id.as_str());
    async_nats::jetstream::new(client.clone())
        .publish_with_headers(
            "prism.jobs.run.default",
            headers,
            run.encode_to_vec().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let failed = tokio::time::timeout(JOB_TIMEOUT, async {
        while let Some(message) = events.next().await {
            let event = JobEvent::decode(message.payload).unwrap();
            if message.subject.ends_with(".failed") {
                return event;
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("a failed event");
    assert!(
        failed
            .error
            .contains("must lie within the allowed file roots"),
        "{}",
        failed.error
    );
    assert!(!std::path::Path::new("/tmp/passwd.csv").exists());
}
