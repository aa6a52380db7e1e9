//! Real-time services and their calls.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Object;

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub dataflow: String,
    /// Pins a version; absent, the service follows the latest one.
    pub version: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub max_inflight: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Service {
    pub name: String,
    pub dataflow: String,
    pub version: u32,
    pub pinned: bool,
    pub timeout_ms: u32,
    pub max_inflight: u32,
    pub exposed_by: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Services {
    pub services: Vec<Service>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceRequest {
    pub rows: Vec<Object>,
    pub parameters: Option<Object>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceAnswer {
    pub rows: Vec<Object>,
    /// Rows refused, by their index in the request.
    pub errors: Option<Vec<Object>>,
    pub version: u32,
    pub duration_ms: f64,
    pub request_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct RestAnswer {
    #[serde(rename = "Output")]
    pub output: Vec<Object>,
    /// Rows refused, as in the answer of `invoke`.
    #[serde(rename = "Errors")]
    pub errors: Option<Vec<Object>>,
}

#[derive(Serialize, ToSchema)]
pub struct RestRequest {
    #[serde(rename = "Input")]
    pub input: RestInput,
    /// The parameters' values.
    #[serde(rename = "Options")]
    pub options: Option<Object>,
}

#[derive(Serialize, ToSchema)]
pub struct RestInput {
    #[serde(rename = "Row")]
    pub row: Vec<Object>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceStats {
    pub service: String,
    pub window_seconds: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub truncated: bool,
}
