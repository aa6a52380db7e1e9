//! Benchmark: what metrics, exported traces and logging cost. No-op jobs per second
//! through a standalone, in one run: metrics on and traces exported over OTLP to a
//! receiver in this process that counts what it gets (decoding is a collector's
//! work, usually on another machine), metrics alone, and everything off
//! (`PRISM_METRICS=off`, no endpoint), all with `info` logs as deployed; and
//! everything off with only errors logged, for what logging costs. They take turns, one at a time on the
//! machine, each keeping its best round, so that drift of the machine favours none.
//!
//!   cargo build --release -p prism -p prism-tests
//!   PRISM_BIN=target/release/prism target/release/bench-observability [jobs] [rounds]
use prism_tests::bench::{jobs_per_second, row, watch_events};
use prism_tests::otlp::OtlpReceiver;
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

/// (label, metrics, traces exported, log level). Spans follow the log level, so
/// traces are compared with everything off at the same level, `info`.
const CONFIGS: [(&str, &str, bool, &str); 4] = [
    ("metrics + traces, info logs", "on", true, "info"),
    ("metrics only, info logs", "on", false, "info"),
    ("all off, info logs", "off", false, "info"),
    ("all off, errors only", "off", false, "error"),
];
/// The configuration the others are divided by.
const BASELINE: usize = 2;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let receiver = OtlpReceiver::start_counting().await;
    let mut best = [0f64; CONFIGS.len()];
    for i in 0..rounds {
        // Rotate which goes first, so none always meets a warmer machine.
        for k in 0..CONFIGS.len() {
            let c = (i + k) % CONFIGS.len();
            let (_, metrics, traces, log) = CONFIGS[c];
            let mut env = vec![
                ("PRISM_METRICS", metrics.to_string()),
                ("PRISM_LOG", log.to_string()),
            ];
            if traces {
                env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()));
            }
            let rate = round(&env, jobs).await;
            println!("round {}: {:<38}{rate:>8.0} jobs/s", i + 1, CONFIGS[c].0);
            best[c] = best[c].max(rate);
        }
    }
    let exported_mb = receiver.bytes() as f64 / 1e6;
    let baseline = best[BASELINE];
    println!("Observability overhead, no-op jobs, 64 in flight, {jobs} jobs, best of {rounds}");
    row(
        "",
        "jobs/s".into(),
        CONFIGS[BASELINE].0.into(),
        "ratio".into(),
    );
    for (c, (label, ..)) in CONFIGS.iter().enumerate() {
        row(
            label,
            format!("{:.0}", best[c]),
            format!("{baseline:.0}"),
            format!("{:.3}", best[c] / baseline),
        );
    }
    println!("exported over OTLP: {exported_mb:.1} MB");
}
