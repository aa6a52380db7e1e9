use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use prism_bus::{envelope, subjects};
use prism_dataflow::model::Outline;
use prism_outbox::{Outbox, Staged};
use prism_schemas::v1::{
    Connection, DataflowVersionRecord, JobEvent, JobRecord, JobRun, JobState, SecretRecord,
};
use prism_store::Tx;
use prism_store::records::{connections, dataflows, jobs, now_ms, secrets};

use crate::error::SubmitError;
use crate::group::{self, Pending};

const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct SubmitRequest {
    pub dataflow: String,
    /// `None`: the latest version.
    pub version: Option<u32>,
    pub parameters: HashMap<String, String>,
    pub idempotency_key: Option<String>,
    /// The schedule that fired the job, if any.
    pub schedule: Option<String>,
    /// The user the job runs for: the caller, or the schedule's owner. The caller
    /// has checked that this user may execute the dataflow.
    pub submitted_by: String,
    /// The connections the caller found this user may execute (read with
    /// [`connections_of`] before submitting); the job is refused if the version
    /// accepted names another (it changed in between). `None`: checked elsewhere
    /// (a schedule's owner, when the schedule was saved).
    pub permitted_connections: Option<Vec<String>>,
}

impl SubmitRequest {
    /// Who the job's events name: the user, or `schedule:<name>`.
    pub fn actor(&self) -> String {
        match &self.schedule {
            Some(schedule) => format!("schedule:{schedule}"),
            None => self.submitted_by.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub job: JobRecord,
    /// False when the idempotency key named an existing job.
    pub created: bool,
}

/// Submits jobs: validation, the accepting transaction, and dispatch to `JOBS`
/// through the outbox. Submissions that arrive together share one accepting
/// transaction ([`crate::group`]).
#[derive(Clone)]
pub struct Submitter {
    acceptor: Arc<Acceptor>,
    accepts: mpsc::Sender<Pending>,
    /// Permits for dispatches under way.
    dispatching: Arc<Semaphore>,
}

/// Dispatches (publishes of accepted jobs) under way at once, at most.
const DISPATCHING: usize = 1024;

/// What accepting a job needs.
pub(crate) struct Acceptor {
    pub outbox: Outbox,
    pub pool: String,
    /// Deliveries of a job before it is dead-lettered as failed.
    pub max_attempts: u32,
}

/// What the accepting transaction decided. The outbox entry is `None` for a replay
/// whose messages were published already.
pub(crate) struct Accepted {
    job: JobRecord,
    created: bool,
    staged: Option<Staged>,
}

/// The inner `Result` of a transaction body: the caller's mistake, which commits
/// nothing; the outer one is the store's (retried on conflict).
pub type Decision<T> = prism_store::Result<Result<T, SubmitError>>;

impl Submitter {
    /// A submitter for `pool`, with the task that commits its accepts in groups (it
    /// ends when the last clone of the submitter is dropped).
    pub fn new(outbox: Outbox, pool: String, max_attempts: u32) -> Submitter {
        let acceptor = Arc::new(Acceptor {
            outbox,
            pool,
            max_attempts,
        });
        let (accepts, queue) = mpsc::channel(group::QUEUE);
        tokio::spawn(group::commit_accepts(acceptor.clone(), queue));
        Submitter {
            acceptor,
            accepts,
            dispatching: Arc::new(Semaphore::new(DISPATCHING)),
        }
    }

    /// The configuration database the submitter writes to.
    pub fn store(&self) -> &prism_store::Store {
        &self.acceptor.outbox.store
    }

    /// The outbox its accepts go through.
    pub fn outbox(&self) -> &Outbox {
        &self.acceptor.outbox
    }

    /// The bus the submitter publishes to.
    pub fn bus(&self) -> &prism_bus::Bus {
        &self.acceptor.outbox.bus
    }

    /// Publishes a committed job's messages without holding up its submitter: the
    /// job is accepted once its transaction commits, and the outbox entry
    /// guarantees dispatch (the relay publishes it if this does not). Waits only
    /// when [`DISPATCHING`] dispatches are under way already, so a slow bus slows
    /// submissions rather than piling up tasks.
    async fn dispatch(&self, staged: Staged) {
        let Ok(permit) = self.dispatching.clone().acquire_owned().await else {
            return;
        };
        let outbox = self.acceptor.outbox.clone();
        tokio::spawn(async move {
            if let Err(error) = outbox.publish(&staged).await {
                tracing::warn!(%error, job_id = %staged.id, "job not dispatched yet; the outbox relay will");
            }
            drop(permit);
        });
    }

    pub async fn submit(&self, request: SubmitRequest) -> Result<Submitted, SubmitError> {
        check_request(&request)?;
        // Chosen once, outside the retried transaction: UUIDv7 sorts by creation time.
        let job_id = uuid::Uuid::now_v7().to_string();
        let (reply, decided) = oneshot::channel();
        let pending = Pending {
            request,
            job_id,
            reply,
            span: tracing::Span::current(),
        };
        if self.accepts.send(pending).await.is_err() {
            return Err(
                prism_store::Error::Backend("job submissions are shutting down".into()).into(),
            );
        }
        let accepted = decided
            .await
            .map_err(|_| prism_store::Error::Backend("job submission interrupted".into()))???;
        if accepted.created {
            prism_metrics::get().job_submitted();
        }
        // A replay of a submission whose dispatch did not finish completes it.
        if let Some(staged) = accepted.staged {
            self.dispatch(staged).await;
        }
        Ok(Submitted {
            job: accepted.job,
            created: accepted.created,
        })
    }
}

/// The stored version as a job to run with the request's parameters: a valid job
/// dataflow (not a service's), every parameter resolved and every path it makes
/// within its connection.
fn runnable(
    record: &DataflowVersionRecord,
    request: &SubmitRequest,
) -> Result<(Outline, BTreeMap<String, String>), SubmitError> {
    let dataflow = crate::outline::of(record)?;
    if dataflow.kind != prism_dataflow::Kind::Job {
        let message = format!(
            "{:?} is a service dataflow: expose it with PUT /v1/services/{{name}}",
            record.name
        );
        return Err(SubmitError::invalid("dataflow", message));
    }
    let parameters = prism_dataflow::parameters::resolve(&dataflow.parameters, &request.parameters)
        .and_then(|values| {
            let paths = dataflow.paths.iter().map(String::as_str);
            prism_dataflow::parameters::check_paths(paths, &values).map(|()| values)
        })
        .map_err(|e| SubmitError::invalid(e.field(), e.message))?;
    Ok((dataflow, parameters))
}

impl Acceptor {
    /// The accepting transaction: the job record, its idempotency key and the outbox
    /// entry (run message and `queued` event), all or nothing.
    pub(crate) async fn accept(
        &self,
        tx: &Tx,
        request: &SubmitRequest,
        job_id: &str,
    ) -> Decision<Accepted> {
        if let Some(key) = &request.idempotency_key {
            match replay(tx, key, request).await? {
                Ok(Some(existing)) => return Ok(Ok(existing)),
                Ok(None) => {}
                Err(refused) => return Ok(Err(refused)),
            }
        }
        let record = match find_version(tx, request).await? {
            Ok(record) => record,
            Err(refused) => return Ok(Err(refused)),
        };
        let (dataflow, parameters) = match runnable(&record, request) {
            Ok(runnable) => runnable,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Some(permitted) = &request.permitted_connections
            && let Some(other) = dataflow.connections.iter().find(|c| !permitted.contains(c))
        {
            let message = format!(
                "the dataflow changed while the job was submitted (it now names connection {other:?}): submit it again"
            );
            return Ok(Err(SubmitError::Conflict {
                field: "dataflow".into(),
                message,
            }));
        }
        let connections = match snapshot_connections(tx, &dataflow.connections).await? {
            Ok(connections) => connections,
            Err(refused) => return Ok(Err(refused)),
        };
        let now = now_ms();
        let job = JobRecord {
            id: job_id.to_string(),
            dataflow: record.name.clone(),
            dataflow_version: record.version,
            state: JobState::Queued as i32,
            created_at_ms: now,
            parameters: parameters.clone().into_iter().collect(),
            idempotency_key: request.idempotency_key.clone().unwrap_or_default(),
            schedule: request.schedule.clone().unwrap_or_default(),
            submitted_by: request.submitted_by.clone(),
            trace_id: prism_telemetry::current_trace_id().unwrap_or_default(),
            ..Default::default()
        };
        let run = JobRun {
            job_id: job_id.to_string(),
            dataflow: record.name,
            dataflow_version: record.version,
            dataflow_document: record.document_json,
            connections,
            parameters: parameters.into_iter().collect(),
            created_at_ms: now,
            max_attempts: self.max_attempts,
            actor: request.actor(),
        };
        jobs::put(tx, &job).await?;
        if let Some(key) = &request.idempotency_key {
            jobs::remember_idempotency_key(tx, key, job_id).await?;
        }
        let staged = prism_outbox::stage(tx, job_id, self.dispatch_messages(&run)).await?;
        Ok(Ok(Accepted {
            job,
            created: true,
            staged: Some(staged),
        }))
    }

    /// The `queued` event, then the run message for the pool's queue
    /// (`Nats-Msg-Id` = job id): in that order, so that `queued` is on the stream
    /// before any executor can report `started`, whatever connection each uses.
    fn dispatch_messages(&self, run: &JobRun) -> Vec<prism_schemas::v1::OutboxMessage> {
        let kind = JobState::Queued.event_kind();
        let queued = JobEvent {
            event_id: subjects::job_event_id(&run.job_id, 0, kind),
            job_id: run.job_id.clone(),
            state: JobState::Queued as i32,
            dataflow: run.dataflow.clone(),
            dataflow_version: run.dataflow_version,
            occurred_at_ms: run.created_at_ms,
            created_at_ms: run.created_at_ms,
            actor: run.actor.clone(),
            ..Default::default()
        };
        vec![
            envelope(
                subjects::job_event(&run.job_id, kind),
                &queued.event_id,
                &queued,
            ),
            envelope(subjects::job_run(&self.pool), &run.job_id, run),
        ]
    }
}

fn check_request(request: &SubmitRequest) -> Result<(), SubmitError> {
    if request.dataflow.trim().is_empty() {
        return Err(SubmitError::invalid(
            "dataflow",
            "required: the dataflow's name",
        ));
    }
    if let Some(key) = &request.idempotency_key
        && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES)
    {
        return Err(SubmitError::invalid(
            "idempotency_key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The job an idempotency key names, if any: the same request is a retry (with its
/// unfinished dispatch, if any), a different one a conflict.
async fn replay(tx: &Tx, key: &str, request: &SubmitRequest) -> Decision<Option<Accepted>> {
    let Some(existing_id) = jobs::idempotent_job_id(tx, key).await? else {
        return Ok(Ok(None));
    };
    let Some(job) = jobs::get(tx, &existing_id).await? else {
        return Ok(Ok(None));
    };
    if !same_request(&job, request) {
        return Ok(Err(SubmitError::Conflict {
            field: "idempotency_key".into(),
            message: format!("this key was used for job {existing_id} with a different request"),
        }));
    }
    let staged = prism_outbox::pending(tx, &existing_id).await?;
    Ok(Ok(Some(Accepted {
        job,
        created: false,
        staged,
    })))
}

async fn find_version(tx: &Tx, request: &SubmitRequest) -> Decision<DataflowVersionRecord> {
    let name = &request.dataflow;
    let found = match request.version {
        Some(version) => dataflows::get_version(tx, name, version).await?,
        None => dataflows::latest(tx, name).await?,
    };
    Ok(found.ok_or_else(|| match request.version {
        Some(v) => {
            SubmitError::not_found("version", format!("dataflow {name:?} has no version {v}"))
        }
        None => SubmitError::not_found("dataflow", format!("no dataflow named {name:?}")),
    }))
}

/// The connections the version a request names would run with (latest, or the
/// version asked for), for checking the caller may use each before submitting.
pub async fn connections_of(tx: &Tx, request: &SubmitRequest) -> Decision<Vec<String>> {
    let record = match find_version(tx, request).await? {
        Ok(record) => record,
        Err(refused) => return Ok(Err(refused)),
    };
    Ok(crate::outline::of(&record).map(|outline| outline.connections))
}

/// The connections the dataflow uses, as they are now: the job runs with these,
/// each with the secrets it names still sealed (only executors open them).
pub async fn snapshot_connections(tx: &Tx, names: &[String]) -> Decision<Vec<Connection>> {
    let mut snapshot = Vec::new();
    for name in names {
        let Some(c) = connections::get(tx, name).await? else {
            let message = format!("the dataflow uses connection {name:?}, which no longer exists");
            return Ok(Err(SubmitError::not_found("dataflow", message)));
        };
        let mut sealed = Vec::new();
        for secret in c.secret_names() {
            match secrets::get(tx, secret).await? {
                Some(SecretRecord {
                    sealed: Some(value),
                    ..
                }) => sealed.push(value),
                _ => {
                    let message = format!(
                        "connection {name:?} names secret {secret:?}, which does not exist"
                    );
                    return Ok(Err(SubmitError::not_found("dataflow", message)));
                }
            }
        }
        snapshot.push(Connection {
            name: c.name,
            kind: c.kind,
            root: c.root,
            postgres: c.postgres,
            s3: c.s3,
            secrets: sealed,
        });
    }
    Ok(Ok(snapshot))
}

/// Whether `request` asks for what `job` was submitted with, by the same user: a
/// retry, not a new job. Another user's key is a conflict, never their job.
fn same_request(job: &JobRecord, request: &SubmitRequest) -> bool {
    job.submitted_by == request.submitted_by
        && job.dataflow == request.dataflow
        && request.version.is_none_or(|v| v == job.dataflow_version)
        && request
            .parameters
            .iter()
            .all(|(name, value)| job.parameters.get(name) == Some(value))
}
