//! Submitting many jobs as careful clients do, and counting what became of them.
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Api, wait_until};

/// A dataflow writing the adults of `people.csv` to `out/<n>.csv` after `delay_ms`.
pub fn numbered_dataflow(delay_ms: u64) -> Value {
    json!({"kind":"job","parameters":{"n":null},"stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"adults","type":"sql","inputs":["people"],"query":"SELECT name FROM people WHERE age >= 18 ORDER BY name"},
        {"id":"pause","type":"delay","milliseconds":delay_ms},
        {"id":"out","type":"write","input":"adults","connection":"files","path":"out/${n}.csv","format":"csv"}]})
}

/// Creates the `files` connection on `files` (with `people.csv`) and the `numbered`
/// dataflow, waiting `delay_ms` before its write.
pub async fn prepare_numbered(api: &Api, files: &Path, delay_ms: u64) {
    crate::write_people_csv(files);
    let (status, body) = api
        .put(
            "/v1/connections/files",
            &json!({"kind":"local","root": files}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
    let (status, body) = api
        .put("/v1/dataflows/numbered", &numbered_dataflow(delay_ms))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Submits job `n` of `numbered`, retrying with the same idempotency key until a
/// gateway answers 202.
pub async fn submit_until_accepted(api: &Api, n: usize) -> String {
    let body = json!({"dataflow":"numbered","parameters":{"n": n}});
    wait_until(
        &format!("job {n} accepted"),
        Duration::from_secs(300),
        || async {
            let (status, accepted) = api.submit_with_key(&body, &format!("job-{n}")).await;
            (status == 202).then(|| accepted["id"].as_str().unwrap().to_string())
        },
    )
    .await
}

/// Submits jobs `range` with `parallel` clients; returns ids by job number.
pub fn submit_all(
    api: &Api,
    range: Range<usize>,
    parallel: usize,
) -> tokio::task::JoinHandle<HashMap<usize, String>> {
    let api = api.clone();
    tokio::spawn(async move {
        let next = Arc::new(AtomicUsize::new(range.start));
        let mut clients = Vec::new();
        for _ in 0..parallel {
            let (api, next, end) = (api.clone(), next.clone(), range.end);
            clients.push(tokio::spawn(async move {
                let mut ids = HashMap::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= end {
                        return ids;
                    }
                    ids.insert(n, submit_until_accepted(&api, n).await);
                }
            }));
        }
        let mut ids = HashMap::new();
        for client in clients {
            ids.extend(client.await.unwrap());
        }
        ids
    })
}

/// Terminal audit entries: count per job id, and per executor that ran them.
pub async fn terminal_entries(api: &Api) -> (HashMap<String, usize>, HashMap<String, usize>) {
    let mut per_job: HashMap<String, usize> = HashMap::new();
    let mut per_actor: HashMap<String, usize> = HashMap::new();
    for entry in api.audit().await {
        let action = entry["action"].as_str().unwrap_or("");
        if matches!(action, "job.succeeded" | "job.failed" | "job.cancelled") {
            let id = entry["target"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches("job/");
            *per_job.entry(id.to_string()).or_default() += 1;
            let executor = entry["details"]["executor"].as_str().unwrap_or("");
            *per_actor.entry(format!("executor:{executor}")).or_default() += 1;
        }
    }
    (per_job, per_actor)
}

/// A random number below `n`.
pub fn random_below(n: usize) -> usize {
    uuid::Uuid::new_v4().as_u128() as usize % n
}

/// Publishes `run` straight onto the work queue, as only a compromised publisher
/// could (the client must be the bus admin), and answers its `failed` event.
pub async fn run_forged(
    client: &async_nats::Client,
    run: &prism_schemas::v1::JobRun,
    timeout: Duration,
) -> prism_schemas::v1::JobEvent {
    use futures::StreamExt;
    use prism_schemas::v1::{JobEvent, JobRun};
    use prost::{Message, Name};
    let id = run.job_id.as_str();
    let mut events = client
        .subscribe(format!("prism.events.job.{id}.>"))
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Prism-Message-Type", JobRun::full_name().as_str());
    headers.insert("Nats-Msg-Id", id);
    async_nats::jetstream::new(client.clone())
        .publish_with_headers(
            "prism.jobs.run.default",
            headers,
            run.encode_to_vec().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    tokio::time::timeout(timeout, async {
        while let Some(message) = events.next().await {
            if message.subject.ends_with(".failed") {
                return JobEvent::decode(message.payload).unwrap();
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("a failed event")
}
