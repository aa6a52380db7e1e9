//! The bodies of the HTTP API as Rust types, one module per area: the OpenAPI
//! document's schemas are derived from them (`ToSchema`), every handler answers by
//! serializing one of them, and every request body is read into one of them
//! (`input::Typed`; the request types refuse unknown fields), but a dataflow
//! document, which is JSON or YAML and read by `prism_dataflow`. So the document
//! and the answers cannot drift apart, and schemathesis holds both to it in CI
//! (`tests/contract.sh`). Built by hand: only an error's `details`.
//!
//! Times are RFC 3339 with milliseconds, in UTC; `null` when not yet reached.
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Any JSON object (a dataflow document, audit details, a service's row).
pub type Object = BTreeMap<String, Value>;

/// A JSON object of any shape, as a body of its own.
#[derive(Serialize, ToSchema)]
pub struct AnyObject(pub Object);

/// Every failure: `{"error":{"code","message","field"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_argument`, `unauthenticated`, `permission_denied`, `not_found`,
    /// `conflict`, `unprocessable`, `resource_exhausted`, `unavailable`,
    /// `deadline_exceeded`, `internal`.
    pub code: String,
    pub message: String,
    /// The request field, header or parameter at fault.
    pub field: Option<String>,
    /// More structure, e.g. every problem of a dataflow document.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

mod access;
mod configuration;
mod jobs;
mod operations;
mod services;

pub use access::*;
pub use configuration::*;
pub use jobs::*;
pub use operations::*;
pub use services::*;
