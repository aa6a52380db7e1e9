//! Jobs, schedules and job reports.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Object;

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    pub dataflow: String,
    /// A version; the latest when absent.
    pub version: Option<u32>,
    /// Values for the dataflow's parameters: strings, numbers or booleans.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub parameters: Option<Object>,
}

#[derive(Serialize, ToSchema)]
pub struct JobAccepted {
    pub id: String,
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Job {
    pub id: String,
    pub dataflow: String,
    pub version: u32,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub attempt: u32,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub error: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub schedule: Option<String>,
    pub idempotency_key: Option<String>,
    pub cancel_requested: bool,
    pub submitted_by: Option<String>,
    /// The node that ran (or runs) its latest attempt.
    pub executor: Option<String>,
    /// The W3C trace id of the request that submitted it: its trace runs from
    /// the gateway through the executor's stages to the audit record.
    pub trace_id: Option<String>,
    /// What each stage of the last finished attempt did, in the dataflow's order;
    /// empty until an attempt ends.
    pub stages: Vec<StageStats>,
}

/// Reads and queries stream into the writes that need them, so stage times
/// overlap: `elapsed_ms` runs from a stage's first row asked for to its last row
/// given (a write's is its whole pipeline). A read's `rows_in` are the rows its
/// file scan produced, a query's the rows of its inputs.
#[derive(Serialize, ToSchema)]
pub struct StageStats {
    pub id: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub elapsed_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Jobs {
    pub jobs: Vec<Job>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The dataflow whose job it runs (or `processflow`).
    pub dataflow: Option<String>,
    /// The process flow it runs (or `dataflow`).
    pub processflow: Option<String>,
    /// Five fields, UTC.
    pub cron: String,
    /// Values for the dataflow's (or the flow's) parameters: strings, numbers or booleans.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub parameters: Option<Object>,
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Schedule {
    pub name: String,
    /// What it runs: a job of `dataflow`, or a run of `processflow`.
    pub dataflow: Option<String>,
    pub processflow: Option<String>,
    pub cron: String,
    pub parameters: BTreeMap<String, String>,
    pub enabled: bool,
    /// The next times it fires (UTC), whether or not it is enabled.
    pub next_occurrences: Vec<String>,
    pub owner: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Schedules {
    pub schedules: Vec<Schedule>,
}

/// One row of a job report: the jobs of one dataflow, day (UTC) or node.
#[derive(Serialize, ToSchema)]
pub struct ReportGroup {
    /// The dataflow, the day (`YYYY-MM-DD`) or the node (`-`: never started).
    pub key: String,
    pub jobs: u64,
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Succeeded over finished; `null` when none finished.
    pub success_rate: Option<f64>,
    /// Run time (start to end) of finished jobs.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub rows_read: u64,
    pub rows_written: u64,
}

#[derive(Serialize, ToSchema)]
pub struct JobReport {
    /// The jobs created in `[from, to)`.
    pub from: String,
    pub to: String,
    pub group_by: String,
    pub groups: Vec<ReportGroup>,
    /// More jobs were created in the window than one report reads.
    pub truncated: bool,
}
