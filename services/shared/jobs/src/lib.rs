//! Job submission, shared by `POST /v1/jobs`, bus submissions (`prism.jobs.submit`)
//! and the scheduler, so all three validate, de-duplicate and dispatch alike.
//!
//! A job is accepted in one store transaction that writes the job record, its
//! idempotency key and the run message as "pending dispatch". The run message is then
//! published to `JOBS` (`Nats-Msg-Id` = job id) and the pending mark is cleared.
//! Whatever crashes in between, the pending mark remains, and the next replay of the
//! same idempotency key or the scheduler's sweep publishes it again; JetStream drops
//! the duplicate, and the executors' attempt bucket fences it beyond that window.
mod error;
mod submit;

pub use error::SubmitError;
pub use submit::{SubmitRequest, Submitted, Submitter};
