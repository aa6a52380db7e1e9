use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
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
}

impl Error {
    pub fn jetstream(operation: &'static str, error: impl std::fmt::Display) -> Self {
        Error::JetStream {
            operation,
            reason: error.to_string(),
        }
    }
}
