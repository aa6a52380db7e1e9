use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use prism_auth::Entity;
use prism_bus::{nodes, subjects};

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::Change;
use crate::error::{ApiError, ApiResult, Code};
use crate::input;
use crate::state::AppState;
use prism_bus::subjects::{ConfigEntity, ConfigOp};

fn body(listed: &nodes::Node) -> bodies::Node {
    let node = &listed.info;
    let health = if listed.is_healthy() {
        "healthy"
    } else {
        "unhealthy"
    };
    bodies::Node {
        clock_offset_ms: listed.clock_offset_ms,
        id: node.id.clone(),
        role: node.role.clone(),
        version: node.version.clone(),
        host: node.host.clone(),
        started_at: input::time_text(node.started_at_ms),
        heartbeat_at: input::time_text(node.heartbeat_at_ms),
        in_flight: node.in_flight,
        draining: node.draining,
        health: health.to_string(),
    }
}

async fn all(state: &AppState) -> ApiResult<Vec<nodes::Node>> {
    Ok(nodes::list(&state.bus, &state.topology).await?)
}

/// The nodes the caller may view (a node is named by its id).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<bodies::Nodes>> {
    let nodes = all(&state).await?;
    let nodes = caller
        .visible(&state, Entity::Cluster, nodes, |n| &n.info.id)
        .await?;
    Ok(Json(bodies::Nodes {
        nodes: nodes.iter().map(body).collect(),
    }))
}

/// Asks an executor to stop taking jobs, finish its running ones, and exit.
pub async fn drain(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<bodies::Node>)> {
    let nodes = all(&state).await?;
    let Some(listed) = nodes.iter().find(|n| n.info.id == id) else {
        return Err(ApiError::not_found("id", format!("no live node {id:?}")));
    };
    let node = &listed.info;
    if !matches!(node.role.as_str(), "executor" | "standalone" | "node") {
        return Err(ApiError::invalid(
            "id",
            format!("node {id:?} is a {}; only executors drain", node.role),
        ));
    }
    // Recorded before it is sent: a drain request is never unaudited.
    let change = Change::new(
        caller.name(),
        ConfigEntity::Node,
        ConfigOp::Drain,
        &id,
        serde_json::Value::Object(Default::default()),
    );
    let staged = state.stage_alone(&change).await?;
    state
        .bus
        .client
        .publish(subjects::drain(&id), "drain".into())
        .await
        .map_err(|e| ApiError::new(Code::Unavailable, None, format!("bus: {e}")))?;
    state.announce(&staged).await;
    Ok((StatusCode::ACCEPTED, Json(body(listed))))
}
