//! The gateway's router in process, through `tower::ServiceExt::oneshot`, on a real
//! embedded store and a real nats-server: every refusal names its field and changes
//! nothing; every accepted change is announced and leaves no outbox entry behind.
mod common;

use axum::http::StatusCode;
use prism_store::records::outbox;
use serde_json::json;

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
    // Connections only within the operator's file roots.
    case(
        "PUT",
        "/v1/connections/x",
        r#"{"kind":"local","root":"/"}"#,
        400,
        Some("root"),
    ),
    case(
        "PUT",
        "/v1/connections/x",
        r#"{"kind":"local","root":"/etc"}"#,
        400,
        Some("root"),
    ),
    case(
        "PUT",
        "/v1/connections/x",
        r#"{"kind":"local","root":"/srv/../etc"}"#,
        400,
        Some("root"),
    ),
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
    case(
        "PUT",
        "/v1/users/bob",
        r#"{"roles":["designer"]}"#,
        400,
        Some("password"),
    ),
    case(
        "PUT",
        "/v1/users/bob",
        r#"{"password":"short","roles":["designer"]}"#,
        400,
        Some("password"),
    ),
    case(
        "PUT",
        "/v1/users/bob",
        r#"{"password":"long enough pw","roles":["root"]}"#,
        400,
        Some("roles"),
    ),
    case(
        "PUT",
        "/v1/roles/admin",
        r#"{"grants":[]}"#,
        409,
        Some("name"),
    ),
    case(
        "PUT",
        "/v1/roles/r",
        r#"{"grants":[{"entity":"planets","actions":["view"]}]}"#,
        400,
        Some("grants[0]"),
    ),
    case(
        "PUT",
        "/v1/roles/r",
        r#"{"grants":[{"entity":"dataflows","actions":["fly"]}]}"#,
        400,
        Some("grants[0]"),
    ),
    case(
        "PUT",
        "/v1/acl/planets/x",
        r#"{"entries":[]}"#,
        400,
        Some("entity"),
    ),
    case(
        "PUT",
        "/v1/acl/dataflows/x",
        r#"{"entries":[{"principal":"bob","allow":["view"]}]}"#,
        400,
        Some("entries[0].principal"),
    ),
    case(
        "POST",
        "/v1/authz/check",
        r#"{"action":"fly","entity":"dataflows"}"#,
        400,
        Some("action"),
    ),
    case(
        "POST",
        "/v1/tokens",
        r#"{"label":"x","expires_at":"2001-01-01T00:00:00Z"}"#,
        400,
        Some("expires_at"),
    ),
    case("DELETE", "/v1/tokens/nope", "", 404, Some("id")),
    case("DELETE", "/v1/users/admin", "", 409, Some("name")),
    // A name too long for any entity is refused before any lookup.
    case(
        "GET",
        "/v1/connections/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "",
        400,
        Some("name"),
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_as_documented_and_refusals_change_nothing() {
    let gateway = common::Gateway::start().await;
    let admin = gateway.admin().await;
    let store = gateway.store.clone();

    for case in CASES {
        let (status, body) = gateway
            .send(case.method, case.path, Some(&admin), case.body)
            .await;
        let status = StatusCode::from_u16(status).unwrap();
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

    // Only the admin's login and the two accepted saves changed anything: three
    // events on the bus, and no outbox entry left: each published, then cleared
    // (off the request's path, so within moments, far below the relay's 5 s grace).
    prism_tests::wait_until(
        "outbox cleared",
        std::time::Duration::from_secs(2),
        || async {
            let left = store
                .transact(|tx| async move { outbox::list(&tx, 100).await })
                .await
                .unwrap();
            left.is_empty().then_some(())
        },
    )
    .await;
    let mut events = gateway.bus.jetstream.get_stream("EVENTS").await.unwrap();
    let published = events.info().await.unwrap().state.messages;
    assert_eq!(
        published, 3,
        "one event for the login, one per accepted save"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edges_refuse_other_types_large_bodies_and_floods_of_submissions() {
    let gateway = common::Gateway::start().await;
    let admin = gateway.admin().await;
    let path = "/v1/connections/x";
    let body = br#"{"kind":"local","root":"/srv/x"}"#.to_vec();
    let (status, _, answer) = gateway
        .send_typed("PUT", path, &admin, "text/plain", body.clone())
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (415, json!("Content-Type")),
        "{answer}"
    );
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        gateway
            .send_typed("PUT", path, &admin, form, body.clone())
            .await
            .0,
        415
    );
    let huge = vec![b' '; 2 << 20];
    let (status, _, answer) = gateway
        .send_typed("PUT", path, &admin, "application/json", huge)
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (413, json!("body")),
        "{answer}"
    );
    let typed = "application/json; charset=utf-8";
    assert_eq!(
        gateway.send_typed("PUT", path, &admin, typed, body).await.0,
        201
    );

    // Every place taken: a submission is turned away with Retry-After, not queued.
    let taken = gateway
        .state
        .submissions
        .forget_permits(prism_gateway::MAX_CONCURRENT_SUBMISSIONS);
    assert_eq!(taken, prism_gateway::MAX_CONCURRENT_SUBMISSIONS);
    let submit = br#"{"dataflow":"nope"}"#.to_vec();
    let (status, headers, answer) = gateway
        .send_typed(
            "POST",
            "/v1/jobs",
            &admin,
            "application/json",
            submit.clone(),
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(headers["retry-after"], "1");
    gateway.state.submissions.add_permits(taken);
    let (status, _, _) = gateway
        .send_typed("POST", "/v1/jobs", &admin, "application/json", submit)
        .await;
    assert_eq!(
        status, 404,
        "with room again, the submission is read (and refused: no such dataflow)"
    );
}
