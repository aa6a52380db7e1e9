use prism_errors::{Code, Retryable};
use thiserror::Error;

/// Why a submission was refused. `field` names the offending input, as in the HTTP
/// error body.
#[derive(Debug, Error)]
pub enum SubmitError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{message}")]
    NotFound { field: String, message: String },
    /// The idempotency key names a job submitted with a different request.
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("configuration database unavailable: {0}")]
    Store(#[from] prism_store::Error),
    #[error("bus unavailable: {0}")]
    Bus(#[from] prism_bus::Error),
}

impl From<prism_outbox::Error> for SubmitError {
    fn from(error: prism_outbox::Error) -> Self {
        match error {
            prism_outbox::Error::Store(e) => SubmitError::Store(e),
            prism_outbox::Error::Bus(e) => SubmitError::Bus(e),
        }
    }
}

impl SubmitError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SubmitError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> Self {
        SubmitError::NotFound {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable code, shared by HTTP and bus answers.
    pub fn code(&self) -> Code {
        match self {
            SubmitError::Invalid { .. } => Code::InvalidArgument,
            SubmitError::NotFound { .. } => Code::NotFound,
            SubmitError::Conflict { .. } => Code::Conflict,
            SubmitError::Store(e) => e.code(),
            SubmitError::Bus(_) => Code::Unavailable,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            SubmitError::Invalid { field, .. }
            | SubmitError::NotFound { field, .. }
            | SubmitError::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl Retryable for SubmitError {
    /// The caller's mistakes stay mistakes; outages pass.
    fn retryable(&self) -> bool {
        match self {
            SubmitError::Store(e) => e.retryable(),
            SubmitError::Bus(e) => e.retryable(),
            _ => false,
        }
    }
}
