//! Previews over the real platform: a document (never saved) run by the executor up
//! to one stage, answering its first rows and each stage's counts, bounded in rows,
//! refusing what a save or a run would refuse, and writing nothing at all.
use prism_tests::Standalone;
use serde_json::{Value, json};

const ROWS: usize = 5_000;

fn document() -> Value {
    json!({"kind":"job","parameters":{"parity":"0"},"stages":[
        {"id":"numbers","type":"read","connection":"files","path":"numbers.csv","format":"csv"},
        {"id":"even","type":"sql","inputs":["numbers"],
         "query":"SELECT n, n * 10 AS tenfold FROM numbers WHERE n % 2 = ${parity} ORDER BY n"},
        {"id":"pause","type":"delay","milliseconds":10},
        {"id":"out","type":"write","input":"even","connection":"files","path":"out/even.csv","format":"csv"}]})
}

fn ask(stage: &str, limit: Option<u32>) -> Value {
    let mut body = json!({"document": document(), "stage": stage, "parameters": {"parity": "0"}});
    if let Some(limit) = limit {
        body["limit"] = json!(limit);
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preview_answers_the_first_rows_and_writes_nothing() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let numbers: String = (0..ROWS).map(|n| format!("{n}\n")).collect();
    std::fs::write(platform.files.join("numbers.csv"), format!("n\n{numbers}")).unwrap();
    let api = &platform.api;
    let path = "/v1/dataflows/evens/preview";

    let (status, body) = api.post(path, &ask("even", Some(10))).await;
    assert_eq!(status, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[3], json!({"n": 6, "tenfold": 60}));
    assert_eq!(body["truncated"], true);
    assert_eq!(
        body["columns"],
        json!([{"name":"n","type":"Int64"},{"name":"tenfold","type":"Int64"}])
    );
    let stages: Vec<&str> = body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["numbers", "even"], "only what the stage needs ran");

    // A write shows what it would write, at most 1,000 rows, and writes none.
    let (status, body) = api.post(path, &ask("out", Some(1000))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(body["stage"], "out");
    let (status, body) = api.post(path, &ask("out", None)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rows"].as_array().unwrap().len(),
        100,
        "100 rows unless asked"
    );
    assert!(
        !platform.files.join("out").exists(),
        "a preview wrote a file"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&platform.files)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "nothing beside the inputs: {leftovers:?}"
    );
    let (_, jobs) = api.get("/v1/jobs").await;
    assert_eq!(jobs["jobs"], json!([]), "a preview is no job");
    let (status, _) = api.get("/v1/dataflows/evens").await;
    assert_eq!(status, 404, "a preview saves nothing");

    // What it refuses, naming the field.
    for (body, field) in [
        (ask("even", Some(0)), "limit"),
        (ask("even", Some(1001)), "limit"),
        (ask("nowhere", None), "stage"),
        (json!({"document": [], "stage": "even"}), "document"),
    ] {
        let (status, answer) = api.post(path, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let mut broken = ask("even", None);
    broken["document"]["stages"][1]["query"] = json!("SELECT * FROM nowhere WHERE x = ${missing}");
    let (status, answer) = api.post(path, &broken).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"]["details"]["problems"][0]["stage"], "even",
        "{answer}"
    );
    let (status, answer) = api.post(path, &ask("pause", None)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delay"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preview_needs_execute_on_the_dataflow_and_its_connections() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    std::fs::write(platform.files.join("numbers.csv"), "n\n1\n2\n").unwrap();
    let api = &platform.api;
    let user = |name: &str, roles: Value| json!({"password": format!("{name}-password-long"), "roles": roles});
    let (status, _) = api
        .put(
            "/v1/roles/runner",
            &json!({"grants":[{"entity":"dataflows","match":"*","actions":["view","execute"]}]}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        api.put("/v1/users/vic", &user("vic", json!(["viewer"])))
            .await
            .0,
        201
    );
    assert_eq!(
        api.put("/v1/users/rue", &user("rue", json!(["runner"])))
            .await
            .0,
        201
    );
    assert_eq!(
        api.put("/v1/users/opa", &user("opa", json!(["operator"])))
            .await
            .0,
        201
    );
    let path = "/v1/dataflows/evens/preview";
    let viewer = api.as_user("vic", "vic-password-long").await;
    let (status, answer) = viewer.post(path, &ask("even", None)).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "missing permission: execute on dataflows/evens"
    );
    let runner = api.as_user("rue", "rue-password-long").await;
    let (status, answer) = runner.post(path, &ask("even", None)).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "missing permission: execute on connections/files"
    );
    let operator = api.as_user("opa", "opa-password-long").await;
    let (status, answer) = operator.post(path, &ask("even", None)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"], json!([{"n": 2, "tenfold": 20}]));
}
