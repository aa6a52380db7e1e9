//! Benchmark: connections that reach real data, each beside its raw baseline on
//! the same servers in the same run, rounds interleaved (Prism, raw, Prism, raw,
//! ...) so the machine's noise falls on both; the median of each side and their
//! ratio (raw time / Prism time: 1.0 is the floor's speed). Prism's time is the
//! job's own (started to finished), so queueing is not counted against it.
//!
//! - PostgreSQL read: a table of `rows` rows into a CSV file, vs the raw
//!   `COPY (SELECT ...) TO STDOUT (FORMAT csv)` into a file.
//! - PostgreSQL write: the same CSV file into a table, vs raw `COPY FROM STDIN`.
//! - S3 write and read of a CSV object of `mb` MiB, vs raw `object_store` upload
//!   and download of the same bytes.
//! - The executor's peak memory while a CSV object of `big_mb` MiB is loaded into
//!   a PostgreSQL table (standalone: the whole process's VmHWM); `rounds` 0
//!   measures it alone, from a fresh process.
//!
//! ```text
//! cargo build --release -p prism -p prism-tests
//! PRISM_BIN=$CARGO_TARGET_DIR/release/prism \
//!   $CARGO_TARGET_DIR/release/bench-connections [rows] [mb] [big_mb] [rounds]
//! ```
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use prism_tests::Standalone;
use prism_tests::bench::row;
use prism_tests::data_servers::{PostgresServer, S3Server, connection_setup};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn millis(t: Duration) -> String {
    format!("{:.0} ms", t.as_secs_f64() * 1000.0)
}

/// Runs dataflow `name` once; the job's own time, started to finished.
async fn job(platform: &Standalone, name: &str) -> Duration {
    let (status, accepted) = platform
        .api
        .post("/v1/jobs", &json!({"dataflow": name}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let job = platform
        .api
        .wait_terminal(accepted["id"].as_str().unwrap(), Duration::from_secs(3600))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let time =
        |field: &str| chrono::DateTime::parse_from_rfc3339(job[field].as_str().unwrap()).unwrap();
    (time("finished_at") - time("started_at")).to_std().unwrap()
}

async fn save(platform: &Standalone, name: &str, stages: Value) {
    let (status, body) = platform
        .api
        .put(
            &format!("/v1/dataflows/{name}"),
            &json!({"kind":"job","stages": stages}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
}

async fn raw_copy_out(pg: &PostgresServer, file: &Path) -> Duration {
    let started = Instant::now();
    let client = pg.client().await.unwrap();
    let copy = client
        .copy_out("COPY (SELECT * FROM bench_read) TO STDOUT (FORMAT csv, HEADER)")
        .await
        .unwrap();
    let mut copy = std::pin::pin!(copy);
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(file).await.unwrap());
    while let Some(chunk) = copy.next().await {
        out.write_all(&chunk.unwrap()).await.unwrap();
    }
    out.flush().await.unwrap();
    started.elapsed()
}

async fn raw_copy_in(pg: &PostgresServer, file: &Path) -> Duration {
    use futures::SinkExt;
    let started = Instant::now();
    let client = pg.client().await.unwrap();
    client
        .batch_execute("DROP TABLE IF EXISTS raw_write; CREATE TABLE raw_write (LIKE bench_read)")
        .await
        .unwrap();
    let sink = client
        .copy_in::<_, bytes::Bytes>("COPY raw_write FROM STDIN (FORMAT csv, HEADER)")
        .await
        .unwrap();
    let mut sink = std::pin::pin!(sink);
    let mut reader = tokio::fs::File::open(file).await.unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = tokio::io::AsyncReadExt::read(&mut reader, &mut buffer)
            .await
            .unwrap();
        if read == 0 {
            break;
        }
        sink.send(bytes::Bytes::copy_from_slice(&buffer[..read]))
            .await
            .unwrap();
    }
    sink.as_mut().finish().await.unwrap();
    started.elapsed()
}

async fn raw_upload(store: &object_store::aws::AmazonS3, file: &Path, key: &str) -> Duration {
    let started = Instant::now();
    let store: std::sync::Arc<dyn ObjectStore> = std::sync::Arc::new(store.clone());
    let mut writer = object_store::buffered::BufWriter::new(store, key.into());
    let mut reader = tokio::fs::File::open(file).await.unwrap();
    tokio::io::copy(&mut reader, &mut writer).await.unwrap();
    writer.shutdown().await.unwrap();
    started.elapsed()
}

async fn raw_download(store: &object_store::aws::AmazonS3, key: &str, file: &Path) -> Duration {
    let started = Instant::now();
    let mut stream = store.get(&key.into()).await.unwrap().into_stream();
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(file).await.unwrap());
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk.unwrap()).await.unwrap();
    }
    out.flush().await.unwrap();
    started.elapsed()
}

/// A CSV file of about `mb` MiB of rows shaped like `bench_read`.
fn write_csv(path: &Path, mb: usize) -> usize {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,name,amount,day").unwrap();
    let (mut bytes, mut rows) = (0usize, 0usize);
    while bytes < mb << 20 {
        let line = format!(
            "{rows},name {},{}.25,2024-0{}-1{}\n",
            rows % 9973,
            rows % 1000,
            rows % 9 + 1,
            rows % 9
        );
        bytes += line.len();
        out.write_all(line.as_bytes()).unwrap();
        rows += 1;
    }
    rows
}

struct Pair {
    label: String,
    prism: Vec<Duration>,
    raw: Vec<Duration>,
}

