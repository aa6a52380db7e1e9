//! The one error type of the HTTP API: every failure answers
//! `{"error":{"code","message","field"}}` with the status its [`Code`] implies.
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
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
    /// Seconds to wait before trying again (`Retry-After`): after too many failed
    /// logins (429), and when the server is busy or a service is at its limit (503).
    pub retry_after_secs: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: field.map(str::to_string),
            details: None,
            retry_after_secs: None,
        }
    }

    /// 401: no valid credential. The message says which way it is wrong, never
    /// whether a user exists.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, Some("Authorization"), message)
    }

    /// 403 naming the permission that is missing (`execute on dataflows/adults`).
    pub fn forbidden(permission: &prism_auth::Permission, because: &str) -> Self {
        let mut error = Self::new(
            Code::PermissionDenied,
            None,
            format!("missing permission: {permission}"),
        );
        error.details = Some(json!({ "permission": permission.to_string(), "because": because }));
        error
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, Some(field), message)
    }

    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, Some(field), message)
    }

    /// 500: the server's own failure (a key that does not open what it sealed).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, None, message)
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
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        if self.code == Code::Unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
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
