use std::collections::HashMap;
use std::time::Duration;

use prism_bus::{Bus, subjects};
use prism_schemas::v1::{Connection, JobEvent, JobRecord, JobRun, JobState};
use prism_store::records::{connections, dataflows, jobs, now_ms};
use prism_store::{Store, Tx};
use prost::Message;

use crate::error::SubmitError;

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
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub job: JobRecord,
    /// False when the idempotency key named an existing job.
    pub created: bool,
}

/// Submits jobs: validation, the accepting transaction, and dispatch to `JOBS`.
#[derive(Clone)]
pub struct Submitter {
    pub store: Store,
    pub bus: Bus,
    pub pool: String,
    /// Deliveries of a job before it is dead-lettered as failed.
    pub max_attempts: u32,
}

enum Accepted {
    New(JobRecord, Vec<u8>),
    Existing(JobRecord, Option<Vec<u8>>),
}

impl Submitter {
    pub async fn submit(&self, request: SubmitRequest) -> Result<Submitted, SubmitError> {
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
        // Chosen once, outside the retried transaction: UUIDv7 sorts by creation time.
        let job_id = uuid::Uuid::now_v7().to_string();
        let accepted = self
            .store
            .transact(|tx| {
                let (request, job_id) = (&request, &job_id);
                async move { self.accept(&tx, request, job_id).await }
            })
            .await??;
        match accepted {
            Accepted::New(job, run) => {
                self.dispatch(&job.id, &run).await?;
                Ok(Submitted { job, created: true })
            }
            Accepted::Existing(job, pending) => {
                // A replay of a submission whose dispatch did not finish completes it.
                if let Some(run) = pending {
                    self.dispatch(&job.id, &run).await?;
                }
                Ok(Submitted {
                    job,
                    created: false,
                })
            }
        }
    }

    /// The accepting transaction. The outer `Result` is the store's (retried on
    /// conflict); the inner one is the caller's mistake, which commits nothing.
    async fn accept(
        &self,
        tx: &Tx,
        request: &SubmitRequest,
        job_id: &str,
    ) -> prism_store::Result<Result<Accepted, SubmitError>> {
        if let Some(key) = &request.idempotency_key
            && let Some(existing_id) = jobs::idempotent_job_id(tx, key).await?
            && let Some(job) = jobs::get(tx, &existing_id).await?
        {
            if !same_request(&job, request) {
                return Ok(Err(SubmitError::Conflict {
                    field: "idempotency_key".into(),
                    message: format!(
                        "this key was used for job {existing_id} with a different request"
                    ),
                }));
            }
            let pending = jobs::list_pending_dispatch_of(tx, &existing_id).await?;
            return Ok(Ok(Accepted::Existing(job, pending)));
        }
        let record = match request.version {
            Some(version) => dataflows::get_version(tx, &request.dataflow, version).await?,
            None => dataflows::latest(tx, &request.dataflow).await?,
        };
        let Some(record) = record else {
            let (field, message) = match request.version {
                Some(v) => (
                    "version",
                    format!("dataflow {:?} has no version {v}", request.dataflow),
                ),
                None => (
                    "dataflow",
                    format!("no dataflow named {:?}", request.dataflow),
                ),
            };
            return Ok(Err(SubmitError::NotFound {
                field: field.into(),
                message,
            }));
        };
        let dataflow = match prism_dataflow::validate::from_stored(&record.document_json) {
            Ok(dataflow) => dataflow,
            Err(problems) => {
                let message = problems
                    .first()
                    .map_or("invalid".into(), |p| p.message.clone());
                return Ok(Err(SubmitError::invalid(
                    "dataflow",
                    format!("stored dataflow is invalid: {message}"),
                )));
            }
        };
        let parameters =
            match prism_dataflow::parameters::resolve(&dataflow.parameters, &request.parameters) {
                Ok(values) => values,
                Err((name, message)) => {
                    return Ok(Err(SubmitError::invalid(
                        format!("parameters.{name}"),
                        message,
                    )));
                }
            };
        let mut snapshot = Vec::new();
        for name in dataflow.connections() {
            match connections::get(tx, name).await? {
                Some(c) => snapshot.push(Connection {
                    name: c.name,
                    kind: c.kind,
                    root: c.root,
                }),
                None => {
                    return Ok(Err(SubmitError::NotFound {
                        field: "dataflow".into(),
                        message: format!(
                            "the dataflow uses connection {name:?}, which no longer exists"
                        ),
                    }));
                }
            }
        }
        let now = now_ms();
        let job = JobRecord {
            id: job_id.to_string(),
            dataflow: record.name.clone(),
            dataflow_version: record.version,
            state: JobState::Queued as i32,
            attempt: 0,
            created_at_ms: now,
            parameters: parameters.clone().into_iter().collect(),
            idempotency_key: request.idempotency_key.clone().unwrap_or_default(),
            schedule: request.schedule.clone().unwrap_or_default(),
            ..Default::default()
        };
        let run = JobRun {
            job_id: job_id.to_string(),
            dataflow: record.name,
            dataflow_version: record.version,
            dataflow_document: record.document_json,
            connections: snapshot,
            parameters: parameters.into_iter().collect(),
            created_at_ms: now,
            max_attempts: self.max_attempts,
        }
        .encode_to_vec();
        jobs::put(tx, &job).await?;
        if let Some(key) = &request.idempotency_key {
            jobs::remember_idempotency_key(tx, key, job_id).await?;
        }
        jobs::put_pending_dispatch(tx, job_id, &run).await?;
        Ok(Ok(Accepted::New(job, run)))
    }

