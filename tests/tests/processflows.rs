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

/// `a -> (b, c) -> d`: `c` fails, so the join `d` is skipped and the failure path
/// is taken; every decision is kept with what its rule read.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_follows_its_transitions_once_and_explains_every_decision() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    let bad = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"missing.csv","format":"csv"},
        {"id":"out","type":"write","input":"people","connection":"files","path":"out/never.csv","format":"csv"}]});
    let mut good = adults_dataflow("files", "out/${out}.csv", 0);
    good["parameters"] = json!({"out": null});
    platform
        .save_dataflows(&[("good", good), ("bad", bad)])
        .await;
    let flow = json!({
        "parameters": {"out": "a"},
        "activities": [
            {"id": "a", "type": "job", "dataflow": "good", "parameters": {"out": "${out}"}},
            {"id": "b", "type": "job", "dataflow": "good", "parameters": {"out": "b"}},
            {"id": "c", "type": "job", "dataflow": "bad"},
            {"id": "d", "type": "job", "dataflow": "good", "parameters": {"out": "d"}},
            {"id": "done", "type": "succeed"},
            {"id": "failed", "type": "fail", "input": "first"}
        ],
        "transitions": [
            {"from": "a", "to": "b", "when": "a.rows_written > 0"},
            {"from": "a", "to": "c", "on": "succeeded"},
            {"from": "a", "to": "failed", "on": "otherwise"},
            {"from": "b", "to": "d", "on": "succeeded"},
            {"from": "c", "to": "d", "on": "succeeded"},
            {"from": "b", "to": "failed", "on": "failed"},
            {"from": "c", "to": "failed", "on": "failed"},
            {"from": "d", "to": "done", "on": "succeeded"},
            {"from": "d", "to": "failed", "on": "failed"}
        ]
    });
    assert_eq!(api.put("/v1/processflows/diamond", &flow).await.0, 201);
    let (status, run) = api
        .submit_with_key_to(
            "/v1/processflows/diamond/runs",
            &json!({"parameters": {"out": "first"}}),
            "nightly-1",
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!(run["dataflow_versions"], json!({"bad": 1, "good": 1}));
    let (status, again) = api
        .submit_with_key_to(
            "/v1/processflows/diamond/runs",
            &json!({"parameters": {"out": "first"}}),
            "nightly-1",
        )
        .await;
    assert_eq!(
        (status, &again["id"]),
        (200, &run["id"]),
        "the same key is the same run"
    );

    let path = format!("/v1/processflow-runs/{id}");
    let run = wait_until("the run ended", Duration::from_secs(60), || async {
        let (_, run) = api.get(&path).await;
        (run["state"] != "running").then_some(run)
    })
    .await;
    assert_eq!(run["state"], "failed", "{run:#}");
    let states: Vec<(&str, &str)> = run["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("a", "succeeded"),
            ("b", "succeeded"),
            ("c", "failed"),
            ("d", "skipped"),
            ("done", "skipped"),
            ("failed", "succeeded")
        ]
    );
    let decision = |from: &str, to: &str| {
        run["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["from"] == from && d["to"] == to)
            .cloned()
            .unwrap()
    };
    let ab = decision("a", "b");
    assert_eq!(
        (&ab["rule"], &ab["values"], &ab["taken"], &ab["why"]),
        (
            &json!("when a.rows_written > 0"),
            &json!("a.rows_written = 2"),
            &json!(true),
            &json!("the condition holds")
        ),
        "{ab}"
    );
    assert_eq!(decision("c", "d")["taken"], false);
    assert_eq!(
        decision("a", "failed")["why"],
        "another transition was taken"
    );

    // One job per activity attempt, each with its deterministic key, and the
    // flow's parameter reached the job.
    let (_, jobs) = api.get("/v1/jobs?limit=100").await;
    let mut keys: Vec<String> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["idempotency_key"].as_str().unwrap_or("").to_string())
        .collect();
    keys.sort();
    let expected: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|a| format!("flow:{id}:{a}:1"))
        .collect();
    assert_eq!(keys, expected);
    assert!(
        platform.files.join("out/first.csv").exists(),
        "a wrote with the flow's parameter"
    );

    // Resume: the plan reuses a and b, reruns c and what follows it.
    let resume = format!("/v1/processflow-runs/{id}/resume");
    let (status, plan) = api.post(&resume, &json!({})).await;
    assert_eq!(status, 200, "{plan}");
    let actions: Vec<(&str, &str)> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["activity"].as_str().unwrap(),
                p["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("a", "reuse"),
            ("b", "reuse"),
            ("c", "rerun"),
            ("d", "rerun"),
            ("done", "rerun"),
            ("failed", "rerun")
        ]
    );
    assert_eq!(plan["run"], Value::Null, "a dry run starts nothing");
    // The cause is fixed by a new version of `bad`: refused unless asked for.
    let fixed = adults_dataflow("files", "out/c.csv", 0);
    assert_eq!(api.put("/v1/dataflows/bad", &fixed).await.0, 201);
    let (status, refused) = api.post(&resume, &json!({"dry_run": false})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "changed since the run: bad (version 1 then, 2 now); resume with latest: true to run them"
    );
    let (status, resumed) = api
        .post(&resume, &json!({"dry_run": false, "latest": true}))
        .await;
    assert_eq!(status, 201, "{resumed}");
    let second = resumed["run"]["id"].as_str().unwrap().to_string();
    assert_eq!(resumed["run"]["resumed_from"], json!(id));
    let path = format!("/v1/processflow-runs/{second}");
    let run = wait_until("the resumed run ended", Duration::from_secs(60), || async {
        let (_, run) = api.get(&path).await;
        (run["state"] != "running").then_some(run)
    })
    .await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(run["dataflow_versions"], json!({"bad": 2, "good": 1}));
    // Exactly two new jobs: c and d.
    let (_, jobs) = api.get("/v1/jobs?limit=100").await;
    let mut new_keys: Vec<String> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["idempotency_key"].as_str())
        .filter(|k| k.contains(&second))
        .map(str::to_string)
        .collect();
    new_keys.sort();
    assert_eq!(
        new_keys,
        [format!("flow:{second}:c:1"), format!("flow:{second}:d:1")]
    );
    // d's output is that of a fresh full run.
    let resumed_output = std::fs::read(platform.files.join("out/d.csv")).unwrap();
    std::fs::remove_file(platform.files.join("out/d.csv")).unwrap();
    let (status, fresh) = api
        .post(
            "/v1/processflows/diamond/runs",
            &json!({"parameters": {"out": "fresh"}}),
        )
        .await;
    assert_eq!(status, 201, "{fresh}");
    let path = format!("/v1/processflow-runs/{}", fresh["id"].as_str().unwrap());
    let fresh = wait_until("the fresh run ended", Duration::from_secs(60), || async {
        let (_, run) = api.get(&path).await;
        (run["state"] != "running").then_some(run)
    })
    .await;
    assert_eq!(fresh["state"], "succeeded", "{fresh:#}");
    assert_eq!(
        std::fs::read(platform.files.join("out/d.csv")).unwrap(),
        resumed_output
    );
}

