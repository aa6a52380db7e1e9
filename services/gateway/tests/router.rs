//! The gateway's router in process, through `tower::ServiceExt::oneshot`, on a real
//! embedded store and a real nats-server: every refusal names its field and changes
//! nothing; every accepted change is announced and leaves no outbox entry behind.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use prism_bus::Bus;
use prism_gateway::{GatewayConfig, app_state, router};
use prism_store::records::outbox;
use prism_tests::NatsServer;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Case {
    method: &'static str,
    path: &'static str,
    body: &'static str,
    status: StatusCode,
    /// The field a refusal names.
    field: Option<&'static str>,
}

const fn case(
    method: &'static str,
    path: &'static str,
    body: &'static str,
    status: u16,
    field: Option<&'static str>,
) -> Case {
    let status = match StatusCode::from_u16(status) {
        Ok(status) => status,
        Err(_) => panic!("bad status"),
    };
    Case {
        method,
        path,
        body,
        status,
        field,
    }
}

const CASES: &[Case] = &[
    case(
        "PUT",
        "/v1/connections/files",
        r#"{"kind":"local","root":"/srv/files"}"#,
        201,
        None,
    ),
    case(
        "PUT",
        "/v1/connections/files",
        r#"{"kind":"local","root":"/srv/files"}"#,
        200,
        None,
    ),
    case(
        "PUT",
        "/v1/connections/bad%20name",
        r#"{"kind":"local","root":"/a"}"#,
        400,
        Some("name"),
    ),
    case("PUT", "/v1/connections/x", "not json", 400, Some("body")),
    case(
        "PUT",
        "/v1/connections/x",
        r#"{"kind":"local","root":"relative"}"#,
        400,
        Some("root"),
    ),
    case(
        "PUT",
        "/v1/connections/x",
        r#"{"kind":"local","root":"/a","extra":1}"#,
        400,
        Some("extra"),
    ),
    case("GET", "/v1/connections/nope", "", 404, Some("name")),
    case(
        "PUT",
        "/v1/dataflows/d",
        r#"{"kind":"job","stages":[]}"#,
        400,
        Some("stages"),
    ),
    case(
        "POST",
        "/v1/jobs",
        r#"{"dataflow":"nope"}"#,
        404,
        Some("dataflow"),
    ),
    case(
        "POST",
        "/v1/jobs",
        r#"{"dataflow":"nope","version":0}"#,
        400,
        Some("version"),
    ),
    case(
        "PUT",
        "/v1/schedules/s",
        r#"{"dataflow":"nope","cron":"* * * * *"}"#,
        400,
        Some("dataflow"),
    ),
    case(
        "PUT",
        "/v1/schedules/s",
        r#"{"dataflow":"nope","cron":"bad"}"#,
        400,
        Some("cron"),
    ),
    case("DELETE", "/v1/schedules/s", "", 404, Some("name")),
    case("GET", "/v1/jobs?bogus=1", "", 400, Some("bogus")),
    case("GET", "/v1/jobs?limit=0", "", 400, Some("limit")),
    case("GET", "/v1/audit?cursor=zz", "", 400, Some("cursor")),
    case(
        "POST",
        "/v1/jobs/0191a0a0-0000-7000-8000-000000000000/cancel",
        "{}",
        404,
        Some("id"),
    ),
    case("GET", "/v1/audit/dead-letters", "", 200, None),
    case("GET", "/v1/no/such/route", "", 404, None),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_as_documented_and_refusals_change_nothing() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("config.db").display());
    let store = prism_store::open(&store_url).await.unwrap();
    let bus = Bus::connect(&nats.url, "router-test").await.unwrap();
    let state = app_state(&GatewayConfig::default(), store.clone(), bus.clone())
        .await
        .unwrap();
    let app = router(state);

    for case in CASES {
        let request = Request::builder()
            .method(case.method)
            .uri(case.path)
            .header("content-type", "application/json")
            .body(Body::from(case.body))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let what = format!("{} {} -> {status} {body}", case.method, case.path);
        assert_eq!(status, case.status, "{what}");
        if !status.is_success() {
            assert_eq!(
                body["error"]["code"].as_str().map(|c| !c.is_empty()),
                Some(true),
                "{what}"
            );
            assert!(body["error"]["message"].is_string(), "{what}");
            assert_eq!(body["error"]["field"], json!(case.field), "{what}");
        }
    }

    // Only the two accepted saves changed anything: one connection, two events on
    // the bus, and no outbox entry left unpublished.
    let left = store
        .transact(|tx| async move { outbox::list(&tx, 100).await })
        .await
        .unwrap();
    assert!(left.is_empty(), "{} outbox entries left", left.len());
    let mut events = bus.jetstream.get_stream("EVENTS").await.unwrap();
    let published = events.info().await.unwrap().state.messages;
    assert_eq!(published, 2, "one config event per accepted save");
}