    /// Publishes the run message and the `queued` event, then clears the pending mark.
    /// Safe to repeat: both messages carry de-duplication ids.
    pub async fn dispatch(&self, job_id: &str, run_bytes: &[u8]) -> Result<(), SubmitError> {
        let run = prism_bus::decode::<JobRun>(run_bytes)?;
        self.bus
            .publish_durable(subjects::job_run(&self.pool), job_id, &run)
            .await?;
        let kind = JobState::Queued.event_kind();
        let event = JobEvent {
            event_id: subjects::job_event_id(job_id, 0, kind),
            job_id: job_id.to_string(),
            state: JobState::Queued as i32,
            attempt: 0,
            dataflow: run.dataflow.clone(),
            dataflow_version: run.dataflow_version,
            occurred_at_ms: now_ms(),
            created_at_ms: run.created_at_ms,
            ..Default::default()
        };
        if let Err(error) = self
            .bus
            .publish_durable(subjects::job_event(job_id, kind), &event.event_id, &event)
            .await
        {
            // The run is on the queue, so the job is accepted; the sweep publishes the
            // event later because the pending mark stays.
            tracing::warn!(job_id, %error, "queued event not published; left for the sweep");
            return Ok(());
        }
        let job_id = job_id.to_string();
        self.store
            .transact(|tx| {
                let job_id = job_id.clone();
                async move { jobs::clear_pending_dispatch(&tx, &job_id).await }
            })
            .await?;
        Ok(())
    }

    /// Dispatches every job that stayed pending longer than `grace` (its gateway died
    /// or lost the bus between commit and publish). Returns how many it dispatched.
    pub async fn sweep_pending(&self, grace: Duration) -> Result<usize, SubmitError> {
        let pending = self
            .store
            .transact(|tx| async move { jobs::list_pending_dispatch(&tx, 500).await })
            .await?;
        let cutoff = now_ms() - grace.as_millis() as i64;
        let mut dispatched = 0;
        for (job_id, run_bytes) in pending {
            let Ok(run) = prism_bus::decode::<JobRun>(&run_bytes) else {
                tracing::error!(job_id, "pending run message does not decode; left in place");
                continue;
            };
            if run.created_at_ms > cutoff {
                continue;
            }
            tracing::info!(job_id, "dispatching a job left pending");
            self.dispatch(&job_id, &run_bytes).await?;
            dispatched += 1;
        }
        Ok(dispatched)
    }
}

/// Whether `request` asks for what `job` was submitted with: a retry, not a new job.
fn same_request(job: &JobRecord, request: &SubmitRequest) -> bool {
    job.dataflow == request.dataflow
        && request.version.is_none_or(|v| v == job.dataflow_version)
        && request
            .parameters
            .iter()
            .all(|(name, value)| job.parameters.get(name) == Some(value))
}
