//! Who did it, over the real platform: every audit entry names the user who caused
//! it, or `schedule:<name>` with the schedule's owner; jobs record who submitted
//! them; a schedule runs with its owner's permissions, checked when it fires.
use std::time::Duration;

use prism_tests::{Api, Standalone, adults_dataflow, wait_until, write_people_csv};
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// User `name` with `roles`, signed in.
async fn user(admin: &Api, name: &str, roles: &[&str]) -> Api {
    let password = format!("{name}-password-long");
    let (status, body) = admin
        .put(
            &format!("/v1/users/{name}"),
            &json!({"password": password, "roles": roles}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
    admin.as_user(name, &password).await
}

async fn entries(api: &Api, action: &str, target: &str) -> Vec<Value> {
    api.audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == action && e["target"] == target)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_audit_entry_names_the_user_or_the_schedule_that_caused_it() {
    let platform = Standalone::start().await;
    let admin = &platform.api;
    let bob = user(admin, "bob", &["designer"]).await;
    write_people_csv(&platform.files);
    let (status, _) = bob
        .put(
            "/v1/connections/files",
            &json!({"kind":"local","root": platform.files}),
        )
        .await;
    assert_eq!(status, 201);
    let dataflow = adults_dataflow("files", "out/adults.csv", 0);
    assert_eq!(bob.put("/v1/dataflows/adults", &dataflow).await.0, 201);
    let (status, job) = bob.post("/v1/jobs", &json!({"dataflow":"adults"})).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let job = bob.wait_terminal(&id, JOB_TIMEOUT).await;
    assert_eq!(
        (job["status"].clone(), job["submitted_by"].clone()),
        (json!("succeeded"), json!("bob"))
    );

    let schedule = json!({"dataflow":"adults","cron":"* * * * * *"});
    assert_eq!(
        bob.put("/v1/schedules/every-second", &schedule).await.0,
        201
    );
    let scheduled = wait_until("a scheduled job succeeded", JOB_TIMEOUT, || async {
        let (_, page) = admin.get("/v1/jobs?status=succeeded").await;
        let jobs = page["jobs"].as_array().cloned().unwrap_or_default();
        jobs.into_iter().find(|j| j["schedule"] == "every-second")
    })
    .await;
    assert_eq!(admin.delete("/v1/schedules/every-second").await.0, 204);
    assert_eq!(
        scheduled["submitted_by"], "bob",
        "a scheduled job runs as the owner"
    );
    let scheduled_id = scheduled["id"].as_str().unwrap().to_string();

    wait_until("every entry audited", Duration::from_secs(20), || async {
        let target = format!("job/{scheduled_id}");
        (!entries(admin, "job.succeeded", &target).await.is_empty()).then_some(())
    })
    .await;
    let actor_of = |action: &'static str, target: String| async move {
        let found = entries(admin, action, &target).await;
        assert_eq!(found.len(), 1, "{action} {target}: {found:?}");
        found[0].clone()
    };
    assert_eq!(
        actor_of("connection.put", "connection/files".into()).await["actor"],
        "bob"
    );
    assert_eq!(
        actor_of("dataflow.put", "dataflow/adults".into()).await["actor"],
        "bob"
    );
    for action in ["job.queued", "job.started", "job.succeeded"] {
        let entry = actor_of(action, format!("job/{id}")).await;
        assert_eq!(entry["actor"], "bob", "{action}");
        let scheduled_entry = actor_of(action, format!("job/{scheduled_id}")).await;
        assert_eq!(
            scheduled_entry["actor"], "schedule:every-second",
            "{action}"
        );
    }
    let ran = actor_of("job.succeeded", format!("job/{id}")).await;
    assert!(
        ran["details"]["executor"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{ran}"
    );
    let fired: Vec<Value> = entries(admin, "schedule.fired", "schedule/every-second").await;
    assert!(!fired.is_empty());
    assert!(
        fired
            .iter()
            .all(|e| e["actor"] == "schedule:every-second" && e["details"]["owner"] == "bob")
    );
    let login = admin
        .audit()
        .await
        .into_iter()
        .find(|e| e["action"] == "token.login" && e["actor"] == "bob");
    assert!(login.is_some(), "sign-ins are audited too");
    assert_eq!(
        actor_of("user.put", "user/bob".into()).await["actor"],
        "admin"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_whose_owner_lost_permission_is_refused_not_run() {
    let platform = Standalone::start().await;
    let admin = &platform.api;
    let bob = user(admin, "bob", &["designer"]).await;
    write_people_csv(&platform.files);
    let connection = json!({"kind":"local","root": platform.files});
    assert_eq!(admin.put("/v1/connections/files", &connection).await.0, 201);
    let dataflow = adults_dataflow("files", "out/adults.csv", 0);
    assert_eq!(admin.put("/v1/dataflows/adults", &dataflow).await.0, 201);
    let schedule = json!({"dataflow":"adults","cron":"* * * * * *","enabled":false});
    assert_eq!(bob.put("/v1/schedules/nightly", &schedule).await.0, 201);

    // Bob becomes a viewer; the admin turns the schedule on, and it stays bob's.
    user(admin, "bob", &["viewer"]).await;
    let (status, body) = admin.post("/v1/schedules/nightly/enable", &json!({})).await;
    assert_eq!(
        (status, body["owner"].clone()),
        (200, json!("bob")),
        "{body}"
    );

    let refused = wait_until("a refusal recorded", Duration::from_secs(30), || async {
        let found = entries(admin, "schedule.refused", "schedule/nightly").await;
        (found.len() >= 2).then_some(found)
    })
    .await;
    assert_eq!(
        admin
            .post("/v1/schedules/nightly/disable", &json!({}))
            .await
            .0,
        200
    );
    let detail = refused[0]["details"]["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with("bob may not execute on dataflows/adults"),
        "{detail}"
    );
    assert_eq!(refused[0]["details"]["owner"], "bob");
    let (_, page) = admin.get("/v1/jobs").await;
    let jobs = page["jobs"].as_array().cloned().unwrap_or_default();
    assert!(jobs.is_empty(), "nothing ran: {jobs:?}");
}
