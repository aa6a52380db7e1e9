//! Every subject, stream, consumer and bucket name of the bus, in one place.
//! Documented in the README ("Bus contract"); version 1.

/// The version of this contract; message type names carry it too (`prism.v1.*`).
pub const CONTRACT_VERSION: u32 = 1;

/// Stream of job runs: work-queue retention, one durable consumer per pool.
pub const JOBS_STREAM: &str = "JOBS";
pub const JOBS_SUBJECTS: &str = "prism.jobs.run.>";
/// The pool every job runs in until pools are configurable.
pub const DEFAULT_POOL: &str = "default";

pub fn job_run(pool: &str) -> String {
    format!("prism.jobs.run.{pool}")
}

/// Durable pull consumer shared by every executor of a pool: the queue balances.
pub fn executor_consumer(pool: &str) -> String {
    format!("executors-{pool}")
}

/// Stream of events: limits retention, for the audit service and outside consumers.
pub const EVENTS_STREAM: &str = "EVENTS";
pub const EVENTS_SUBJECTS: &str = "prism.events.>";
/// Every job event; `prism.events.job.<id>.>` for one job.
pub const JOB_EVENTS: &str = "prism.events.job.>";

/// Stream of jobs' own log lines, one subject per job.
pub const LOGS_STREAM: &str = "LOGS";
pub const LOGS_SUBJECTS: &str = "prism.logs.job.>";

/// `prism.logs.job.<job_id>`: the log lines of one job, every attempt's.
pub fn job_log(job_id: &str) -> String {
    format!("prism.logs.job.{job_id}")
}

/// `prism.events.job.<job_id>.<queued|started|succeeded|failed|cancelled>`
pub fn job_event(job_id: &str, kind: &str) -> String {
    format!("prism.events.job.{job_id}.{kind}")
}

/// What a configuration event is about: `<entity>` of
/// `prism.events.config.<entity>.<op>`, and of the audit log's `entity.op` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigEntity {
    Connection,
    Secret,
    Dataflow,
    ProcessFlow,
    Schedule,
    Service,
    User,
    Role,
    Acl,
    Token,
    Settings,
    Job,
    Node,
}

impl ConfigEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigEntity::Connection => "connection",
            ConfigEntity::Secret => "secret",
            ConfigEntity::Dataflow => "dataflow",
            ConfigEntity::ProcessFlow => "processflow",
            ConfigEntity::Schedule => "schedule",
            ConfigEntity::Service => "service",
            ConfigEntity::User => "user",
            ConfigEntity::Role => "role",
            ConfigEntity::Acl => "acl",
            ConfigEntity::Token => "token",
            ConfigEntity::Settings => "settings",
            ConfigEntity::Job => "job",
            ConfigEntity::Node => "node",
        }
    }
}

/// What happened to it: `<op>` of `prism.events.config.<entity>.<op>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOp {
    /// Created or changed.
    Put,
    Delete,
    /// A service exposed, or unexposed.
    Expose,
    Unexpose,
    /// A schedule switched on or off.
    Enable,
    Disable,
    /// A session token issued at sign-in, an API token created, either revoked.
    Login,
    Create,
    Revoke,
    /// A job's cancellation asked for.
    Cancel,
    /// An executor asked to finish its jobs and exit.
    Drain,
    /// A connection tried (`POST /v1/connections/{name}/test`).
    Test,
    /// Every secret's data key re-wrapped under the active master key.
    Rotate,
}

impl ConfigOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigOp::Put => "put",
            ConfigOp::Delete => "delete",
            ConfigOp::Expose => "expose",
            ConfigOp::Unexpose => "unexpose",
            ConfigOp::Enable => "enable",
            ConfigOp::Disable => "disable",
            ConfigOp::Login => "login",
            ConfigOp::Create => "create",
            ConfigOp::Revoke => "revoke",
            ConfigOp::Cancel => "cancel",
            ConfigOp::Drain => "drain",
            ConfigOp::Test => "test",
            ConfigOp::Rotate => "rotate",
        }
    }
}

/// `prism.events.config.<entity>.>`: every change of one kind of entity.
pub fn config_events(entity: ConfigEntity) -> String {
    format!("prism.events.config.{}.>", entity.as_str())
}

