//! Benchmark: the job pipeline and the engine, each figure beside its raw baseline
//! measured in the same run on the same nats-server (raw JetStream round trip, raw
//! request/reply, DataFusion alone on the same file and SQL), plus the peak memory
//! of the Prism process.
//!
//!   cargo build --release -p prism -p prism-tests
//!   PRISM_BIN=target/release/prism target/release/bench-jobs [jobs] [big file GB]
//!
//! With 0 jobs, only the file larger than memory is measured.
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{CsvReadOptions, SessionContext};
use futures::StreamExt;
use prism_tests::bench::{Seen, TERMINAL, event, jobs_per_second, row, submit, watch_events};
use prism_tests::cluster::{Cluster, ClusterSpec};
use prism_tests::tally::{self, Tally};
use prism_tests::{BusUser, Standalone};
use serde_json::{Value, json};

/// Raw JetStream: publish, pull and ack `count` messages, `in_flight` publishes at
/// a time, on a stream of `replicas`.
async fn raw_jetstream(
    nats: async_nats::Client,
    count: usize,
    in_flight: usize,
    replicas: usize,
) -> f64 {
    let js = jetstream::new(nats);
    let _ = js.delete_stream("BENCHRAW").await;
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: "BENCHRAW".into(),
            subjects: vec!["bench.raw".into()],
            retention: jetstream::stream::RetentionPolicy::WorkQueue,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("bench".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let started = Instant::now();
    let pulled = tokio::spawn(async move {
        let mut messages = consumer.messages().await.unwrap();
        for _ in 0..count {
            let message = messages.next().await.unwrap().unwrap();
            message.ack().await.unwrap();
        }
    });
    let mut pending = futures::stream::FuturesUnordered::new();
    for i in 0..count {
        if pending.len() >= in_flight {
            pending.next().await.unwrap();
        }
        let ack = js
            .publish("bench.raw", format!("{i}").into())
            .await
            .unwrap();
        pending.push(async move { ack.await.unwrap() });
    }
    while pending.next().await.is_some() {}
    pulled.await.unwrap();
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    let _ = js.delete_stream("BENCHRAW").await;
    per_second
}

fn median_and_p99(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |p: f64| {
        let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// Raw core NATS request/reply to an echo responder: median and p99 ms.
async fn raw_request_reply(nats: async_nats::Client, count: usize) -> (f64, f64) {
    let mut echoes = nats.subscribe("bench.echo").await.unwrap();
    let responder = nats.clone();
    tokio::spawn(async move {
        while let Some(message) = echoes.next().await {
            if let Some(reply) = message.reply {
                let _ = responder.publish(reply, message.payload).await;
            }
        }
    });
    let mut samples = Vec::new();
    for _ in 0..count {
        let sent = Instant::now();
        nats.request("bench.echo", "x".into()).await.unwrap();
        samples.push(sent.elapsed());
    }
    median_and_p99(samples)
}

/// `rows` rows of `id,name,age,city,score`, about 32 bytes each; 80 % have age >= 20.
fn write_rows(path: &Path, rows: u64) {
    let file = std::fs::File::create(path).unwrap();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "id,name,age,city,score").unwrap();
    for i in 0..rows {
        let age = (i * 7919) % 100;
        let city = (i * 104_729) % 40;
        writeln!(
            out,
            "{i},person{},{age},city{city},{}.5",
            i % 9973,
            i % 1000
        )
        .unwrap();
    }
    out.flush().unwrap();
}

const FILTER: &str = "SELECT * FROM people WHERE age >= 20";
const GROUP: &str = "SELECT city, count(*) AS n, avg(score) AS score FROM people \
    WHERE age >= 20 GROUP BY city ORDER BY city";

/// DataFusion alone: the same file, the same SQL, written to one CSV file; ms.
async fn datafusion_alone(input: &Path, query: &str, output: &Path) -> f64 {
    let started = Instant::now();
    let ctx = SessionContext::new();
    ctx.register_csv("people", input.to_str().unwrap(), CsvReadOptions::new())
        .await
        .unwrap();
    ctx.sql(query)
        .await
        .unwrap()
        .write_csv(
            output.to_str().unwrap(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .unwrap();
    started.elapsed().as_secs_f64() * 1000.0
}

fn file_job(input: &str, query: &str, output: &str) -> Value {
    json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":input,"format":"csv"},
        {"id":"pick","type":"sql","inputs":["people"],"query":query},
        {"id":"out","type":"write","input":"pick","connection":"files","path":output,"format":"csv"}]})
}

/// What the design needs per no-op job, at least, by kind of operation; why is in
/// docs/performance.md ("What a job costs").
const MINIMUM: &[(&str, f64)] = &[
    (tally::PUBLISHED, 4.0),
    (tally::LOGGED, 0.0),
    (tally::ACKED, 4.0),
    (tally::PROGRESS, 0.0),
    (tally::DELIVERED, 4.0),
    (tally::KV_WRITE, 2.0),
    (tally::KV_READ, 0.0),
];

/// Bus operations and store commits per no-op job, counted by the servers over
/// 500 jobs, beside the design's minimum.
async fn print_costs(platform: &Standalone, seen: &Seen, body: &Value) {
    const JOBS: usize = 500;
    let tally = Tally::start(platform.nats_as(BusUser::Admin).await).await;
    let before = tally
        .settled(&platform.api, Duration::from_millis(1500))
        .await;
    jobs_per_second(&platform.api, seen, body, JOBS, 16).await;
    let after = tally
        .settled(&platform.api, Duration::from_millis(1500))
        .await;
    let cost = after.since(&before);
    let per_job = |n: u64| format!("{:.2}", n as f64 / JOBS as f64);
    println!("per no-op job, {JOBS} jobs 16 in flight (counted by nats-server and the store)");
    row("", "prism".into(), "design minimum".into(), "".into());
    for kind in tally::KINDS {
        let minimum = MINIMUM.iter().find(|(k, _)| k == kind);
        let minimum = minimum.map(|(_, m)| format!("{m:.0}")).unwrap_or_default();
        row(
            &format!("  {kind}"),
            per_job(cost.bus[kind]),
            minimum,
            "".into(),
        );
    }
    row(
        "  all bus operations",
        per_job(cost.bus_total()),
        "".into(),
        "".into(),
    );
    for (stream, n) in cost.stored.iter().filter(|(_, n)| **n > 0) {
        row(
            &format!("  messages stored in {stream}"),
            per_job(*n),
            "".into(),
            "".into(),
        );
    }
    row(
        "  store commits",
        per_job(cost.commits),
        "< 1 (grouped)".into(),
        "".into(),
    );
    if std::env::var_os("PRISM_BENCH_SUBJECTS").is_some() {
        for (subject, n) in cost.subjects.iter().filter(|(_, n)| **n > 0) {
            row(&format!("    {subject}"), per_job(*n), "".into(), "".into());
        }
    }
}

/// A job of `dataflow` from submission to its terminal event; ms, and its record.
async fn timed_job(platform: &Standalone, seen: &Seen, dataflow: &str) -> (f64, Value) {
    let started = Instant::now();
    let id = submit(&platform.api, &json!({ "dataflow": dataflow })).await;
    let ended = event(seen, &id, TERMINAL).await;
    // The record follows the event once the audit service has applied it.
    let job = platform
        .api
        .wait_terminal(&id, Duration::from_secs(60))
        .await;
    ((ended - started).as_secs_f64() * 1000.0, job)
}

async fn save(platform: &Standalone, name: &str, dataflow: &Value) {
    let (status, body) = platform
        .api
        .put(&format!("/v1/dataflows/{name}"), dataflow)
        .await;
    assert!(status == 201 || status == 200, "{body}");
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Five rounds, each a Prism job then DataFusion alone on the same file and SQL, so
/// the machine's noise falls on both sides alike: the median of each side's ms and
/// the median of the rounds' ratios (DataFusion / Prism).
async fn interleaved(
    platform: &Standalone,
    seen: &Seen,
    dataflow: &str,
    input: &Path,
    query: &str,
    output: &Path,
) -> (f64, f64, f64) {
    let (mut prism, mut alone, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let (ms, job) = timed_job(platform, seen, dataflow).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let baseline = datafusion_alone(input, query, output).await;
        prism.push(ms);
        alone.push(baseline);
        ratios.push(baseline / ms);
    }
    (median(prism), median(alone), median(ratios))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let big_gb: f64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2.0);
    if jobs == 0 {
        // Only the file larger than memory.
        return big_file(big_gb).await;
    }
    // Logs at the default level, as deployed (the test harness's own is debug).
    let mut env = vec![
        ("PRISM_EXECUTOR_CONCURRENCY", "32".into()),
        ("PRISM_LOG", "info".into()),
    ];
    env.extend(extra_env());
    let platform = Standalone::start_with(&env).await;
    platform.files_connection().await;
    let nats = platform.nats_as(BusUser::Admin).await;
    let seen = watch_events(nats.clone()).await;
    println!("Prism jobs vs raw baselines, one run, same nats-server; {jobs} jobs");
    row("", "prism".into(), "raw baseline".into(), "ratio".into());

    let noop = json!({"kind":"job","stages":[{"id":"wait","type":"delay","milliseconds":0}]});
    save(&platform, "noop", &noop).await;
    let body = json!({"dataflow":"noop"});
    jobs_per_second(&platform.api, &seen, &body, 100, 16).await;
    let prism = jobs_per_second(&platform.api, &seen, &body, jobs, 64).await;
    let raw = raw_jetstream(nats.clone(), jobs * 5, 64, 1).await;
    print_costs(&platform, &seen, &body).await;
    row(
        "no-op jobs/s end to end, 64 in flight (raw: JS pub+pull+ack)",
        format!("{prism:.0}"),
        format!("{raw:.0}"),
        format!("{:.3}", prism / raw),
    );

    let (mut to_started, mut to_accepted) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let sent = Instant::now();
        let id = submit(&platform.api, &body).await;
        to_accepted.push(sent.elapsed());
        to_started.push(event(&seen, &id, &["started"]).await - sent);
    }
    let (started_p50, started_p99) = median_and_p99(to_started);
    let (accepted_p50, _) = median_and_p99(to_accepted);
    let (raw_p50, _) = raw_request_reply(nats.clone(), 1000).await;
    row(
        "submit -> started, one at a time, median ms (p99)",
        format!("{started_p50:.2} ({started_p99:.1})"),
        format!("{raw_p50:.3}"),
        format!("{:.1}x", started_p50 / raw_p50),
    );
    row(
        "  of which the HTTP submission (202), median ms",
        format!("{accepted_p50:.2}"),
        "".into(),
        "".into(),
    );

    let small = file_job(
        "people.csv",
        "SELECT name, age FROM people WHERE age >= 18",
        "out/small.csv",
    );
    save(&platform, "small", &small).await;
    let mut fixed = Vec::new();
    for _ in 0..100 {
        let (ms, job) = timed_job(&platform, &seen, "small").await;
        assert_eq!(job["status"], "succeeded", "{job}");
        fixed.push(Duration::from_secs_f64(ms / 1000.0));
    }
    let (fixed_p50, fixed_p99) = median_and_p99(fixed);
    row(
        "fixed cost of a 4-row read/sql/write job, median ms (p99)",
        format!("{fixed_p50:.1} ({fixed_p99:.1})"),
        "".into(),
        "".into(),
    );

    let input = platform.files.join("rows.csv");
    write_rows(&input, 4_000_000);
    let size_mb = std::fs::metadata(&input).unwrap().len() >> 20;
    let scratch = tempfile::tempdir().unwrap();
    for (name, query, label) in [
        ("filter", FILTER, "filter + write 3.2M of 4M rows"),
        ("group", GROUP, "filter + group by (40 groups)"),
    ] {
        let dataflow = file_job("rows.csv", query, &format!("out/{name}.csv"));
        save(&platform, name, &dataflow).await;
        let output = scratch.path().join(format!("{name}.csv"));
        let (prism, alone, ratio) =
            interleaved(&platform, &seen, name, &input, query, &output).await;
        row(
            &format!("{label}, {size_mb} MB CSV, median of 5 interleaved, ms"),
            format!("{prism:.0}"),
            format!("{alone:.0}"),
            format!("{ratio:.2}"),
        );
    }
    row(
        "peak RSS of the prism process so far, MB",
        format!("{}", platform.prism.peak_kib() >> 10),
        "".into(),
        "".into(),
    );
    drop(platform);

    big_file(big_gb).await;
    cluster_jobs(jobs).await;
}

