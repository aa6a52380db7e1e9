use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::bodies;
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

pub async fn healthz() -> Json<bodies::Status> {
    Json(bodies::Status {
        status: "ok".into(),
    })
}

/// Ready only when both the bus and the configuration database answer.
pub async fn readyz(State(state): State<Arc<AppState>>) -> ApiResult<Json<bodies::Status>> {
    if !state.bus.is_connected() {
        return Err(ApiError::new(
            Code::Unavailable,
            None,
            "not connected to NATS",
        ));
    }
    state.store.ping().await?;
    Ok(Json(bodies::Status {
        status: "ready".into(),
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, None, "no such route")
}
