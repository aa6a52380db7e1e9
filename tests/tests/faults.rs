//! The job pipeline under injected faults, one run per seed CI uses: the store
//! reports conflicts, too-old reads and unknown commit results (half of them after
//! the commit happened), and a fifth of bus publish acknowledgements are lost
//! after JetStream stored the message. Nothing may happen twice: no dataflow
//! version, no accepted job, no event on the bus, no audit entry.
use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use prism_tests::jobs::{numbered_dataflow, prepare_numbered, submit_all, terminal_entries};
use prism_tests::{BusUser, Standalone, visible_files, wait_until};

const JOBS: usize = 30;
/// Saves of a changed dataflow document, each one a new version.
const SAVES: usize = 20;

async fn pipeline_holds_under_faults(seed: u64) {
    let store_faults = format!("seed={seed},conflict=0.05,too_old=0.02,unknown=0.15,latency_ms=2");
    let bus_faults = format!("seed={seed},ack_loss=0.2");
    let platform = Standalone::start_with(&[
        ("PRISM_STORE_FAULTS", store_faults.clone()),
        ("PRISM_BUS_FAULTS", bus_faults.clone()),
    ])
    .await;
    let seed_says = format!("seed {seed} ({store_faults}; {bus_faults})");
    let log = platform.prism.log_text();
    assert!(
        log.contains("faults are injected into the store") && log.contains("lost on purpose"),
        "{seed_says}: the process says what it injects"
    );
    let api = &platform.api;

    // Every save of a changed document is one version, answered 201; a commit
    // applied twice would make a version more, or answer the retry 200 unchanged.
    // Enough saves that, at these rates, some commits of each seed's run are
    // reported unknown after they happened.
    prepare_numbered(api, &platform.files, 0).await;
    for delay in (1..SAVES).rev() {
        let (status, body) = api
            .put(
                "/v1/dataflows/numbered",
                &numbered_dataflow(delay as u64 % 2),
            )
            .await;
        assert_eq!(status, 201, "{seed_says}: {body}");
    }
    let last = format!("/v1/dataflows/numbered/versions/{SAVES}");
    let (status, body) = api.get(&last).await;
    assert_eq!(status, 200, "{seed_says}: {body}");
    let (status, _) = api
        .get(&format!("/v1/dataflows/numbered/versions/{}", SAVES + 1))
        .await;
    assert_eq!(status, 404, "{seed_says}: {SAVES} saves, {SAVES} versions");

    // Every job accepted once, run once, its events on the bus once.
    let ids = submit_all(api, 0..JOBS, 4).await.unwrap();
    for id in ids.values() {
        let job = api.wait_terminal(id, Duration::from_secs(120)).await;
        assert_eq!(job["status"], "succeeded", "{seed_says}: {job}");
        assert_eq!(job["attempt"], 1, "{seed_says}: {job}");
    }
    let (_, page) = api.get("/v1/jobs?limit=100").await;
    let listed = page["jobs"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, JOBS, "{seed_says}: jobs accepted once each");
    let mut expected: Vec<String> = (0..JOBS).map(|n| format!("{n}.csv")).collect();
    expected.sort();
    assert_eq!(
        visible_files(&platform.files.join("out")),
        expected,
        "{seed_says}"
    );

    let per_subject = events_per_subject(&platform).await;
    for id in ids.values() {
        for kind in ["queued", "started", "succeeded"] {
            let subject = format!("prism.events.job.{id}.{kind}");
            assert_eq!(
                per_subject.get(&subject),
                Some(&1),
                "{seed_says}: {subject} on the bus once"
            );
        }
    }
    let terminals = wait_until("every end audited", Duration::from_secs(60), || async {
        let (per_job, _) = terminal_entries(api).await;
        ids.values()
            .all(|id| per_job.contains_key(id))
            .then_some(per_job)
    })
    .await;
    assert!(
        terminals.values().all(|n| *n == 1),
        "{seed_says}: one terminal audit entry per job: {terminals:?}"
    );
    let entries = api.audit().await;
    let saves = entries
        .iter()
        .filter(|e| e["target"] == "dataflow/numbered" && e["action"] == "dataflow.put")
        .count();
    assert_eq!(saves, SAVES, "{seed_says}: one audit entry per version");
    let mut seen = HashMap::new();
    // Each job event and each configuration change happens once.
    let once = |action: &str| action.starts_with("job.") || action.starts_with("dataflow.");
    for entry in entries
        .iter()
        .filter(|e| once(e["action"].as_str().unwrap_or("")))
    {
        let key = format!(
            "{} {} {}",
            entry["action"], entry["target"], entry["details"]
        );
        *seen.entry(key).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{seed_says}: audit entries written twice: {twice:?}"
    );
}

/// Messages on the EVENTS stream per job-event subject, read by the bus admin.
async fn events_per_subject(platform: &Standalone) -> HashMap<String, usize> {
    let client = platform.nats_as(BusUser::Admin).await;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("EVENTS").await.unwrap();
    let mut subjects = stream
        .info_with_subjects("prism.events.job.>")
        .await
        .unwrap();
    let mut counts = HashMap::new();
    while let Some(entry) = subjects.next().await {
        let (subject, count) = entry.unwrap();
        counts.insert(subject, count);
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_11() {
    pipeline_holds_under_faults(11).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_23() {
    pipeline_holds_under_faults(23).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_42() {
    pipeline_holds_under_faults(42).await;
}

#[test]
fn a_fault_spec_without_a_seed_is_refused() {
    let refused = prism_store::faults::Faults::parse("unknown=0.1").unwrap_err();
    assert!(refused.to_string().contains("seed"), "{refused}");
    let refused = prism_bus::AckLoss::parse("seed=1,ack_loss=0.9").unwrap_err();
    assert!(refused.contains("0.5"), "{refused}");
}
