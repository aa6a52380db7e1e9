//! Real-time services and their calls.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

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

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    /// Input rows (a row that is not an object is a row error of the answer).
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
    /// Values of the dataflow's parameters.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Map<String, Value>>,
}

/// A row the service refused, by its index in the request.
#[derive(Serialize, ToSchema)]
pub struct RowError {
    pub row: u64,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceAnswer {
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
    /// Rows refused, by their index in the request; absent when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowError>>,
    /// Rows the request held.
    pub rows_in: u64,
    /// The executor that answered.
    pub node: String,
    pub version: u32,
    pub duration_ms: f64,
    pub request_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct RestAnswer {
    #[serde(rename = "Output")]
    #[schema(value_type = Vec<Object>)]
    pub output: Vec<Value>,
    /// Rows refused, as in the answer of `invoke`; absent when none was.
    #[serde(rename = "Errors", skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowError>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestRequest {
    #[serde(rename = "Input")]
    pub input: RestInput,
    /// The parameters' values.
    #[serde(rename = "Options")]
    #[schema(value_type = Option<Object>)]
    pub options: Option<Map<String, Value>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestInput {
    #[serde(rename = "Row")]
    #[schema(value_type = Vec<Object>)]
    pub row: Vec<Value>,
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