/// An approval holds no executor slot while it waits; only a holder of its role may
/// decide it, once; a timeout takes the declared path; all three are audited.
#[tokio::test(flavor = "multi_thread")]
async fn approvals_wait_without_executors_and_are_decided_once_by_their_role() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    platform
        .save_dataflows(&[("good", adults_dataflow("files", "out/good.csv", 0))])
        .await;
    let gated = |timeout: u64| {
        json!({
            "activities": [
                {"id": "load", "type": "job", "dataflow": "good"},
                {"id": "gate", "type": "approval", "role": "operator", "timeout_seconds": timeout, "on_timeout": "reject"},
                {"id": "publish", "type": "job", "dataflow": "good"},
                {"id": "done", "type": "succeed"},
                {"id": "refused", "type": "fail", "message": "not approved", "input": "first"}
            ],
            "transitions": [
                {"from": "load", "to": "gate", "on": "succeeded"},
                {"from": "load", "to": "refused", "on": "failed"},
                {"from": "gate", "to": "publish", "on": "succeeded"},
                {"from": "gate", "to": "refused", "on": "failed"},
                {"from": "publish", "to": "done", "on": "always"}
            ]
        })
    };
    assert_eq!(api.put("/v1/processflows/gated", &gated(3600)).await.0, 201);
    assert_eq!(api.put("/v1/processflows/hurried", &gated(1)).await.0, 201);
    let user = |roles: Value| json!({"password": "a-long-password-1", "roles": roles});
    assert_eq!(
        api.put("/v1/users/vic", &user(json!(["viewer"]))).await.0,
        201
    );
    assert_eq!(
        api.put("/v1/users/opa", &user(json!(["operator"]))).await.0,
        201
    );

    let (status, run) = api.post("/v1/processflows/gated/runs", &json!({})).await;
    assert_eq!(status, 201, "{run}");
    let path = format!("/v1/processflow-runs/{}", run["id"].as_str().unwrap());
    wait_until("the approval waits", Duration::from_secs(60), || async {
        let (_, run) = api.get(&path).await;
        (run["activities"][1]["state"] == "waiting").then_some(())
    })
    .await;
    // Waiting takes no executor slot.
    let (_, nodes) = api.get("/v1/cluster/nodes").await;
    let busy: u64 = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["in_flight"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(busy, 0, "{nodes}");
    let decide = format!("{path}/approvals/gate");
    let viewer = api.as_user("vic", "a-long-password-1").await;
    let operator = api.as_user("opa", "a-long-password-1").await;
    // The inbox: the operator's role decides the gate, the viewer's does not.
    let (_, inbox) = operator.get("/v1/approvals").await;
    assert_eq!(inbox["approvals"][0]["run"], run["id"], "{inbox}");
    assert_eq!(inbox["approvals"][0]["activity"], "gate");
    assert_eq!(inbox["approvals"][0]["on_timeout"], "reject");
    assert_eq!(
        viewer.get("/v1/approvals").await.1,
        json!({"approvals": []})
    );
    let (status, refused) = viewer.post(&decide, &json!({"decision": "approve"})).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "only a user holding role \"operator\" may decide gate"
    );
    let (status, decided) = operator
        .post(
            &decide,
            &json!({"decision": "approve", "comment": "numbers checked"}),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["activities"][1]["decided_by"], "opa");
    let (status, twice) = operator.post(&decide, &json!({"decision": "reject"})).await;
    assert_eq!(status, 409, "{twice}");
    assert_eq!(
        twice["error"]["message"],
        "gate was decided already, by opa"
    );
    let done = wait_until(
        "the approved run ended",
        Duration::from_secs(60),
        || async {
            let (_, run) = api.get(&path).await;
            (run["state"] != "running").then_some(run)
        },
    )
    .await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(
        done["activities"][2]["state"], "succeeded",
        "publish ran after the approval"
    );

    // Nobody decides in time: the declared path (reject) is taken.
    let (_, run) = api.post("/v1/processflows/hurried/runs", &json!({})).await;
    let hurried = format!("/v1/processflow-runs/{}", run["id"].as_str().unwrap());
    let timed_out = wait_until(
        "the timed-out run ended",
        Duration::from_secs(60),
        || async {
            let (_, run) = api.get(&hurried).await;
            (run["state"] != "running").then_some(run)
        },
    )
    .await;
    assert_eq!(timed_out["state"], "failed", "{timed_out:#}");
    assert_eq!(timed_out["activities"][1]["decided_by"], "timeout");
    assert_eq!(timed_out["activities"][2]["state"], "skipped");
    assert_eq!(
        timed_out["activities"][4]["state"], "succeeded",
        "the fail end was reached"
    );

    // All in the audit log: the wait, the refused decision, the approval, and
    // the timeout's rejection.
    let audited = wait_until("the decisions audited", Duration::from_secs(20), || async {
        let entries: Vec<Value> = platform
            .api
            .audit()
            .await
            .into_iter()
            .filter(|e| e["details"]["activity"] == "gate")
            .filter(|e| e["action"] != "flow.activity" || e["details"]["state"] == "waiting")
            .collect();
        (entries.len() == 5).then_some(entries)
    })
    .await;
    let seen: Vec<(&str, &str)> = audited
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("flow.activity", "admin"),
            ("flow.refused", "vic"),
            ("flow.approved", "opa"),
            ("flow.activity", "admin"),
            ("flow.rejected", "timeout"),
        ],
        "{audited:#?}"
    );
    assert_eq!(audited[1]["details"]["detail"], refused["error"]["message"]);
    assert_eq!(audited[2]["details"]["detail"], "numbers checked");
}

