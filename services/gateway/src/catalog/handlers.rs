//! The routes every catalogued entity answers the same way: one by name, and the
//! list of those the caller may view. The route table names them per entity
//! (`handlers::get::<ConnectionRecord>`).
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::Entry;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// `GET /v1/<entities>/{name}`.
pub async fn get<E: Entry>(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<E::Body>> {
    let record: E = super::read(&state, &name).await?;
    Ok(Json(record.body()))
}

/// `GET /v1/<entities>`: those the caller may view.
pub async fn list<E: Entry>(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<E::List>> {
    let visible = super::visible::<E>(&state, &caller).await?;
    Ok(Json(E::listed(visible)))
}
