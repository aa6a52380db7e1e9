//! The platform's Prometheus metrics. One registry per process: in `standalone` and
//! `node` every service counts into the same one, and each process serves it at
//! `GET /metrics` in the text exposition format.
//!
//! Names follow Prometheus' conventions: the `prism_` prefix, `_total` counters,
//! `_seconds` histograms, base units, and no unbounded labels (no job ids, no
//! dataflow names: a label's values are a short fixed list).
#![forbid(unsafe_code)]
use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Job durations and queue waits: from 10 ms to about 3 hours.
const JOB_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 10800.0,
];
/// Service calls: from half a millisecond to the longest timeout.
const CALL_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

pub struct Metrics {
    registry: Registry,
    /// Jobs accepted by a gateway or a schedule (not replays of an idempotency key).
    jobs_submitted: IntCounter,
    /// Jobs ended, by `status`: succeeded, failed, cancelled.
    jobs_finished: IntCounterVec,
    /// From an attempt's start to the job's end.
    job_duration: Histogram,
    /// From acceptance to the start of each attempt.
    queue_wait: Histogram,
    jobs_running: IntGauge,
    /// Deliveries of a job after its first (an executor lost, a retry).
    redeliveries: IntCounter,
    /// By `source`: `job` (failed after its last attempt), `event` (the audit
    /// service could never record it).
    dead_letters: IntCounterVec,
    rows_read: IntCounter,
    rows_written: IntCounter,
    /// Schedule occurrences by `outcome`: fired, misfired.
    schedule_occurrences: IntCounterVec,
    /// Service calls answered by this gateway, by `class` of status: 2xx, 4xx, 5xx.
    service_requests: IntCounterVec,
    service_latency: Histogram,
    /// Age of the newest event the audit service recorded, when it recorded it.
    audit_lag: Gauge,
    /// Jobs waiting in the queue, not yet delivered to an executor (read from
    /// JetStream when scraped).
    queue_depth: IntGauge,
    /// Configuration-database transactions committed with writes: each is a disk
    /// sync on the embedded store and a commit on FoundationDB, the costs that
    /// bound submissions and the audit projection.
    store_commits: IntCounter,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique");
    metric
}

