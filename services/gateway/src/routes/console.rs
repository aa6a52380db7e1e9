//! The web console's files, embedded in the binary (`prism-console`), served to
//! anyone: they hold no data, every call the console makes is an API operation
//! that checks its caller. The page's policy lets it load and call nothing but
//! this origin.
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Scripts, styles, images and calls from this origin only; no plugins, no
/// framing, no `<base>` tricks, forms posting nowhere else.
const POLICY: &str = "default-src 'self'; base-uri 'none'; object-src 'none'; \
                      frame-ancestors 'none'; form-action 'self'";

fn serve(file: &'static prism_console::File) -> Response {
    let cache = if file.immutable {
        "public, max-age=31536000, immutable"
    } else {
        // The page names the current assets: always ask whether it changed.
        "no-cache"
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    (StatusCode::OK, headers, file.bytes).into_response()
}

/// The console's page.
pub async fn page() -> Response {
    match prism_console::file("index.html") {
        Some(file) => serve(file),
        None => ApiError::not_found("path", "the console is not built").into_response(),
    }
}

/// One of its built files (`/assets/<name>`).
pub async fn asset(Path(name): Path<String>) -> Response {
    match prism_console::file(&format!("assets/{name}")) {
        Some(file) => serve(file),
        None => ApiError::not_found("name", format!("no console file {name:?}")).into_response(),
    }
}
