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

impl SubmitError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SubmitError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable machine-readable code, shared by HTTP and bus answers.
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Invalid { .. } => "invalid_argument",
            SubmitError::NotFound { .. } => "not_found",
            SubmitError::Conflict { .. } => "conflict",
            SubmitError::Store(_) | SubmitError::Bus(_) => "unavailable",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            SubmitError::Invalid { field, .. } | SubmitError::NotFound { field, .. } => Some(field),
            _ => None,
        }
    }
}