impl Pair {
    fn print(&self) {
        let (prism, raw) = (median(self.prism.clone()), median(self.raw.clone()));
        let ratio = raw.as_secs_f64() / prism.as_secs_f64();
        row(
            &self.label,
            millis(prism),
            millis(raw),
            format!("{ratio:.2}"),
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let (rows, mb, big_mb, rounds) = (arg(1, 10_000_000), arg(2, 1024), arg(3, 2048), arg(4, 3));
    let (pg, s3) = (PostgresServer::start().await, S3Server::start().await);
    s3.create_bucket("bench").await;
    let platform = Standalone::start_with(&[
        ("PRISM_CONNECTION_HOSTS", "127.0.0.1".into()),
        ("PRISM_JOB_TIMEOUT_SECS", "3600".into()),
    ])
    .await;
    let api = &platform.api;
    let mut setup = connection_setup(&pg, &s3, "bench");
    setup.push((
        "/v1/connections/files",
        json!({"kind":"local","root": platform.files}),
    ));
    for (path, body) in setup {
        let (status, answer) = api.put(path, &body).await;
        assert!(status == 201 || status == 200, "{path}: {answer}");
    }
    let client = pg.client().await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE bench_read (id bigint, name text, amount double precision, day date);
             INSERT INTO bench_read SELECT i, 'name ' || (i % 9973), (i % 1000) + 0.25,
               DATE '2024-01-01' + (i % 300) FROM generate_series(0, {rows} - 1) i;"
        ))
        .await
        .unwrap();
    // Alone: VACUUM cannot run in the transaction a batch of statements makes.
    client
        .batch_execute("VACUUM ANALYZE bench_read")
        .await
        .unwrap();
    save(&platform, "pg-read", json!([
        {"id":"t","type":"read","connection":"warehouse","table":"bench_read"},
        {"id":"out","type":"write","input":"t","connection":"files","path":"pg-read.csv","format":"csv"}])).await;
    save(&platform, "pg-write", json!([
        {"id":"t","type":"read","connection":"files","path":"raw-read.csv","format":"csv"},
        {"id":"out","type":"write","input":"t","connection":"warehouse","table":"prism_write","mode":"replace"}])).await;
    let object = platform.files.join("object.csv");
    write_csv(&object, mb);
    save(&platform, "s3-write", json!([
        {"id":"t","type":"read","connection":"files","path":"object.csv","format":"csv"},
        {"id":"out","type":"write","input":"t","connection":"lake","path":"prism.csv","format":"csv"}])).await;
    save(&platform, "s3-read", json!([
        {"id":"t","type":"read","connection":"lake","path":"raw.csv","format":"csv"},
        {"id":"out","type":"write","input":"t","connection":"files","path":"s3-read.csv","format":"csv"}])).await;
    let store = s3.store("bench");

    let raw_file = platform.files.join("raw-read.csv");
    let mut pairs = vec![
        Pair {
            label: format!("PostgreSQL read, {rows} rows to CSV (vs COPY TO STDOUT)"),
            prism: vec![],
            raw: vec![],
        },
        Pair {
            label: format!("PostgreSQL write, {rows} rows from CSV (vs COPY FROM STDIN)"),
            prism: vec![],
            raw: vec![],
        },
        Pair {
            label: format!("S3 write, {mb} MiB CSV (vs object_store upload)"),
            prism: vec![],
            raw: vec![],
        },
        Pair {
            label: format!("S3 read, {mb} MiB CSV (vs object_store download)"),
            prism: vec![],
            raw: vec![],
        },
    ];
    for _ in 0..rounds {
        pairs[0].prism.push(job(&platform, "pg-read").await);
        pairs[0].raw.push(raw_copy_out(&pg, &raw_file).await);
        pairs[1].prism.push(job(&platform, "pg-write").await);
        pairs[1].raw.push(raw_copy_in(&pg, &raw_file).await);
        pairs[2].prism.push(job(&platform, "s3-write").await);
        pairs[2]
            .raw
            .push(raw_upload(&store, &object, "raw.csv").await);
        pairs[3].prism.push(job(&platform, "s3-read").await);
        pairs[3]
            .raw
            .push(raw_download(&store, "raw.csv", &platform.files.join("raw-get.csv")).await);
    }
    // Rounds 0: the memory figure alone, from a fresh process (VmHWM is the
    // process's high-water mark: after the timed rounds it would be theirs).
    if rounds > 0 {
        println!(
            "connections vs their raw floors, median of {rounds} interleaved rounds (ratio: raw time / Prism time)"
        );
        row("", "Prism".into(), "raw".into(), "ratio".into());
        for pair in &pairs {
            pair.print();
        }
    }

    // Peak memory: a CSV object of big_mb MiB into a table.
    let big = platform.files.join("big.csv");
    let big_rows = write_csv(&big, big_mb);
    raw_upload(&store, &big, "big.csv").await;
    std::fs::remove_file(&big).ok();
    save(&platform, "big-load", json!([
        {"id":"t","type":"read","connection":"lake","path":"big.csv","format":"csv"},
        {"id":"out","type":"write","input":"t","connection":"warehouse","table":"big","mode":"replace"}])).await;
    let before = platform.prism.peak_kib();
    let took = job(&platform, "big-load").await;
    let after = platform.prism.peak_kib();
    let loaded: i64 = client
        .query_one("SELECT count(*) FROM big", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(loaded as usize, big_rows);
    println!(
        "{big_mb} MiB CSV object ({big_rows} rows) into PostgreSQL in {}: peak RSS of the whole standalone {} MiB (before the job {} MiB)",
        millis(took),
        after / 1024,
        before / 1024
    );
}