/// A file larger than the job's memory, in a fresh process so its peak is this job's.
async fn big_file(big_gb: f64) {
    let mut env = vec![("PRISM_LOG", "info".into())];
    env.extend(extra_env());
    let platform = Standalone::start_with(&env).await;
    platform.files_connection().await;
    let seen = watch_events(platform.nats_as(BusUser::Admin).await).await;
    let rows = (big_gb * 1e9 / 32.0) as u64;
    let big = platform.files.join("big.csv");
    write_rows(&big, rows);
    let big_mb = std::fs::metadata(&big).unwrap().len() >> 20;
    save(
        &platform,
        "big",
        &file_job("big.csv", FILTER, "out/big.csv"),
    )
    .await;
    let (ms, job) = timed_job(&platform, &seen, "big").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    row(
        &format!("filter + write of a {big_mb} MB CSV: peak RSS MB (s)"),
        format!("{} ({:.0})", platform.prism.peak_kib() >> 10, ms / 1000.0),
        "".into(),
        "".into(),
    );
    println!(
        "rows read {} written {}",
        job["rows_read"], job["rows_written"]
    );
}

/// `PRISM_BENCH_ENV=NAME=value,...`: settings for the standalone platforms, to try
/// one (e.g. `PRISM_JOB_MEMORY_MB=128`, or a store on tmpfs) against the defaults.
fn extra_env() -> Vec<(&'static str, String)> {
    let Ok(list) = std::env::var("PRISM_BENCH_ENV") else {
        return Vec::new();
    };
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| {
            let name: &'static str = Box::leak(name.to_string().into_boxed_str());
            (name, value.to_string())
        })
        .collect()
}

