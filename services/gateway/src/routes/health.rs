use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready only when both the bus and the configuration database answer.
pub async fn readyz(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    if !state.bus.is_connected() {
        return Err(ApiError::new(
            Code::Unavailable,
            None,
            "not connected to NATS",
        ));
    }
    state.store.ping().await?;
    Ok(Json(json!({ "status": "ready" })))
}

pub async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, None, "no such route")
}
