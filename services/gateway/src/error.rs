//! The one error type of the HTTP API: every failure answers
//! `{"error":{"code","message","field"}}` with the status its [`Code`] implies.
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prism_errors::Retryable;
use prism_jobs::SubmitError;
use serde_json::{Value, json};

pub use prism_errors::Code;

#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub field: Option<String>,
    /// Extra structured detail, e.g. every problem of a dataflow document.
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: field.map(str::to_string),
            details: None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, Some(field), message)
    }

    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, Some(field), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({
            "code": self.code.name(),
            "message": self.message,
            "field": self.field,
        });
        if let Some(details) = self.details {
            error["details"] = details;
        }
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<prism_store::Error> for ApiError {
    fn from(error: prism_store::Error) -> Self {
        tracing::warn!(%error, "store error");
        ApiError::new(
            error.code(),
            None,
            format!("configuration database: {error}"),
        )
    }
}

impl From<prism_bus::Error> for ApiError {
    fn from(error: prism_bus::Error) -> Self {
        tracing::warn!(%error, "bus error");
        let code = if error.retryable() {
            Code::Unavailable
        } else {
            Code::Internal
        };
        ApiError::new(code, None, format!("bus: {error}"))
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Store(e) => e.into(),
            SubmitError::Bus(e) => e.into(),
            other => ApiError::new(other.code(), other.field(), other.to_string()),
        }
    }
}
