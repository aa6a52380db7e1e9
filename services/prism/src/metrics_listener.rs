//! `/metrics` and `/healthz` for processes without an API port (executor,
//! scheduler, audit): on `PRISM_METRICS_ADDR`, `/metrics` for callers with the
//! bearer token `PRISM_METRICS_TOKEN` (the operator's Prometheus), `/healthz` for
//! anyone (it says only that the process answers), `/readyz` for anyone (whether
//! the process has what it needs from the bus, or is still waiting for it).
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding PRISM_METRICS_ADDR {addr}"))
}

pub async fn serve(
    listener: TcpListener,
    token: String,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let token = Arc::new(token);
    let app = Router::new()
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Relaxed);
                async move { readiness(ready) }
            }),
        )
        .route(
            "/healthz",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"status":"ok"}"#,
                )
            }),
        )
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let token = token.clone();
                async move { metrics(&headers, &token) }
            }),
        );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "metrics listener stopped");
    }
}

/// Ready once the streams and buckets exist; "starting" while the bus is awaited.
fn readiness(ready: bool) -> Response {
    let (status, body) = if ready {
        (StatusCode::OK, r#"{"status":"ready"}"#)
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":{"code":"unavailable","message":"starting: waiting for the bus"}}"#,
        )
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn metrics(headers: &HeaderMap, token: &str) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|given| same(given.as_bytes(), token.as_bytes())) {
        let body = r#"{"error":{"code":"unauthenticated","message":"the metrics token is required","field":"Authorization"}}"#;
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            body,
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        prism_metrics::get().render(),
    )
        .into_response()
}

/// Compares in time that depends on the length only, not on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
