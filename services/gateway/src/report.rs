//! Job reports: jobs grouped by dataflow, day or node, with their counts by status,
//! success rate, duration percentiles and rows. Pure, so the arithmetic is tested
//! without a store; `routes::reports` reads the jobs and answers.
use std::collections::BTreeMap;

use chrono::DateTime;
use prism_schemas::v1::{JobRecord, JobState};

use crate::bodies::ReportGroup;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Dataflow,
    Day,
    Node,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<GroupBy> {
        match text {
            "dataflow" => Some(GroupBy::Dataflow),
            "day" => Some(GroupBy::Day),
            "node" => Some(GroupBy::Node),
            _ => None,
        }
    }

    fn key(self, job: &JobRecord) -> String {
        match self {
            GroupBy::Dataflow => job.dataflow.clone(),
            GroupBy::Day => DateTime::from_timestamp_millis(job.created_at_ms)
                .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d").to_string()),
            // A job no executor has started yet has no node.
            GroupBy::Node if job.executor.is_empty() => "-".into(),
            GroupBy::Node => job.executor.clone(),
        }
    }
}

#[derive(Default)]
struct Tally {
    counts: BTreeMap<&'static str, u64>,
    durations_ms: Vec<u64>,
    rows_read: u64,
    rows_written: u64,
}

/// Adds jobs one at a time; `groups` answers the report's rows, in key order.
pub struct Report {
    by: GroupBy,
    tallies: BTreeMap<String, Tally>,
}

impl Report {
    pub fn new(by: GroupBy) -> Report {
        Report {
            by,
            tallies: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, job: &JobRecord) {
        let tally = self.tallies.entry(self.by.key(job)).or_default();
        *tally.counts.entry(job.state().api_name()).or_default() += 1;
        if job.state().is_terminal() && job.started_at_ms > 0 {
            let ran = job.finished_at_ms.saturating_sub(job.started_at_ms).max(0);
            tally.durations_ms.push(ran as u64);
        }
        tally.rows_read += job.rows_read;
        tally.rows_written += job.rows_written;
    }

    pub fn groups(self) -> Vec<ReportGroup> {
        self.tallies
            .into_iter()
            .map(|(key, mut tally)| {
                tally.durations_ms.sort_unstable();
                let count = |state: JobState| *tally.counts.get(state.api_name()).unwrap_or(&0);
                let (succeeded, failed, cancelled) = (
                    count(JobState::Succeeded),
                    count(JobState::Failed),
                    count(JobState::Cancelled),
                );
                let finished = succeeded + failed + cancelled;
                ReportGroup {
                    key,
                    jobs: tally.counts.values().sum(),
                    queued: count(JobState::Queued),
                    running: count(JobState::Running),
                    succeeded,
                    failed,
                    cancelled,
                    success_rate: (finished > 0).then(|| succeeded as f64 / finished as f64),
                    p50_ms: percentile(&tally.durations_ms, 50),
                    p95_ms: percentile(&tally.durations_ms, 95),
                    rows_read: tally.rows_read,
                    rows_written: tally.rows_written,
                }
            })
            .collect()
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

const CSV_COLUMNS: &str = "key,jobs,queued,running,succeeded,failed,cancelled,success_rate,p50_ms,p95_ms,rows_read,rows_written";

/// The groups as CSV for spreadsheets: one header line, one line per group.
pub fn csv(groups: &[ReportGroup]) -> String {
    let optional = |v: Option<String>| v.unwrap_or_default();
    let mut out = format!("{CSV_COLUMNS}\n");
    for g in groups {
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&g.key),
            g.jobs,
            g.queued,
            g.running,
            g.succeeded,
            g.failed,
            g.cancelled,
            optional(g.success_rate.map(|r| format!("{r:.4}"))),
            optional(g.p50_ms.map(|v| v.to_string())),
            optional(g.p95_ms.map(|v| v.to_string())),
            g.rows_read,
            g.rows_written,
        );
    }
    out
}

/// Quoted when it holds a separator, a quote or a line break; a leading formula
/// character is escaped so a spreadsheet shows it rather than evaluating it.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) && text != "-" {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(dataflow: &str, state: JobState, ran_ms: i64, executor: &str) -> JobRecord {
        JobRecord {
            dataflow: dataflow.into(),
            state: state as i32,
            created_at_ms: 1_795_000_000_000,
            started_at_ms: if state == JobState::Queued { 0 } else { 1_000 },
            finished_at_ms: if state.is_terminal() {
                1_000 + ran_ms
            } else {
                0
            },
            rows_read: 10,
            rows_written: 4,
            executor: executor.into(),
            ..Default::default()
        }
    }

    #[test]
    fn groups_count_rates_and_percentiles() {
        let mut report = Report::new(GroupBy::Dataflow);
        for ran in [100, 200, 300, 400] {
            report.add(&job("a", JobState::Succeeded, ran, "n1"));
        }
        report.add(&job("a", JobState::Failed, 1000, "n2"));
        report.add(&job("a", JobState::Queued, 0, ""));
        report.add(&job("b", JobState::Running, 0, "n1"));
        let groups = report.groups();
        assert_eq!(groups.len(), 2);
        let a = &groups[0];
        assert_eq!(
            (a.key.as_str(), a.jobs, a.succeeded, a.failed, a.queued),
            ("a", 6, 4, 1, 1)
        );
        assert_eq!(a.success_rate, Some(0.8));
        assert_eq!((a.p50_ms, a.p95_ms), (Some(300), Some(1000)));
        assert_eq!((a.rows_read, a.rows_written), (60, 24));
        let b = &groups[1];
        assert_eq!((b.running, b.success_rate, b.p50_ms), (1, None, None));
    }

    #[test]
    fn nodes_and_days_are_keys() {
        let mut by_node = Report::new(GroupBy::Node);
        by_node.add(&job("a", JobState::Succeeded, 5, "n1"));
        by_node.add(&job("a", JobState::Queued, 0, ""));
        let keys: Vec<String> = by_node.groups().into_iter().map(|g| g.key).collect();
        assert_eq!(keys, ["-", "n1"]);
        let mut by_day = Report::new(GroupBy::Day);
        by_day.add(&job("a", JobState::Succeeded, 5, "n1"));
        assert_eq!(by_day.groups()[0].key, "2026-11-18");
    }

    #[test]
    fn csv_has_a_header_and_escapes_keys() {
        let mut report = Report::new(GroupBy::Dataflow);
        report.add(&job("=cmd,x", JobState::Succeeded, 5, "n1"));
        let text = csv(&report.groups());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_COLUMNS);
        assert_eq!(lines[1], "\"'=cmd,x\",1,0,0,1,0,0,1.0000,5,5,10,4");
    }
}
