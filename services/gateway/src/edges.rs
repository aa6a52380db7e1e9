//! What every request meets before any route: a content type Prism reads, a bounded
//! body, and a deadline. Each refusal is the usual JSON error.
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Code};

/// The largest body any route reads (a dataflow document is at most 90 KB).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// How long one request may take before it is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An `invalid_argument` error answered with `status` (413, 415).
fn refusal(status: StatusCode, field: &str, message: String) -> Response {
    let mut response = ApiError::invalid(field, message).into_response();
    *response.status_mut() = status;
    response
}

/// JSON or YAML only (or no type at all, read as JSON): anything else is 415.
fn acceptable(request: &Request) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/yaml"
            | "application/x-yaml"
            | "text/yaml"
            | "text/x-yaml"
    )
}

pub async fn edges(request: Request, next: Next) -> Response {
    let has_body = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    );
    if has_body && !acceptable(&request) {
        let message = "send JSON (application/json) or YAML (application/yaml)".to_string();
        return refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type", message);
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        let message = format!("the body is larger than {MAX_BODY_BYTES} bytes");
        refusal(StatusCode::PAYLOAD_TOO_LARGE, "body", message)
    };
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return too_large();
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        // A body without a length that turned out too long: the extractor's plain
        // answer, made the usual JSON one.
        Ok(response) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        Ok(response) => response,
        Err(_) => ApiError::new(
            Code::Unavailable,
            None,
            format!(
                "the request took longer than {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}
