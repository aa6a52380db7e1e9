//! Real-time services over the real platform: a lookup (request rows joined with a
//! reference CSV) answered over HTTP and directly over NATS, with per-row
//! validation, real status codes, and new versions rolled out without a failed call.
use std::time::Duration;

use prism_tests::{BusUser, Standalone, wait_until};
use serde_json::{Value, json};

fn lookup(label: &str) -> Value {
    json!({"kind":"service","stages":[
        {"id":"input","type":"input","fields":[{"name":"code","type":"string","required":true},{"name":"n","type":"integer"}]},
        {"id":"cities","type":"read","connection":"files","path":"cities.csv","format":"csv"},
        {"id":"found","type":"sql","inputs":["input","cities"],
         "query":format!("SELECT i.code, c.city, '{label}' AS label FROM input i JOIN cities c ON c.code = i.code ORDER BY i.code")},
        {"id":"out","type":"output","input":"found"}]})
}

/// Calls `service` until it answers; answers how many calls found it not yet
/// answering (503, which its statistics count as errors: on a loaded machine
/// the executor may still be compiling it).
async fn ready(platform: &Standalone, service: &str) -> u64 {
    let path = format!("/v1/services/{service}/invoke");
    let unanswered = std::sync::atomic::AtomicU64::new(0);
    wait_until(
        &format!("{service} answered"),
        Duration::from_secs(30),
        || async {
            let (status, _) = platform.api.post(&path, &json!({"rows":[]})).await;
            if status == 503 {
                unanswered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (status == 200).then_some(())
        },
    )
    .await;
    unanswered.into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_service_answers_over_http_and_nats_with_real_status_codes() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    std::fs::write(
        platform.files.join("cities.csv"),
        "code,city\nB1,Berlin\nP2,Paris\n",
    )
    .unwrap();
    let api = &platform.api;
    assert_eq!(api.put("/v1/dataflows/lookup", &lookup("v1")).await.0, 201);
    let (status, body) = api
        .put("/v1/services/lookup", &json!({"dataflow":"lookup"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let unready = ready(&platform, "lookup").await;

    let rows =
        json!({"rows":[{"code":"P2"},{"code":"B1","n":3},{"code":7},{"n":1},{"code":"B1","x":1}]});
    let (status, body) = api.post("/v1/services/lookup/invoke", &rows).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rows"],
        json!([{"code":"B1","city":"Berlin","label":"v1"},{"code":"P2","city":"Paris","label":"v1"}])
    );
    let errors: Vec<(u64, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [(2, "code".into()), (3, "code".into()), (4, "x".into())],
        "{body}"
    );
    assert_eq!(body["version"], 1);
    assert!(body["request_id"].is_string() && body["duration_ms"].is_number());

    // The compatibility shape: one row from the query string (text read as the
    // declared types), or rows under Input.Row; the answer under Output.
    let (status, body) = api
        .get("/rest/lookup/results.json?Data.code=B1&Data.n=3")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["Output"],
        json!([{"code":"B1","city":"Berlin","label":"v1"}])
    );
    let compat = json!({"Input":{"Row":[{"code":"P2"},{"code":"nowhere"}]}});
    let (status, body) = api.post("/rest/lookup/results.json", &compat).await;
    assert_eq!(
        (status, body["Output"].clone()),
        (200, json!([{"code":"P2","city":"Paris","label":"v1"}])),
        "{body}"
    );
    let (status, body) = api.get("/rest/lookup/results.json?Data.n=x").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Errors"][0]["field"], "code", "{body}");

    // Directly over NATS, as an outside client with the `client` credential.
    let client = platform.nats_as(BusUser::Client).await;
    let reply = client
        .request(
            "prism.svc.lookup",
            json!({"rows":[{"code":"B1"}]}).to_string().into(),
        )
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(
        reply["rows"],
        json!([{"code":"B1","city":"Berlin","label":"v1"}])
    );

    // Real status codes.
    let (status, body) = api
        .post("/v1/services/lookup/invoke", &json!({"rows":"no"}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("rows")),
        "{body}"
    );
    assert_eq!(
        api.post("/v1/services/nope/invoke", &json!({"rows":[]}))
            .await
            .0,
        404
    );
    let (status, _) = api
        .put(
            "/v1/services/hurried",
            &json!({"dataflow":"lookup","timeout_ms":1}),
        )
        .await;
    assert_eq!(status, 201);
    let hurried = wait_until(
        "a call past its timeout",
        Duration::from_secs(30),
        || async {
            let (status, body) = api
                .post(
                    "/v1/services/hurried/invoke",
                    &json!({"rows":[{"code":"B1"}]}),
                )
                .await;
            (status == 504).then_some(body)
        },
    )
    .await;
    assert_eq!(hurried["error"]["code"], "deadline_exceeded");
    let (status, _) = api
        .put(
            "/v1/services/narrow",
            &json!({"dataflow":"lookup","max_inflight":1}),
        )
        .await;
    assert_eq!(status, 201);
    ready(&platform, "narrow").await;
    let calls = (0..20).map(|_| {
        let api = api.clone();
        async move {
            api.post(
                "/v1/services/narrow/invoke",
                &json!({"rows":[{"code":"B1"}]}),
            )
            .await
            .0
        }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503) && statuses.contains(&200),
        "{statuses:?}"
    );

    // History: every call is an event; statistics read them back; the audit log
    // records changes only.
    let stats = wait_until("calls in the history", Duration::from_secs(20), || async {
        let (status, stats) = api.get("/v1/services/lookup/stats?window=600").await;
        (status == 200 && stats["requests"].as_u64() >= Some(6)).then_some(stats)
    })
    .await;
    assert!(stats["p50_ms"].as_f64().is_some_and(|p| p > 0.0), "{stats}");
    assert!(
        stats["p99_ms"].as_f64() >= stats["p50_ms"].as_f64(),
        "{stats}"
    );
    assert_eq!(
        stats["errors"], unready,
        "4xx are the callers' errors, not the service's: {stats}"
    );
    let (status, _) = api.get("/v1/services/hurried/stats?window=600").await;
    assert_eq!(status, 200);
    // A name that cannot be a subject is refused, not sent to JetStream (found by
    // schemathesis: it answered 503).
    let (status, refused) = api.get("/v1/services/S%C2%97%20x%3E/stats").await;
    assert_eq!(
        (status, refused["error"]["field"].clone()),
        (400, json!("name")),
        "{refused}"
    );
    let hurried = wait_until(
        "the timeouts in the history",
        Duration::from_secs(20),
        || async {
            let (_, stats) = api.get("/v1/services/hurried/stats?window=600").await;
            (stats["errors"].as_u64() >= Some(1)).then_some(stats)
        },
    )
    .await;
    assert!(hurried["error_rate"].as_f64() > Some(0.0), "{hurried}");
    assert_eq!(api.get("/v1/services/lookup/stats?window=0").await.0, 400);
    let audit = api.audit().await;
    assert!(
        audit.iter().all(|e| e["action"] != "event.malformed"
            && !e["target"]
                .as_str()
                .unwrap_or("")
                .starts_with("prism.events.svc")),
        "calls never reach the audit log"
    );
    assert!(audit.iter().any(|e| e["action"] == "service.expose"));

    // Unexposed: 404.
    assert_eq!(api.delete("/v1/services/lookup").await.0, 204);
    assert_eq!(
        api.post("/v1/services/lookup/invoke", &json!({"rows":[]}))
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_rolls_out_without_a_failed_call_and_a_pinned_one_stays() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    std::fs::write(platform.files.join("cities.csv"), "code,city\nB1,Berlin\n").unwrap();
    let api = &platform.api;
    assert_eq!(api.put("/v1/dataflows/lookup", &lookup("v1")).await.0, 201);
    assert_eq!(
        api.put("/v1/services/latest", &json!({"dataflow":"lookup"}))
            .await
            .0,
        201
    );
    assert_eq!(
        api.put(
            "/v1/services/pinned",
            &json!({"dataflow":"lookup","version":1})
        )
        .await
        .0,
        201
    );
    ready(&platform, "latest").await;
    ready(&platform, "pinned").await;

    let caller = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut labels = Vec::new();
            for _ in 0..200 {
                let (status, body) = api
                    .post(
                        "/v1/services/latest/invoke",
                        &json!({"rows":[{"code":"B1"}]}),
                    )
                    .await;
                assert_eq!(
                    status, 200,
                    "every call answers during the roll-out: {body}"
                );
                labels.push(body["rows"][0]["label"].as_str().unwrap_or("").to_string());
                if labels.last().map(String::as_str) == Some("v2") && labels.len() > 20 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            labels
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(api.put("/v1/dataflows/lookup", &lookup("v2")).await.0, 201);
    let labels = caller.await.unwrap();
    assert_eq!(labels.first().map(String::as_str), Some("v1"));
    assert_eq!(
        labels.last().map(String::as_str),
        Some("v2"),
        "the new version took over"
    );
    let (_, pinned) = api
        .post(
            "/v1/services/pinned/invoke",
            &json!({"rows":[{"code":"B1"}]}),
        )
        .await;
    assert_eq!(
        (
            pinned["rows"][0]["label"].clone(),
            pinned["version"].clone()
        ),
        (json!("v1"), json!(1))
    );
}
