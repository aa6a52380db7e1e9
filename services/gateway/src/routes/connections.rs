//! Data connections: where jobs may read and write.
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use prism_bus::subjects::ConfigOp;
use prism_schemas::v1::ConnectionRecord;
use prism_store::records::now_ms;

use crate::auth::Caller;
use crate::bodies;
use crate::catalog::{self, Draft, Saved};
use crate::error::{ApiError, ApiResult};
use crate::input::{self, Typed};
use crate::state::AppState;

/// Creates or replaces a connection; its root must lie within the file roots.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(spec): Typed<bodies::ConnectionSpec>,
) -> ApiResult<Saved<ConnectionRecord>> {
    input::check_name("name", &name)?;
    input::non_empty("kind", &spec.kind)?;
    if spec.kind != "local" {
        return Err(ApiError::invalid("kind", "supported kinds: \"local\""));
    }
    input::non_empty("root", &spec.root)?;
    prism_dataflow::paths::within_roots(&state.file_roots, FsPath::new(&spec.root))
        .map_err(|e| ApiError::invalid("root", e.to_string()))?;
    let spec = &spec;
    catalog::save(
        &state,
        caller.name(),
        &name,
        ConfigOp::Put,
        |_, existing: Option<ConnectionRecord>| {
            let name = name.clone();
            async move {
                let now = now_ms();
                Ok(Ok(Draft::of(ConnectionRecord {
                    created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
                    name,
                    kind: spec.kind.clone(),
                    root: spec.root.clone(),
                    updated_at_ms: now,
                })))
            }
        },
    )
    .await
}
