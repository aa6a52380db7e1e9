//! Exposing service dataflows: the record, its audited change, and the bucket entry
//! executors learn it from, written together; new versions roll out to services
//! that follow the latest, pinned ones stay.
mod common;

use prism_schemas::v1::ServiceSpec;
use prost::Message;
use serde_json::json;

fn lookup(extra_field: &str) -> String {
    json!({"kind":"service","stages":[
        {"id":"input","type":"input","fields":[{"name":"zip","type":"string","required":true},{"name":extra_field,"type":"integer"}]},
        {"id":"out","type":"output","input":"input"}]})
    .to_string()
}

async fn spec(gateway: &common::Gateway, name: &str) -> ServiceSpec {
    let bucket = gateway
        .state
        .topology
        .services_bucket(&gateway.bus.jetstream)
        .await
        .unwrap();
    let value = bucket.get(name).await.unwrap().expect("a bucket entry");
    ServiceSpec::decode(value).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn exposing_writes_the_record_and_the_bucket_entry_and_new_versions_roll_out() {
    let gateway = common::Gateway::start().await;
    let admin = gateway.admin().await;
    let send = |method: &'static str, path: String, body: String| {
        let (gateway, admin) = (&gateway, admin.clone());
        async move { gateway.send(method, &path, Some(&admin), &body).await }
    };
    let (status, body) = send("PUT", "/v1/dataflows/lookup".into(), lookup("a")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        "PUT",
        "/v1/services/latest".into(),
        json!({"dataflow":"lookup"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["version"].clone(), body["pinned"].clone()),
        (201, json!(1), json!(false)),
        "{body}"
    );
    let pin =
        json!({"dataflow":"lookup","version":1,"timeout_ms":250,"max_inflight":2}).to_string();
    let (status, body) = send("PUT", "/v1/services/pinned".into(), pin).await;
    assert_eq!(status, 201, "{body}");
    let latest = spec(&gateway, "latest").await;
    assert!(latest.exposed && latest.version == 1 && latest.dataflow == "lookup");
    assert!(latest.dataflow_document.contains("\"zip\""));
    assert_eq!(
        (
            spec(&gateway, "pinned").await.timeout_ms,
            spec(&gateway, "pinned").await.max_inflight
        ),
        (250, 2)
    );

    // A new version rolls out to the service that follows the latest, atomically.
    assert_eq!(
        send("PUT", "/v1/dataflows/lookup".into(), lookup("b"))
            .await
            .0,
        201
    );
    assert_eq!(spec(&gateway, "latest").await.version, 2);
    assert_eq!(
        spec(&gateway, "pinned").await.version,
        1,
        "a pinned service stays"
    );
    let (_, body) = send("GET", "/v1/services/latest".into(), String::new()).await;
    assert_eq!(body["version"], 2);
    let (_, listed) = send("GET", "/v1/services".into(), String::new()).await;
    assert_eq!(listed["services"].as_array().map(Vec::len), Some(2));

    // Refusals: a job dataflow, a missing version, a service run as a job or a schedule.
    let job = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"p.csv","format":"csv"},
        {"id":"out","type":"write","input":"people","connection":"files","path":"o.csv","format":"csv"}]});
    let root = gateway.dir.path().display().to_string();
    send(
        "PUT",
        "/v1/connections/files".into(),
        json!({"kind":"local","root":root}).to_string(),
    )
    .await;
    assert_eq!(
        send("PUT", "/v1/dataflows/batch".into(), job.to_string())
            .await
            .0,
        201
    );
    for (body, field) in [
        (json!({"dataflow":"batch"}), "dataflow"),
        (json!({"dataflow":"lookup","version":9}), "version"),
        (json!({"dataflow":"lookup","timeout_ms":0}), "timeout_ms"),
    ] {
        let (status, answer) = send("PUT", "/v1/services/bad".into(), body.to_string()).await;
        assert_eq!(
            (status, answer["error"]["field"].clone()),
            (400, json!(field)),
            "{answer}"
        );
    }
    let (status, answer) = send(
        "POST",
        "/v1/jobs".into(),
        json!({"dataflow":"lookup"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("dataflow")),
        "{answer}"
    );
    let schedule = json!({"dataflow":"lookup","cron":"0 3 * * *"}).to_string();
    assert_eq!(send("PUT", "/v1/schedules/s".into(), schedule).await.0, 400);

    // Unexposing: 204, the bucket says so, and the service is gone.
    assert_eq!(
        send("DELETE", "/v1/services/latest".into(), String::new())
            .await
            .0,
        204
    );
    assert!(!spec(&gateway, "latest").await.exposed);
    assert_eq!(
        send("GET", "/v1/services/latest".into(), String::new())
            .await
            .0,
        404
    );
    assert_eq!(
        send("DELETE", "/v1/services/latest".into(), String::new())
            .await
            .0,
        404
    );

    // Both changes reached the bus as audited configuration events.
    let events = gateway.bus.jetstream.get_stream("EVENTS").await.unwrap();
    let exposed = events
        .get_last_raw_message_by_subject("prism.events.config.service.unexpose")
        .await;
    assert!(exposed.is_ok(), "unexpose announced");
}
