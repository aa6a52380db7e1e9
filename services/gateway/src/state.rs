use std::future::Future;
use std::sync::Arc;

use prism_bus::Bus;
use prism_bus::attempts::Attempts;
use prism_jobs::Submitter;
use prism_outbox::{Outbox, Staged};
use prism_store::records::auth_generation;
use prism_store::{Store, Tx};

use crate::auth::directory::Directory;
use crate::auth::throttle::Throttle;
use crate::catalog::Change;
use crate::error::ApiError;

/// What every handler shares.
pub struct AppState {
    /// Users, roles, overrides and tokens, cached (see [`Directory`]).
    pub directory: Arc<Directory>,
    /// Failed logins, per user name.
    pub throttle: Throttle,
    /// Directories `local` connections may use.
    pub file_roots: Vec<std::path::PathBuf>,
    /// The master keys that seal secrets (none: secrets cannot be set).
    pub keyring: Option<Arc<prism_secrets::Keyring>>,
    /// Where `postgres` and `s3` connections may reach.
    pub connection_hosts: prism_connections::Reach,
    /// Submissions (HTTP and bus) being accepted at once; beyond, 503.
    pub submissions: tokio::sync::Semaphore,
    /// Service records as last read, for calls (see `routes::calls`).
    pub service_records: std::sync::Mutex<
        std::collections::HashMap<
            String,
            (std::time::Instant, Option<prism_schemas::v1::ServiceRecord>),
        >,
    >,
    /// The connections each dataflow's latest version names, for checking
    /// submissions (see [`crate::latest`]).
    pub latest_connections: Arc<crate::latest::LatestConnections>,
    /// Each service's places for calls in flight (its `max_inflight`), per gateway.
    pub service_slots:
        std::sync::Mutex<std::collections::HashMap<String, (u32, Arc<tokio::sync::Semaphore>)>>,
    pub store: Store,
    pub bus: Bus,
    pub outbox: Outbox,
    pub submitter: Submitter,
    /// The attempt fence: where cancel requests go (executors never read the store).
    pub attempts: Attempts,
    pub topology: prism_bus::topology::Topology,
    /// The executor pool jobs and previews are sent to.
    pub pool: String,
}

impl AppState {
    /// The keyring, or 503 saying how to configure one.
    pub fn keyring(&self) -> Result<&prism_secrets::Keyring, ApiError> {
        self.keyring.as_deref().ok_or_else(|| {
            ApiError::new(
                prism_errors::Code::Unavailable,
                None,
                "this gateway has no master key: set PRISM_MASTER_KEY_FILE",
            )
        })
    }

    /// Records a change that has nothing else in its transaction (a setting kept on
    /// the bus, a drain request): its event, staged in the outbox.
    pub async fn stage_alone(&self, change: &Change<'_>) -> prism_store::Result<Staged> {
        self.store
            .transact(|tx| async move { change.stage(&tx).await })
            .await
    }

    /// Publishes a committed change's outbox entry. A failure is logged, not undone:
    /// the entry stays and the outbox relay publishes it.
    pub async fn announce(&self, staged: &Staged) {
        self.latest_connections.forget_changed(staged);
        if let Err(error) = self.outbox.publish(staged).await {
            tracing::warn!(%error, outbox_id = %staged.id, "change not announced yet; left to the relay");
        }
    }

    /// After a committed change that may take a permission or a token away: this
    /// gateway forgets what it cached at once (the others within their poll).
    pub fn auth_changed(&self, generation: u64) {
        self.directory.observe(generation);
    }

    /// Applies a change to users, roles, overrides or tokens: `apply` (answering
    /// false when there was nothing to change), the auth generation's move and the
    /// change's announcement, all in one transaction; then forgets this gateway's
    /// cache and announces. Answers whether anything changed.
    pub async fn change_auth<F, Fut>(
        &self,
        change: &Change<'_>,
        apply: F,
    ) -> prism_store::Result<bool>
    where
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = prism_store::Result<bool>>,
    {
        let committed = self
            .store
            .transact(|tx| {
                let applied = apply(tx.clone());
                async move {
                    if !applied.await? {
                        return Ok(None);
                    }
                    let generation = auth_generation::bump(&tx).await?;
                    Ok(Some((generation, change.stage(&tx).await?)))
                }
            })
            .await?;
        let Some((generation, staged)) = committed else {
            return Ok(false);
        };
        self.auth_committed(generation, &staged).await;
        Ok(true)
    }

    /// A place among the submissions being accepted, or 503 with `Retry-After`
    /// when all are taken: a flood of submissions waits at the door, not inside.
    pub fn admit_submission(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.submissions.try_acquire().map_err(|_| {
            let mut error = ApiError::new(
                prism_errors::Code::Unavailable,
                None,
                "too many submissions at once: try again shortly",
            );
            error.retry_after_secs = Some(1);
            error
        })
    }

    /// Submits a job the caller was authorized for. A refusal because the
    /// dataflow's connections changed drops what this gateway cached of them.
    pub async fn submit(
        &self,
        request: prism_jobs::SubmitRequest,
    ) -> Result<prism_jobs::Submitted, prism_jobs::SubmitError> {
        let dataflow = request.dataflow.clone();
        let submitted = self.submitter.submit(request).await;
        if let Err(prism_jobs::SubmitError::Conflict { field, .. }) = &submitted
            && field == "dataflow"
        {
            self.latest_connections.forget(&dataflow);
        }
        submitted
    }

    /// After exposing or unexposing through this gateway: its calls see it at once.
    pub fn forget_service(&self, name: &str) {
        self.service_records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// [`AppState::auth_changed`], then [`AppState::announce`].
    pub async fn auth_committed(&self, generation: u64, staged: &Staged) {
        self.auth_changed(generation);
        self.announce(staged).await;
    }
}
