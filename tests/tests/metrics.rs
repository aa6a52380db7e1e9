//! Metrics as operators read them: a real Prometheus server scrapes a standalone
//! (with an API token) while jobs run, and the counts come back through
//! Prometheus' own query API; `promtool` checks the exposition and the alert rules.
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prism_tests::{Standalone, adults_dataflow, failing_dataflow, free_port, wait_until};
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A Prometheus server, killed on drop.
struct Prometheus {
    child: Child,
    base: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `target`'s `/metrics` every second with `token`.
    fn start(dir: &Path, target: &str, token: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        let text = format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: prism\n    metrics_path: /metrics\n    authorization: {{credentials: {token}}}\n    static_configs: [{{targets: ['{target}']}}]\n"
        );
        std::fs::write(&config, text).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package `prometheus`; ./dev.sh test installs it)");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Instant query: each series' labels and value.
    async fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let url = format!("{}/api/v1/query?query={encoded}", self.base);
        let Ok(response) = reqwest::Client::new().get(url).send().await else {
            return Vec::new();
        };
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        answer["data"]["result"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .map(|s| {
                        let value = s["value"][1].as_str().unwrap_or("nan").parse().unwrap();
                        (s["metric"].clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `promtool check <what> [file]`, with `stdin` when there is no file.
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_job_counts_while_jobs_run() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    platform
        .save_dataflows(&[
            ("adults", adults_dataflow("files", "out/adults.csv", 0)),
            ("broken", failing_dataflow("files")),
        ])
        .await;

    // Prometheus signs in with an API token, as an operator would set it up; the
    // metrics are refused without one.
    let (status, token) = api
        .post("/v1/tokens", &json!({"label": "prometheus"}))
        .await;
    assert_eq!(status, 201, "{token}");
    let anonymous = prism_tests::Api::new(api.base.clone());
    assert_eq!(anonymous.get("/metrics").await.0, 401);
    let target = api.base.trim_start_matches("http://");
    let prometheus = Prometheus::start(
        platform.dir.path(),
        target,
        token["token"].as_str().unwrap(),
    );

    for (dataflow, expected) in [
        ("adults", "succeeded"),
        ("adults", "succeeded"),
        ("adults", "succeeded"),
        ("broken", "failed"),
    ] {
        let (status, job) = api.post("/v1/jobs", &json!({"dataflow": dataflow})).await;
        assert_eq!(status, 202, "{job}");
        let done = api
            .wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
            .await;
        assert_eq!(done["status"], expected, "{done}");
    }

    // The counts, read back through Prometheus.
    let finished = wait_until("Prometheus to scrape the counts", JOB_TIMEOUT, || async {
        let series = prometheus.query("prism_jobs_finished_total").await;
        let count = |status: &str| {
            series
                .iter()
                .find(|(labels, _)| labels["status"] == status)
                .map(|(_, value)| *value)
        };
        (count("succeeded") == Some(3.0) && count("failed") == Some(1.0)).then_some(series)
    })
    .await;
    assert!(
        finished.iter().all(|(labels, _)| labels["job"] == "prism"),
        "{finished:?}"
    );
    let submitted = prometheus.query("prism_jobs_submitted_total").await;
    assert_eq!(submitted.first().map(|s| s.1), Some(4.0), "{submitted:?}");
    let durations = prometheus.query("prism_job_duration_seconds_count").await;
    assert_eq!(durations.first().map(|s| s.1), Some(4.0), "{durations:?}");

    // The exposition and the shipped alert rules pass Prometheus' own checks.
    let (status, text) = platform.api.get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("prism_queue_depth 0"), "{text}");
    let (ok, problems) = promtool(&["check", "metrics"], &text);
    assert!(
        ok && problems.trim().is_empty(),
        "promtool check metrics:\n{problems}"
    );
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose/observability/alerts.yml");
    let (ok, report) = promtool(&["check", "rules", rules.to_str().unwrap()], "");
    assert!(ok, "promtool check rules:\n{report}");
}

/// An executor running alone serves its own counts on PRISM_METRICS_ADDR, to the
/// holder of PRISM_METRICS_TOKEN only; its health to anyone.
#[tokio::test(flavor = "multi_thread")]
async fn a_separate_executor_serves_its_metrics_with_a_token() {
    let nats = prism_tests::NatsServer::start();
    let mut services =
        prism_tests::Services::start(&nats, prism_tests::ServicesSpec::default()).await;
    let port = free_port();
    let token = "metrics-token-for-the-test";
    let executor = &mut services.executors[0];
    executor
        .env
        .insert("PRISM_METRICS_ADDR".into(), format!("127.0.0.1:{port}"));
    executor
        .env
        .insert("PRISM_METRICS_TOKEN".into(), token.into());
    executor.restart();
    prism_tests::jobs::prepare_numbered(&services.api, &services.files, 0).await;
    let (_, job) = services
        .api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"numbered","parameters":{"n":1}}),
        )
        .await;
    let done = services
        .api
        .wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");

    let listener = prism_tests::Api::new(format!("http://127.0.0.1:{port}"));
    assert_eq!(listener.get("/healthz").await.0, 200);
    assert_eq!(listener.get_text("/metrics").await.0, 401);
    let wrong = listener.with_token(Some("metrics-token-for-the-tesT"));
    assert_eq!(wrong.get_text("/metrics").await.0, 401);
    let (status, text) = listener.with_token(Some(token)).get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("prism_jobs_finished_total{status=\"succeeded\"} 1"),
        "{text}"
    );
}
