//! Why a run did not succeed, classified for the delivery (retry or end).
use std::time::Duration;

use prism_errors::Retryable;

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The dataflow or its data is wrong: running it again gives the same answer.
    #[error("{0}")]
    Dataflow(String),
    /// The machine failed (disk, I/O): another attempt may succeed.
    #[error("{0}")]
    Io(String),
    #[error("cancelled")]
    Cancelled,
    /// The job ran longer than it may; its reason starts with `timeout`.
    #[error("timeout: the job ran longer than {} s", .0.as_secs())]
    Timeout(Duration),
}

impl Retryable for EngineError {
    fn retryable(&self) -> bool {
        matches!(self, EngineError::Io(_))
    }
}

pub(crate) fn dataflow_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Dataflow(e.to_string())
}

/// `error` with the stage named first, its kind kept.
pub(crate) fn in_stage(id: &str, error: EngineError) -> EngineError {
    match error {
        EngineError::Dataflow(text) => EngineError::Dataflow(format!("stage {id}: {text}")),
        EngineError::Io(text) => EngineError::Io(format!("stage {id}: {text}")),
        other => other,
    }
}

pub(crate) fn io_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Io(e.to_string())
}
