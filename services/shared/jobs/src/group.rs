//! Group commit of accepts. Each accepting transaction ends with a disk sync, and
//! one store takes one commit at a time: one transaction per job caps submissions
//! at the disk's syncs per second. So the submissions waiting when a commit ends
//! are accepted together, in one transaction, each with its own decision (a
//! refusal writes nothing, so it cannot harm the others). One waiting alone is
//! committed at once: batching adds no delay, it only fills the time a commit takes.
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::error::SubmitError;
use crate::submit::{Accepted, Acceptor, SubmitRequest};

/// Submissions waiting for their commit, at most; the gateway bounds its own.
pub(crate) const QUEUE: usize = 1024;
/// Accepted in one transaction at most: each writes a job record, a key and an
/// outbox entry holding the dataflow document, well within 10 MB for 64.
const GROUP: usize = 64;

/// What one submission's part of the transaction decided, or the store's error.
type Decided = prism_store::Result<Result<Accepted, SubmitError>>;

pub(crate) struct Pending {
    pub request: SubmitRequest,
    pub job_id: String,
    pub reply: oneshot::Sender<Decided>,
    /// The submitter's span: its part of the group's transaction runs in it, so the
    /// job record and the run message carry the submitter's trace.
    pub span: tracing::Span,
}

/// Commits the queued submissions in groups until every submitter is gone.
pub(crate) async fn commit_accepts(acceptor: Arc<Acceptor>, mut queue: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(GROUP);
    while queue.recv_many(&mut group, GROUP).await > 0 {
        match accept_all(&acceptor, &group).await {
            Ok(decisions) => {
                for (pending, decided) in group.drain(..).zip(decisions) {
                    let _ = pending.reply.send(Ok(decided));
                }
            }
            // A group that cannot commit (too large, an outage): each on its own,
            // so one submission's trouble is its own.
            Err(_) => {
                for pending in group.drain(..) {
                    let decided = accept_one(&acceptor, &pending).await;
                    let _ = pending.reply.send(decided);
                }
            }
        }
    }
}

async fn accept_all(
    acceptor: &Acceptor,
    group: &[Pending],
) -> prism_store::Result<Vec<Result<Accepted, SubmitError>>> {
    acceptor
        .outbox
        .store
        .transact_write(|tx| async move {
            let mut decisions = Vec::with_capacity(group.len());
            for pending in group {
                let decided = acceptor
                    .accept(&tx, &pending.request, &pending.job_id)
                    .instrument(pending.span.clone())
                    .await?;
                decisions.push(decided);
            }
            Ok(decisions)
        })
        .await
}

async fn accept_one(acceptor: &Acceptor, pending: &Pending) -> Decided {
    acceptor
        .outbox
        .store
        .transact_write(|tx| async move {
            acceptor
                .accept(&tx, &pending.request, &pending.job_id)
                .instrument(pending.span.clone())
                .await
        })
        .await
}