/// No-op jobs through the cluster of the kill tests, on this one machine: a
/// three-node NATS cluster (streams of three replicas), two gateways behind nginx,
/// two schedulers, the audit service and three executors, each its own process.
async fn cluster_jobs(jobs: usize) {
    let cluster = Cluster::start(ClusterSpec {
        concurrency: 16,
        ack_wait_secs: 30,
        env: vec![("PRISM_LOG", "info".into())],
        ..Default::default()
    })
    .await;
    let admin = prism_tests::connect_as(
        &cluster.nats.urls(),
        &cluster.nats.credentials,
        BusUser::Admin,
    )
    .await;
    let seen = watch_events(admin.clone()).await;
    let noop = json!({"kind":"job","stages":[{"id":"wait","type":"delay","milliseconds":0}]});
    let (status, body) = cluster.api.put("/v1/dataflows/noop", &noop).await;
    assert_eq!(status, 201, "{body}");
    let body = json!({"dataflow":"noop"});
    jobs_per_second(&cluster.api, &seen, &body, 100, 16).await;
    let prism = jobs_per_second(&cluster.api, &seen, &body, jobs, 64).await;
    let raw = raw_jetstream(admin, jobs * 5, 64, 3).await;
    row(
        "cluster: no-op jobs/s, 64 in flight (raw: R3 JS pub+pull+ack)",
        format!("{prism:.0}"),
        format!("{raw:.0}"),
        format!("{:.3}", prism / raw),
    );
}