/// Cancelling a run cancels its running job and starts nothing more; once.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_run_cancels_its_running_job_and_starts_nothing_more() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    platform
        .save_dataflows(&[
            ("slow", adults_dataflow("files", "out/slow.csv", 60_000)),
            ("after", adults_dataflow("files", "out/after.csv", 0)),
        ])
        .await;
    let flow = json!({
        "activities": [
            {"id": "slow", "type": "job", "dataflow": "slow"},
            {"id": "after", "type": "job", "dataflow": "after"},
            {"id": "done", "type": "succeed"}
        ],
        "transitions": [
            {"from": "slow", "to": "after", "on": "succeeded"},
            {"from": "after", "to": "done", "on": "always"},
            {"from": "slow", "to": "done", "on": "otherwise"}
        ]
    });
    assert_eq!(api.put("/v1/processflows/long", &flow).await.0, 201);
    let (_, run) = api.post("/v1/processflows/long/runs", &json!({})).await;
    let path = format!("/v1/processflow-runs/{}", run["id"].as_str().unwrap());
    let job = wait_until("the slow job runs", Duration::from_secs(60), || async {
        let (_, run) = api.get(&path).await;
        run["activities"][0]["job_id"].as_str().map(str::to_string)
    })
    .await;
    let (status, cancelled) = api.post(&format!("{path}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["activities"][0]["state"], "cancelled");
    assert_eq!(cancelled["activities"][1]["state"], "skipped");
    let (status, again) = api.post(&format!("{path}/cancel"), &json!({})).await;
    assert_eq!(
        (status, &again["error"]["message"]),
        (409, &json!("the run is cancelled already"))
    );
    api.wait_status(&job, "cancelled", Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, jobs) = api.get("/v1/jobs?dataflow=after").await;
    assert_eq!(jobs["jobs"], json!([]), "nothing started after the cancel");
    let (_, run) = api.get(&path).await;
    assert_eq!(run["state"], "cancelled", "no scheduler moved it on: {run}");
}
