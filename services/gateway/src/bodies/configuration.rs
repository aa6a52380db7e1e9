//! Connections and dataflows.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A connection: `local` (`root`), `postgres` (`host`, `port`, `database`,
/// `user`, `password`, `sslmode`, `pool`) or `s3` (`endpoint`, `region`, `bucket`,
/// `prefix`, `access_key_id`, `secret_access_key`, `path_style`, `allow_http`).
/// Credentials name secrets (`{"secret": "name"}`), never values.
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// `local`, `postgres` or `s3`.
    pub kind: String,
    /// `local`: the directory, within the server's file roots.
    pub root: Option<String>,
    /// `postgres`: the server's host name or address.
    pub host: Option<String>,
    /// `postgres`: default 5432.
    pub port: Option<u32>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<SecretRef>,
    /// `postgres`: `disable`, `prefer` (default) or `require`.
    pub sslmode: Option<String>,
    pub pool: Option<Pool>,
    /// `s3`: the endpoint URL (default: AWS's for the region).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub bucket: Option<String>,
    /// `s3`: every object the connection reaches lies under it.
    pub prefix: Option<String>,
    pub access_key_id: Option<SecretRef>,
    pub secret_access_key: Option<SecretRef>,
    /// `s3`: path-style requests (`endpoint/bucket/key`), as most non-AWS servers need.
    pub path_style: Option<bool>,
    /// `s3`: allow an `http://` endpoint.
    pub allow_http: Option<bool>,
}

/// A secret, named: its value is set with `PUT /v1/secrets/{name}` and never shown.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub secret: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The most sessions one job opens (1 to 64).
    pub max: u32,
}

#[derive(Serialize, ToSchema)]
pub struct Connection {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<SecretRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// What trying a connection found.
#[derive(Serialize, ToSchema)]
pub struct ConnectionTest {
    pub ok: bool,
    /// Why not: `auth_failed`, `unreachable`, `tls`, `timeout`, `not_found`,
    /// `forbidden_host`, `secret_missing` or `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the other side said, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub latency_ms: u64,
}

/// `PUT /v1/secrets/{name}`: the value, stored sealed; it is never answered back.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    /// 1 to 16,384 bytes.
    pub value: String,
}

/// A secret's metadata: never its value.
#[derive(Serialize, ToSchema)]
pub struct Secret {
    pub name: String,
    /// Moves on with every `PUT`.
    pub version: u32,
    /// The master key its data key is wrapped with (an id, not the key).
    pub key_id: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub updated_by: String,
    /// The connections that name it.
    pub connections: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Secrets {
    pub secrets: Vec<Secret>,
}

/// What a master key rotation did.
#[derive(Serialize, ToSchema)]
pub struct KeyRotation {
    /// The key every data key is now wrapped with.
    pub key_id: String,
    /// Data keys re-wrapped by this call.
    pub rewrapped: u64,
    /// Secrets in all.
    pub secrets: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Connections {
    pub connections: Vec<Connection>,
}

/// A dataflow document (JSON, or YAML with `content-type: application/yaml`):
/// `{"kind":"job"|"service","parameters"?,"input"?,"stages":[...]}`; see the README.
#[derive(Serialize, ToSchema)]
pub struct DataflowDocument {
    pub kind: String,
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub stages: Value,
}

/// One version of a process flow, as saved.
#[derive(Serialize, ToSchema)]
pub struct ProcessFlowVersion {
    pub name: String,
    pub version: u32,
    pub created_at: Option<String>,
    #[schema(value_type = Object)]
    pub document: Value,
}

/// A process flow document: `parameters`, `activities`, `transitions` (see
/// docs/process-flows.md).
#[derive(Serialize, ToSchema)]
pub struct ProcessFlowDocument {
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub activities: Value,
    #[schema(value_type = Vec<Object>)]
    pub transitions: Value,
}

/// `POST /v1/processflows/{name}/runs`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct FlowRunRequest {
    /// Values of the flow's parameters.
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, String>,
}

/// A run of a process flow: every activity's state and job, and every transition
/// decided with the values its rule saw and why it was or was not taken.
#[derive(Serialize, ToSchema)]
pub struct FlowRun {
    pub id: String,
    pub flow: String,
    pub flow_version: u32,
    /// running, succeeded, failed or cancelled.
    pub state: String,
    pub parameters: std::collections::BTreeMap<String, String>,
    /// The dataflow versions the run's jobs run, pinned when it started.
    pub dataflow_versions: std::collections::BTreeMap<String, u32>,
    pub submitted_by: String,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    pub activities: Vec<FlowActivity>,
    pub decisions: Vec<FlowDecision>,
    /// The run this one resumes.
    /// The key that started it: the caller's `Idempotency-Key`, `schedule:<name>:<occurrence ms>`,
    /// or `flow:<parent>:<activity>:<attempt>` for a child run.
    pub idempotency_key: Option<String>,
    /// The run whose activity started this one.
    pub parent_run: Option<String>,
    pub resumed_from: Option<String>,
}

/// `POST /v1/processflow-runs/{id}/resume`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// `failed` (the default: every activity that failed) or an activity's id:
    /// it and everything after it run again.
    pub from: Option<String>,
    /// Only answer the plan (the default); `false` starts the new run.
    pub dry_run: Option<bool>,
    /// Run dataflows that changed since the run at their latest versions (else a
    /// change is refused, 409).
    pub latest: Option<bool>,
}