/// `prism.events.config.<entity>.<op>`
pub fn config_event(entity: ConfigEntity, op: ConfigOp) -> String {
    format!("prism.events.config.{}.{}", entity.as_str(), op.as_str())
}

/// Every process flow run's events.
pub const FLOW_EVENTS: &str = "prism.events.flow.>";

/// `prism.events.flow.<run_id>.<started|activity|approved|rejected|succeeded|failed|cancelled>`
pub fn flow_event(run_id: &str, kind: &str) -> String {
    format!("prism.events.flow.{run_id}.{kind}")
}

/// `prism.events.schedule.<name>.<fired|misfired|refused>`
pub fn schedule_event(schedule: &str, kind: &str) -> String {
    format!("prism.events.schedule.{schedule}.{kind}")
}

/// A job submission over the bus that was refused.
pub const SUBMIT_REJECTED: &str = "prism.events.submit.rejected";

/// Durable consumer of the audit service on `EVENTS`.
pub const AUDIT_CONSUMER: &str = "audit";

/// Core NATS request/reply: job submission, answered by a gateway of the queue group.
pub const SUBMIT: &str = "prism.jobs.submit";
pub const GATEWAY_QUEUE_GROUP: &str = "prism-gateways";

/// Key-value bucket of job attempts: which attempt owns a job, whether a cancel was
/// requested, and its outcome once finished. The fence that keeps a stale attempt
/// from committing (see [`crate::attempts`]).
pub const JOB_ATTEMPTS_BUCKET: &str = "prism_job_attempts";

/// A job run message an executor can never run (undecodable, or a job id that is
/// not a UUID): terminated, and reported here once.
pub const RUN_REJECTED: &str = "prism.events.run.rejected";

/// `Nats-Msg-Id` (and `event_id`) of a job event: one per job, attempt and kind, so a
/// republished event is dropped by JetStream and ignored by the audit service.
pub fn job_event_id(job_id: &str, attempt: u32, kind: &str) -> String {
    format!("{job_id}.{attempt}.{kind}")
}

/// Key-value bucket of live nodes (`NodeInfo`), keyed by node id.
pub const NODES_BUCKET: &str = "prism_nodes";
/// Settings every process applies while it runs (see `settings`).
pub const SETTINGS_BUCKET: &str = "prism_settings";

/// `prism.events.node.<node>.<started|draining|stopped>`
pub fn node_event(node: &str, kind: &str) -> String {
    format!("prism.events.node.{node}.{kind}")
}

/// Core NATS control message asking node `<node>` to drain.
pub fn drain(node: &str) -> String {
    format!("prism.ctl.drain.{node}")
}

/// Exposed services, `ServiceSpec` under each service's name; written by gateways
/// through the outbox, watched by executors.
pub const SERVICES_BUCKET: &str = "prism_services";

/// The subject a service bucket entry is written on (a bucket write is a publish).
pub fn service_spec(name: &str) -> String {
    format!("$KV.{SERVICES_BUCKET}.{name}")
}

/// Requests to service `name`, answered by one executor of the queue group
/// [`SERVICE_QUEUE_GROUP`].
pub fn service_request(name: &str) -> String {
    format!("prism.svc.{name}")
}

pub const SERVICE_QUEUE_GROUP: &str = "prism-executors";

/// Previews of dataflows for pool `pool`, answered by one executor of the queue
/// group [`SERVICE_QUEUE_GROUP`].
pub fn preview(pool: &str) -> String {
    format!("prism.preview.{pool}")
}

/// What the audit service consumes: every event family but service calls, which
/// are history that gateways read back for statistics, never audit entries.
pub const AUDITED_EVENTS: &[&str] = &[
    "prism.events.job.>",
    "prism.events.config.>",
    "prism.events.schedule.>",
    "prism.events.flow.>",
    "prism.events.node.>",
    "prism.events.submit.>",
    "prism.events.run.>",
];

/// `prism.events.svc.<name>.<outcome>`: one service call, for its history.
pub fn service_call_event(name: &str, outcome: &str) -> String {
    format!("prism.events.svc.{name}.{outcome}")
}

/// Every call of service `name`.
pub fn service_calls(name: &str) -> String {
    format!("prism.events.svc.{name}.>")
}
