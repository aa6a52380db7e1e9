//! Job submission, shared by `POST /v1/jobs`, bus submissions (`prism.jobs.submit`)
//! and the scheduler, so all three validate, de-duplicate and dispatch alike.
//!
//! A job is accepted in one store transaction (shared by the submissions that
//! arrive together, [`group`]) that writes the job record, its
//! idempotency key and an outbox entry holding the run message and the `queued`
//! event. They are then published (`Nats-Msg-Id` = job id for the run) and the entry
//! is cleared. Whatever crashes in between, the entry remains, and the next replay
//! of the same idempotency key or the outbox relay of any gateway or scheduler
//! publishes it again; JetStream drops the duplicate, and the executors' attempt
//! bucket fences it beyond that window.
#![forbid(unsafe_code)]
mod error;
pub mod flows;
mod group;
pub mod outline;
mod submit;

pub use error::SubmitError;
pub use submit::{
    Decision, SubmitRequest, Submitted, Submitter, connections_of, snapshot_connections,
};
