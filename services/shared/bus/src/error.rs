use prism_errors::Retryable;
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// A JetStream request failed or timed out: the bus is (briefly) unavailable.
    #[error("jetstream {operation} failed: {reason}")]
    JetStream {
        operation: &'static str,
        reason: String,
    },
    #[error("malformed {message_type} message: {reason}")]
    Decode {
        message_type: &'static str,
        reason: String,
    },
    /// A name that cannot be a subject token or bucket key, e.g. a job id that is not
    /// a UUID.
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

impl Retryable for Error {
    /// An unreachable or electing bus may come back; a message that does not decode,
    /// or a name that is not valid, never will.
    fn retryable(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::JetStream { .. })
    }
}

impl Error {
    pub fn jetstream(operation: &'static str, error: impl std::fmt::Display) -> Self {
        Error::JetStream {
            operation,
            reason: error.to_string(),
        }
    }

    pub fn decode<M: prost::Name>(error: impl std::fmt::Display) -> Self {
        Error::Decode {
            message_type: M::NAME,
            reason: error.to_string(),
        }
    }
}
