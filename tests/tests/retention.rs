//! Retention: finished jobs older than the days set are purged cluster-wide (the one
//! configuration database), jobs still waiting are kept whatever their age, recent
//! ones stay, and the change is audited.
use std::time::Duration;

use prism_schemas::v1::{JobRecord, JobState};
use prism_store::records::jobs;
use prism_tests::{Standalone, adults_dataflow, wait_until};
use serde_json::json;
use uuid::{NoContext, Timestamp, Uuid};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A job record as if made `days` ago (its id sorts by that time, as real ones do).
fn old_job(days: i64, state: JobState, key: &str) -> JobRecord {
    let created = chrono::Utc::now().timestamp_millis() - days * DAY_MS;
    let ts = Timestamp::from_unix(NoContext, (created / 1000) as u64, 0);
    JobRecord {
        id: Uuid::new_v7(ts).to_string(),
        dataflow: "adults".into(),
        dataflow_version: 1,
        state: state as i32,
        created_at_ms: created,
        finished_at_ms: if state == JobState::Succeeded {
            created + 1000
        } else {
            0
        },
        idempotency_key: key.into(),
        submitted_by: "admin".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_purges_old_finished_jobs_and_keeps_the_rest() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    let adults = adults_dataflow("files", "out/adults.csv", 0);
    assert_eq!(api.put("/v1/dataflows/adults", &adults).await.0, 201);
    let (_, recent) = api.post("/v1/jobs", &json!({"dataflow":"adults"})).await;
    let recent = recent["id"].as_str().unwrap().to_string();
    api.wait_terminal(&recent, Duration::from_secs(60)).await;

    // History from before: written into the same store the platform runs on.
    let store = prism_store::open(&format!(
        "sqlite://{}",
        platform.dir.path().join("data/config.db").display()
    ))
    .await
    .unwrap();
    let finished = old_job(40, JobState::Succeeded, "old-key");
    let waiting = old_job(40, JobState::Queued, "");
    let younger = old_job(10, JobState::Succeeded, "");
    for job in [&finished, &waiting, &younger] {
        store
            .transact(|tx| async move {
                jobs::put(&tx, job).await?;
                if !job.idempotency_key.is_empty() {
                    jobs::remember_idempotency_key(&tx, &job.idempotency_key, &job.id).await?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    let (status, answer) = api
        .put("/v1/settings/retention", &json!({"days": 30}))
        .await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"days": 30, "purged": 1})),
        "{answer}"
    );
    let exists = |id: String| async move { api.get(&format!("/v1/jobs/{id}")).await.0 };
    assert_eq!(
        exists(finished.id.clone()).await,
        404,
        "the old finished job is gone"
    );
    assert_eq!(
        exists(waiting.id.clone()).await,
        200,
        "a waiting job is kept"
    );
    assert_eq!(
        exists(younger.id.clone()).await,
        200,
        "a younger job is kept"
    );
    assert_eq!(exists(recent.clone()).await, 200);
    // Gone from the indexes and the idempotency keys too.
    let (_, listed) = api.get("/v1/jobs?status=succeeded&dataflow=adults").await;
    let ids: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.contains(&finished.id.as_str()) && ids.contains(&younger.id.as_str()),
        "{listed}"
    );
    let key = store
        .transact(|tx| async move { jobs::idempotent_job_id(&tx, "old-key").await })
        .await
        .unwrap();
    assert_eq!(key, None);

    assert_eq!(
        api.get("/v1/settings/retention").await.1,
        json!({"days": 30})
    );
    let (_, again) = api
        .put("/v1/settings/retention", &json!({"days": 30}))
        .await;
    assert_eq!(again["purged"], 0, "a purge repeats nothing");
    wait_until("the change audited", Duration::from_secs(10), || async {
        api.audit()
            .await
            .iter()
            .any(|e| e["action"] == "settings.put" && e["target"] == "settings/retention")
            .then_some(())
    })
    .await;
    let (status, refused) = api.put("/v1/settings/retention", &json!({"days": 0})).await;
    assert_eq!((status, &refused["error"]["field"]), (400, &json!("days")));
}
