//! The HTTP API, one module per resource.
mod audit;
mod cluster;
mod connections;
mod dataflows;
mod health;
mod jobs;
mod schedules;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/connections", get(connections::list))
        .route(
            "/v1/connections/{name}",
            get(connections::get).put(connections::put),
        )
        .route("/v1/dataflows", get(dataflows::list))
        .route(
            "/v1/dataflows/{name}",
            get(dataflows::get_latest).put(dataflows::put),
        )
        .route(
            "/v1/dataflows/{name}/versions/{version}",
            get(dataflows::get_version),
        )
        .route("/v1/jobs", get(jobs::list).post(jobs::submit))
        .route("/v1/jobs/{id}", get(jobs::get))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/schedules", get(schedules::list))
        .route(
            "/v1/schedules/{name}",
            get(schedules::get)
                .put(schedules::put)
                .delete(schedules::delete),
        )
        .route("/v1/audit", get(audit::list))
        .route("/v1/audit/dead-letters", get(audit::dead_letters))
        .route("/v1/cluster/nodes", get(cluster::list))
        .route("/v1/cluster/nodes/{id}/drain", post(cluster::drain))
        .fallback(health::not_found)
        .with_state(state)
}