/// What a resume does: each activity reused, rerun or kept, and why; the
/// dataflows that changed since the run; and the new run when it was started.
#[derive(Serialize, ToSchema)]
pub struct ResumePlan {
    pub plan: Vec<ResumeStep>,
    pub changed: Vec<ChangedDataflow>,
    pub run: Option<FlowRun>,
}

#[derive(Serialize, ToSchema)]
pub struct ResumeStep {
    pub activity: String,
    /// reuse, rerun or keep.
    pub action: String,
    pub why: String,
}

#[derive(Serialize, ToSchema)]
pub struct ChangedDataflow {
    pub dataflow: String,
    pub pinned: u32,
    pub latest: u32,
}

/// `POST /v1/processflow-runs/{id}/approvals/{activity}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// approve or reject.
    pub decision: String,
    pub comment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FlowActivity {
    pub id: String,
    /// pending, running, waiting (an approval or a wait), succeeded, failed or skipped.
    pub state: String,
    /// Who decided an approval: a user, or `timeout`.
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    pub job_id: Option<String>,
    /// A `flow` activity's child run.
    pub child_run: Option<String>,
    pub attempt: u32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub rows_read: u64,
    pub rows_written: u64,
    /// A `foreach`'s items, in order, each with its own job or child run.
    pub items: Vec<FlowItem>,
}

/// One run, without its activities: a row of a flow's runs.
#[derive(Serialize, ToSchema)]
pub struct FlowRunSummary {
    pub id: String,
    pub flow_version: u32,
    /// running, succeeded, failed or cancelled.
    pub state: String,
    pub submitted_by: String,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    pub resumed_from: Option<String>,
    pub parent_run: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FlowRuns {
    pub runs: Vec<FlowRunSummary>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

/// An approval waiting for a decision the caller may make.
#[derive(Serialize, ToSchema)]
pub struct WaitingApproval {
    pub run: String,
    pub flow: String,
    pub activity: String,
    pub role: String,
    pub since: Option<String>,
    /// When its timeout decides it.
    pub due: Option<String>,
    /// What the timeout decides: approve or reject.
    pub on_timeout: String,
}

#[derive(Serialize, ToSchema)]
pub struct WaitingApprovals {
    pub approvals: Vec<WaitingApproval>,
}

#[derive(Serialize, ToSchema)]
pub struct FlowItem {
    pub item: String,
    /// pending, running, succeeded, failed, skipped or cancelled.
    pub state: String,
    pub job_id: Option<String>,
    pub child_run: Option<String>,
    pub attempt: u32,
}

#[derive(Serialize, ToSchema)]
pub struct FlowDecision {
    pub from: String,
    pub to: String,
    /// `on succeeded`, `when <condition>`, `otherwise`.
    pub rule: String,
    /// What the rule read: `load.rows_written = 2, params.day = 'monday'`.
    pub values: String,
    pub taken: bool,
    pub why: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProcessFlows {
    pub processflows: Vec<DataflowSummary>,
}

/// What a save of the document would meet: its problems, by stage and field.
#[derive(Serialize, ToSchema)]
pub struct DataflowCheck {
    pub valid: bool,
    pub problems: Vec<DataflowProblem>,
    /// Saving it would make a new version (it differs from the latest).
    pub changed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DataflowProblem {
    /// The stage's id, when the problem is in a stage.
    pub stage: Option<String>,
    /// Where in the document: `stages[2].query`.
    pub field: String,
    pub message: String,
}

impl From<prism_dataflow::validate::Problem> for DataflowProblem {
    fn from(p: prism_dataflow::validate::Problem) -> Self {
        DataflowProblem {
            stage: p.stage,
            field: p.field,
            message: p.message,
        }
    }
}

/// `POST /v1/dataflows/{name}/preview`: run the document up to `stage`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewAsk {
    /// The dataflow document, as it would be saved (JSON).
    #[schema(value_type = Object)]
    pub document: Value,
    /// The stage whose rows are shown (a write: the rows it would write).
    pub stage: String,
    /// Values of the dataflow's parameters.
    #[serde(default)]
    pub parameters: std::collections::HashMap<String, String>,
    /// Rows answered at most: 1 to 1000 (100 when absent).
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewColumn {
    pub name: String,
    /// The Arrow type, e.g. `Int64`, `Utf8`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The first rows of a stage, and what every stage run for them did.
#[derive(Serialize, ToSchema)]
pub struct Preview {
    pub stage: String,
    pub columns: Vec<PreviewColumn>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
    /// More rows exist than were answered.
    pub truncated: bool,
    /// Rows through each stage before the preview stopped (not a whole run's).
    pub stages: Vec<super::StageStats>,
    /// The executor that ran it.
    pub node: String,
    pub elapsed_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DataflowSaved {
    pub name: String,
    pub version: u32,
}

#[derive(Serialize, ToSchema)]
pub struct DataflowVersion {
    pub name: String,
    pub version: u32,
    pub created_at: Option<String>,
    #[schema(value_type = Object)]
    pub document: Value,
}

#[derive(Serialize, ToSchema)]
pub struct DataflowSummary {
    pub name: String,
    pub latest_version: u32,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Dataflows {
    pub dataflows: Vec<DataflowSummary>,
}
