//! Process flows as versioned documents over the real platform: saved as JSON or
//! YAML, a version only when the document changed, every problem named by activity
//! and field, and every save audited.
use std::time::Duration;

use prism_tests::{Standalone, adults_dataflow, wait_until};
use serde_json::{Value, json};

fn chain(then: &str) -> Value {
    json!({
        "parameters": {"day": null},
        "activities": [
            {"id": "load", "type": "job", "dataflow": "adults", "parameters": {"day": "${day}"}},
            {"id": "then", "type": "job", "dataflow": then, "input": "first"},
            {"id": "done", "type": "succeed"},
            {"id": "failed", "type": "fail"}
        ],
        "transitions": [
            {"from": "load", "to": "then", "when": "load.rows_written > 0 && params.day != 'sunday'"},
            {"from": "load", "to": "failed", "on": "otherwise"},
            {"from": "then", "to": "done", "on": "succeeded"},
            {"from": "then", "to": "failed", "on": "failed"}
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn process_flows_are_saved_as_versions_checked_and_audited() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    platform
        .save_dataflows(&[
            ("adults", adults_dataflow("files", "out/adults.csv", 0)),
            ("rollup", adults_dataflow("files", "out/rollup.csv", 0)),
        ])
        .await;

    let (status, body) = api.put("/v1/processflows/chain", &chain("adults")).await;
    assert_eq!((status, &body["version"]), (201, &json!(1)), "{body}");
    let (status, body) = api.put("/v1/processflows/chain", &chain("adults")).await;
    assert_eq!(
        (status, &body["version"]),
        (200, &json!(1)),
        "the same document makes no version: {body}"
    );
    // The same document in YAML is the same document.
    let yaml = serde_json::to_string_pretty(&chain("adults")).unwrap();
    let (status, body) = api
        .put_raw("/v1/processflows/chain", "application/yaml", &yaml)
        .await;
    assert_eq!((status, &body["version"]), (200, &json!(1)), "{body}");
    let (status, body) = api.put("/v1/processflows/chain", &chain("rollup")).await;
    assert_eq!((status, &body["version"]), (201, &json!(2)), "{body}");
    let (_, first) = api.get("/v1/processflows/chain/versions/1").await;
    assert_eq!(first["document"], chain("adults"));
    let (_, latest) = api.get("/v1/processflows/chain").await;
    assert_eq!(latest["version"], 2);
    let (_, listed) = api.get("/v1/processflows").await;
    assert_eq!(listed["processflows"][0]["name"], "chain");
    assert_eq!(listed["processflows"][0]["latest_version"], 2);

    // Refused, every problem named, nothing saved.
    let mut wrong = chain("nowhere");
    wrong["transitions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "then", "to": "load", "on": "always"}));
    let (status, body) = api.put("/v1/processflows/chain", &wrong).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "activities[1].dataflow", "{body}");
    assert_eq!(
        body["error"]["details"]["problems"][0]["activity"], "then",
        "{body}"
    );
    let mut cycle = chain("rollup");
    cycle["transitions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "then", "to": "load", "on": "always"}));
    let (status, body) = api.put("/v1/processflows/chain", &cycle).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"], "activity \"load\": a cycle through load, then",
        "{body}"
    );
    let mut itself = chain("rollup");
    itself["activities"][1] = json!({"id": "then", "type": "flow", "processflow": "chain"});
    let (status, body) = api.put("/v1/processflows/chain", &itself).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("activities[1].processflow")),
        "{body}"
    );
    assert_eq!(api.get("/v1/processflows/chain").await.1["version"], 2);

    // Both versions audited, by whom and what.
    let audited = wait_until("the saves audited", Duration::from_secs(10), || async {
        let entries: Vec<Value> = platform
            .api
            .audit()
            .await
            .into_iter()
            .filter(|e| e["action"] == "processflow.put")
            .collect();
        (entries.len() == 2).then_some(entries)
    })
    .await;
    assert!(
        audited
            .iter()
            .all(|e| e["target"] == "processflow/chain" && e["actor"] == "admin")
    );
    assert_eq!(audited[1]["details"]["version"], 2);
}
