//! The bodies of the HTTP API as Rust types: the OpenAPI document's schemas are
//! derived from them (`ToSchema`). Connections, schedules, services, tokens, jobs
//! and nodes are answered by serializing these types, so document and answer cannot
//! drift apart; the other answers are still built as JSON in their handlers and are
//! held to these schemas by schemathesis in CI (`tests/contract.sh`). Request
//! bodies are read field by field by the handlers (to name the field at fault);
//! these types describe what they accept.
//!
//! Times are RFC 3339 with milliseconds, in UTC; `null` when not yet reached.
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Any JSON object (a dataflow document, audit details, a service's row).
pub type Object = BTreeMap<String, Value>;

/// A JSON object of any shape, as a body of its own.
#[derive(Serialize, ToSchema)]
pub struct AnyObject(pub Object);

/// Every failure: `{"error":{"code","message","field"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_argument`, `unauthenticated`, `permission_denied`, `not_found`,
    /// `conflict`, `unprocessable`, `resource_exhausted`, `unavailable`,
    /// `deadline_exceeded`, `internal`.
    pub code: String,
    pub message: String,
    /// The request field, header or parameter at fault.
    pub field: Option<String>,
    /// More structure, e.g. every problem of a dataflow document.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

// ---- signing in, tokens -------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct Login {
    pub user: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Session {
    /// The bearer token: `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenRef {
    pub id: String,
    pub kind: String,
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: String,
    pub roles: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub grants: Value,
    pub token: TokenRef,
}

#[derive(Serialize, ToSchema)]
pub struct AuthzQuestion {
    /// Someone else (needs `view` on users); the caller when absent.
    pub user: Option<String>,
    pub action: String,
    pub entity: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthzAnswer {
    pub user: String,
    pub permission: String,
    pub allowed: bool,
    pub because: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewToken {
    pub label: String,
    /// When it expires (RFC 3339); at most a year ahead.
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Token {
    pub id: String,
    pub label: String,
    pub kind: String,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    /// The secret, shown once: only in the answer to `POST /v1/tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Tokens {
    pub tokens: Vec<Token>,
}

// ---- users, roles, overrides -------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct User {
    pub name: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Users {
    pub users: Vec<User>,
}

#[derive(Serialize, ToSchema)]
pub struct UserChange {
    /// A new password (required for a new user).
    pub password: Option<String>,
    /// Changing one's own password needs the current one.
    pub current_password: Option<String>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Grant {
    /// An entity type, e.g. `dataflows`.
    pub entity: String,
    /// A name or a glob of names.
    #[serde(rename = "match")]
    pub pattern: String,
    pub actions: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Role {
    pub name: String,
    pub builtin: bool,
    pub grants: Vec<Grant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Roles {
    pub roles: Vec<Role>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleChange {
    pub grants: Vec<Grant>,
}

#[derive(Serialize, ToSchema)]
pub struct AclEntry {
    /// `user:<name>` or `role:<name>`.
    pub principal: String,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Acl {
    pub entity: String,
    pub name: String,
    pub entries: Vec<AclEntry>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AclChange {
    pub entries: Vec<AclEntry>,
}

// ---- connections and dataflows -------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct ConnectionSpec {
    /// `local`: files under `root`, which must lie within the server's file roots.
    pub kind: String,
    pub root: String,
}

#[derive(Serialize, ToSchema)]
pub struct Connection {
    pub name: String,
    pub kind: String,
    pub root: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
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

// ---- jobs and schedules ------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct JobRequest {
    pub dataflow: String,
    /// A version; the latest when absent.
    pub version: Option<u32>,
    pub parameters: Option<BTreeMap<String, String>>,
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

#[derive(Serialize, ToSchema)]
pub struct ScheduleSpec {
    pub dataflow: String,
    /// Five fields, UTC.
    pub cron: String,
    pub parameters: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Schedule {
    pub name: String,
    pub dataflow: String,
    pub cron: String,
    pub parameters: BTreeMap<String, String>,
    pub enabled: bool,
    pub owner: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Schedules {
    pub schedules: Vec<Schedule>,
}

// ---- services ----------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct ServiceSpec {
    pub dataflow: String,
    /// Pins a version; absent, the service follows the latest one.
    pub version: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub max_inflight: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Service {
    pub name: String,
    pub dataflow: String,
    pub version: u32,
    pub pinned: bool,
    pub timeout_ms: u32,
    pub max_inflight: u32,
    pub exposed_by: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Services {
    pub services: Vec<Service>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceRequest {
    pub rows: Vec<Object>,
    pub parameters: Option<Object>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceAnswer {
    pub rows: Vec<Object>,
    /// Rows refused, by their index in the request.
    pub errors: Option<Vec<Object>>,
    pub version: u32,
    pub duration_ms: f64,
    pub request_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct RestAnswer {
    #[serde(rename = "Output")]
    pub output: Vec<Object>,
    /// Rows refused, as in the answer of `invoke`.
    #[serde(rename = "Errors")]
    pub errors: Option<Vec<Object>>,
}

#[derive(Serialize, ToSchema)]
pub struct RestRequest {
    #[serde(rename = "Input")]
    pub input: RestInput,
    /// The parameters' values.
    #[serde(rename = "Options")]
    pub options: Option<Object>,
}

#[derive(Serialize, ToSchema)]
pub struct RestInput {
    #[serde(rename = "Row")]
    pub row: Vec<Object>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceStats {
    pub service: String,
    pub window_seconds: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub truncated: bool,
}

// ---- reports -----------------------------------------------------------------

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

// ---- operations --------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct Retention {
    /// 1 to 3650; `null` when never set (nothing is purged).
    pub days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct RetentionSet {
    pub days: u32,
    /// Finished jobs deleted by this change.
    pub purged: u64,
}

#[derive(Serialize, ToSchema)]
pub struct LoggingSettings {
    /// `error`, `warn`, `info`, `debug` or `trace`, for everything.
    pub level: Option<String>,
    /// Levels for the jobs of some dataflows (at most 100).
    pub dataflows: BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the log; the `cursor` of the next page.
    pub seq: String,
    pub time: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub details: Value,
    pub event_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetter {
    pub seq: String,
    pub time: Option<String>,
    pub subject: String,
    pub stream_sequence: u64,
    pub message_type: String,
    pub error: String,
    pub payload_bytes: u64,
    pub job_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetters {
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Serialize, ToSchema)]
pub struct Node {
    pub id: String,
    pub role: String,
    pub version: String,
    pub host: String,
    pub started_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub in_flight: u32,
    pub draining: bool,
    /// `healthy`; `unhealthy` after 10 s without a heartbeat, or with a clock more
    /// than a second off the NATS server's.
    pub health: String,
    /// The node's clock minus the NATS server's, at its last heartbeat.
    pub clock_offset_ms: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Nodes {
    pub nodes: Vec<Node>,
}
