//! Benchmark: what metrics and logging cost. No-op jobs per second through a
//! standalone with metrics on and `info` logs (as deployed), beside the same
//! standalone with metrics off (`PRISM_METRICS=off`) and only errors logged, in one
//! run. The two alternate, one at a time on the machine, and each keeps its best
//! round, so that drift of the machine does not favour either.
//!
//!   cargo build --release -p prism -p prism-tests
//!   PRISM_BIN=target/release/prism target/release/bench-observability [jobs] [rounds]
use prism_tests::bench::{jobs_per_second, row, watch_events};
use prism_tests::{BusUser, Standalone};
use serde_json::json;

/// One round: a fresh standalone with `env`, warmed up, then `jobs` no-op jobs.
async fn round(env: &[(&'static str, String)], jobs: usize) -> f64 {
    let mut settings = vec![("PRISM_EXECUTOR_CONCURRENCY", "32".to_string())];
    settings.extend_from_slice(env);
    let platform = Standalone::start_with(&settings).await;
    let nats = platform.nats_as(BusUser::Admin).await;
    let seen = watch_events(nats).await;
    let noop = json!({"kind":"job","stages":[{"id":"wait","type":"delay","milliseconds":0}]});
    let (status, _) = platform.api.put("/v1/dataflows/noop", &noop).await;
    assert_eq!(status, 201);
    let body = json!({"dataflow":"noop"});
    jobs_per_second(&platform.api, &seen, &body, 100, 16).await;
    jobs_per_second(&platform.api, &seen, &body, jobs, 64).await
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let on = [
        ("PRISM_METRICS", "on".to_string()),
        ("PRISM_LOG", "info".to_string()),
    ];
    let off = [
        ("PRISM_METRICS", "off".to_string()),
        ("PRISM_LOG", "error".to_string()),
    ];
    let (mut best_on, mut best_off) = (0f64, 0f64);
    for i in 0..rounds {
        // Alternate which goes first, so neither always meets a warmer machine.
        let (first, second) = if i % 2 == 0 { (&on, &off) } else { (&off, &on) };
        let a = round(first, jobs).await;
        let b = round(second, jobs).await;
        let (with, without) = if i % 2 == 0 { (a, b) } else { (b, a) };
        println!(
            "round {}: {with:.0} jobs/s with, {without:.0} without",
            i + 1
        );
        best_on = best_on.max(with);
        best_off = best_off.max(without);
    }
    println!("Observability overhead, no-op jobs, 64 in flight, {jobs} jobs, best of {rounds}");
    row("", "with".into(), "without".into(), "ratio".into());
    row(
        "no-op jobs/s (metrics on + info logs vs off + errors only)",
        format!("{best_on:.0}"),
        format!("{best_off:.0}"),
        format!("{:.3}", best_on / best_off),
    );
}
