//! Log levels changed through the gateway while the platform runs: a separate
//! executor process applies them within seconds, globally and per dataflow, and the
//! change is audited.
use std::time::Duration;

use prism_tests::jobs::{numbered_dataflow, prepare_numbered};
use prism_tests::{NatsServer, Services, ServicesSpec, wait_until};
use serde_json::json;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

async fn run(services: &Services, dataflow: &str, n: usize) -> String {
    let body = json!({"dataflow": dataflow, "parameters": {"n": n}});
    let (status, job) = services.api.post("/v1/jobs", &body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let done = services.api.wait_terminal(&id, JOB_TIMEOUT).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    id
}

/// Whether the executor logged the start of job `id` (an `info` line in its span).
fn start_logged(services: &Services, id: &str) -> bool {
    services.executors[0]
        .log_text()
        .lines()
        .any(|l| l.contains(id) && l.contains("job started"))
}

#[tokio::test(flavor = "multi_thread")]
async fn log_levels_change_on_another_process_globally_and_per_dataflow() {
    let nats = NatsServer::start();
    let services = Services::start(&nats, ServicesSpec::default()).await;
    prepare_numbered(&services.api, &services.files, 0).await;
    let (status, _) = services
        .api
        .put("/v1/dataflows/others", &numbered_dataflow(0))
        .await;
    assert_eq!(status, 201);
    let before = run(&services, "numbered", 1).await;
    assert!(start_logged(&services, &before), "info is logged at first");

    let setting = json!({"level": "warn", "dataflows": {"numbered": "info"}});
    let (status, answer) = services.api.put("/v1/settings/logging", &setting).await;
    assert_eq!((status, &answer), (200, &setting), "{answer}");
    wait_until(
        "the executor applies it",
        Duration::from_secs(10),
        || async {
            services.executors[0]
                .log_text()
                .contains("log levels changed")
                .then_some(())
        },
    )
    .await;
    let quiet = run(&services, "others", 2).await;
    let loud = run(&services, "numbered", 3).await;
    assert!(
        !start_logged(&services, &quiet),
        "warn hides the info of other dataflows"
    );
    assert!(
        start_logged(&services, &loud),
        "the dataflow's own level shows its info"
    );

    assert_eq!(services.api.get("/v1/settings/logging").await.1, setting);
    wait_until("the change audited", Duration::from_secs(10), || async {
        let audit = services.api.audit().await;
        audit
            .iter()
            .any(|e| e["action"] == "settings.put" && e["target"] == "settings/logging")
            .then_some(())
    })
    .await;
    let (status, refused) = services
        .api
        .put("/v1/settings/logging", &json!({"level": "loud"}))
        .await;
    assert_eq!((status, &refused["error"]["field"]), (400, &json!("level")));
}