fn counters(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique");
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let metric = Histogram::with_opts(opts).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique");
    metric
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let audit_lag = Gauge::new(
            "prism_audit_lag_seconds",
            "Age of the newest event the audit service recorded, when it recorded it",
        )
        .expect("valid metric");
        r.register(Box::new(audit_lag.clone())).expect("unique");
        let build_info = IntGaugeVec::new(
            Opts::new("prism_build_info", "Always 1; the version of this process"),
            &["version"],
        )
        .expect("valid metric");
        r.register(Box::new(build_info.clone())).expect("unique");
        // Set once: the registry keeps it.
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Metrics {
            jobs_submitted: counter(&r, "prism_jobs_submitted_total", "Jobs accepted"),
            jobs_finished: counters(&r, "prism_jobs_finished_total", "Jobs ended", "status"),
            job_duration: histogram(
                &r,
                "prism_job_duration_seconds",
                "From an attempt's start to the job's end",
                JOB_BUCKETS,
            ),
            queue_wait: histogram(
                &r,
                "prism_job_queue_wait_seconds",
                "From acceptance to the start of each attempt",
                JOB_BUCKETS,
            ),
            jobs_running: gauge(&r, "prism_jobs_running", "Jobs this process runs now"),
            redeliveries: counter(
                &r,
                "prism_job_redeliveries_total",
                "Deliveries of a job after its first",
            ),
            dead_letters: counters(
                &r,
                "prism_dead_letters_total",
                "Jobs failed after their last attempt (job), events never recorded (event)",
                "source",
            ),
            rows_read: counter(&r, "prism_rows_read_total", "Rows jobs read"),
            rows_written: counter(&r, "prism_rows_written_total", "Rows jobs wrote"),
            schedule_occurrences: counters(
                &r,
                "prism_schedule_occurrences_total",
                "Schedule occurrences, fired or misfired",
                "outcome",
            ),
            service_requests: counters(
                &r,
                "prism_service_requests_total",
                "Service calls answered, by status class",
                "class",
            ),
            service_latency: histogram(
                &r,
                "prism_service_request_duration_seconds",
                "Service calls, from request to answer",
                CALL_BUCKETS,
            ),
            audit_lag,
            queue_depth: gauge(
                &r,
                "prism_queue_depth",
                "Jobs waiting in the queue, not yet delivered",
            ),
            store_commits: counter(
                &r,
                "prism_store_commits_total",
                "Configuration-database transactions committed with writes",
            ),
            registry: r,
        }
    }

    /// Every metric, in the text exposition format.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("text encoding");
        String::from_utf8(text).expect("utf-8")
    }

    pub fn store_committed(&self) {
        self.store_commits.inc();
    }

    pub fn job_submitted(&self) {
        if enabled() {
            self.jobs_submitted.inc();
        }
    }

    /// A job's attempt started after waiting `waited` since acceptance.
    pub fn job_started(&self, waited: Duration) {
        if enabled() {
            self.queue_wait.observe(waited.as_secs_f64());
        }
    }

    pub fn job_redelivered(&self) {
        if enabled() {
            self.redeliveries.inc();
        }
    }

    /// `source`: `job` or `event`.
    pub fn dead_lettered(&self, source: &str) {
        if enabled() {
            self.dead_letters.with_label_values(&[source]).inc();
        }
    }

    /// `outcome`: `fired` or `misfired`.
    pub fn schedule_occurrence(&self, outcome: &str) {
        if enabled() {
            self.schedule_occurrences
                .with_label_values(&[outcome])
                .inc();
        }
    }

    pub fn audit_lag(&self, lag: Duration) {
        if enabled() {
            self.audit_lag.set(lag.as_secs_f64());
        }
    }

    pub fn queue_depth(&self, depth: i64) {
        if enabled() {
            self.queue_depth.set(depth);
        }
    }

    /// Counts one job that ended, with its attempt's duration and rows.
    pub fn job_finished(&self, status: &str, duration: Duration, rows: (u64, u64)) {
        if !enabled() {
            return;
        }
        self.jobs_finished.with_label_values(&[status]).inc();
        self.job_duration.observe(duration.as_secs_f64());
        self.rows_read.inc_by(rows.0);
        self.rows_written.inc_by(rows.1);
    }

    /// Counts one service call by its HTTP status.
    pub fn service_call(&self, status: u16, elapsed: Duration) {
        if !enabled() {
            return;
        }
        let class = match status {
            200..=299 => "2xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.service_requests.with_label_values(&[class]).inc();
        self.service_latency.observe(elapsed.as_secs_f64());
    }
}

/// Off with `PRISM_METRICS=off`: nothing is counted (the scrape answers the
/// metrics as they stand), which is how the overhead benchmark measures their cost.
static ENABLED: LazyLock<bool> =
    LazyLock::new(|| std::env::var("PRISM_METRICS").map_or(true, |v| v != "off"));

fn enabled() -> bool {
    *ENABLED
}

/// This process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Counts a job as running until the guard is dropped, on every path out.
pub struct Running(());

impl Running {
    pub fn start() -> Running {
        if enabled() {
            get().jobs_running.inc();
        }
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if enabled() {
            get().jobs_running.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric_with_its_type() {
        let metrics = Metrics::new();
        metrics.job_finished("succeeded", Duration::from_millis(1500), (4, 2));
        metrics.service_call(503, Duration::from_millis(3));
        let text = metrics.render();
        for line in [
            "# TYPE prism_jobs_finished_total counter",
            "prism_jobs_finished_total{status=\"succeeded\"} 1",
            "# TYPE prism_job_duration_seconds histogram",
            "prism_job_duration_seconds_bucket{le=\"2.5\"} 1",
            "prism_rows_read_total 4",
            "prism_service_requests_total{class=\"5xx\"} 1",
            "prism_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn running_counts_until_dropped() {
        let before = get().jobs_running.get();
        let running = Running::start();
        assert_eq!(get().jobs_running.get(), before + 1);
        drop(running);
        assert_eq!(get().jobs_running.get(), before);
    }
}
