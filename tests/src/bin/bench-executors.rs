//! Benchmark: job throughput with 1 and with 3 executors on I/O-bound jobs (each
//! waits 500 ms, as a job waiting on a remote system would), printed side by side
//! with their ratio. Real processes: a nats-server, the four services, N executors.
//!
//!   cargo build -p prism && cargo run -p prism-tests --bin bench-executors [jobs] [concurrency]
use std::time::{Duration, Instant};

use prism_tests::{NatsServer, Services, ServicesSpec, wait_until, write_people_csv};
use serde_json::json;

async fn run(executors: usize, jobs: usize, concurrency: usize) -> f64 {
    let nats = NatsServer::start();
    let services = Services::start(
        &nats,
        ServicesSpec {
            executors,
            concurrency,
            ..Default::default()
        },
    )
    .await;
    write_people_csv(&services.files);
    services
        .api
        .put(
            "/v1/connections/files",
            &json!({"kind":"local","root": services.files}),
        )
        .await;
    let dataflow = json!({"kind":"job","parameters":{"n":null},"stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"wait","type":"delay","milliseconds":500},
        {"id":"out","type":"write","input":"people","connection":"files","path":"out/${n}.csv","format":"csv"}]});
    let (status, body) = services.api.put("/v1/dataflows/io", &dataflow).await;
    assert_eq!(status, 201, "{body}");
    let started = Instant::now();
    let mut submissions = Vec::new();
    for n in 0..jobs {
        let api = services.api.clone();
        submissions.push(tokio::spawn(async move {
            let (status, _) = api
                .post("/v1/jobs", &json!({"dataflow":"io","parameters":{"n": n}}))
                .await;
            assert_eq!(status, 202);
        }));
    }
    for submission in submissions {
        submission.await.unwrap();
    }
    wait_until("all jobs to succeed", Duration::from_secs(600), || async {
        let (_, page) = services
            .api
            .get("/v1/jobs?status=succeeded&limit=1000")
            .await;
        (page["jobs"].as_array().map_or(0, Vec::len) == jobs).then_some(())
    })
    .await;
    jobs as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let jobs = args.first().copied().unwrap_or(120);
    let concurrency = args.get(1).copied().unwrap_or(2);
    println!("I/O-bound jobs (500 ms wait each): {jobs} jobs, {concurrency} per executor at once");
    let one = run(1, jobs, concurrency).await;
    let three = run(3, jobs, concurrency).await;
    println!("{:<12} {:>12}", "executors", "jobs/s");
    println!("{:<12} {:>12.2}", 1, one);
    println!("{:<12} {:>12.2}", 3, three);
    println!("ratio 3/1: {:.2} (goal: at least 2.7)", three / one);
}
