//! What the benchmark programs share: watching job events on the bus, submitting,
//! and printing figures beside their baselines.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use crate::{Api, wait_until};

/// When each job's events were seen, by job id and kind.
pub type Seen = Arc<Mutex<HashMap<String, HashMap<String, Instant>>>>;

pub fn row(label: &str, prism: String, baseline: String, ratio: String) {
    println!("{label:<58}{prism:>16}{baseline:>22}{ratio:>10}");
}

pub async fn watch_events(nats: async_nats::Client) -> Seen {
    let seen: Seen = Arc::default();
    let mut events = nats.subscribe("prism.events.job.>").await.unwrap();
    let writer = seen.clone();
    tokio::spawn(async move {
        while let Some(message) = events.next().await {
            let parts: Vec<&str> = message.subject.split('.').collect();
            if let [_, _, _, job, kind] = parts[..] {
                let mut seen = writer.lock().unwrap();
                seen.entry(job.to_string())
                    .or_default()
                    .insert(kind.to_string(), Instant::now());
            }
        }
    });
    seen
}

pub fn seen_at(seen: &Seen, job: &str, kinds: &[&str]) -> Option<Instant> {
    let seen = seen.lock().unwrap();
    let events = seen.get(job)?;
    kinds.iter().find_map(|k| events.get(*k).copied())
}

pub const TERMINAL: &[&str] = &["succeeded", "failed", "cancelled"];

pub async fn submit(api: &Api, body: &Value) -> String {
    let (status, job) = api.post("/v1/jobs", body).await;
    assert_eq!(status, 202, "{job}");
    job["id"].as_str().unwrap().to_string()
}

/// Waits for `job`'s first event of `kinds`; when it came.
pub async fn event(seen: &Seen, job: &str, kinds: &[&str]) -> Instant {
    wait_until("job event", Duration::from_secs(600), || async {
        seen_at(seen, job, kinds)
    })
    .await
}

/// Jobs per second from the first submission to the last terminal event.
pub async fn jobs_per_second(
    api: &Api,
    seen: &Seen,
    body: &Value,
    jobs: usize,
    in_flight: usize,
) -> f64 {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let submitters = (0..in_flight).map(|_| {
        let (api, body, next) = (api.clone(), body.clone(), next.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < jobs {
                ids.push(submit(&api, &body).await);
            }
            ids
        })
    });
    let ids: Vec<String> = futures::future::join_all(submitters)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    let mut last = started;
    for id in &ids {
        last = last.max(event(seen, id, TERMINAL).await);
    }
    jobs as f64 / (last - started).as_secs_f64()
}
