//! Connections and dataflows.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// `local`: files under `root`, which must lie within the server's file roots.
    pub kind: String,
    pub root: String,
}

#[derive(Serialize, ToSchema)]
pub struct Connection {
    pub name: String,
    pub kind: String,
    pub root: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Connections {
    pub connections: Vec<Connection>,
}

/// A dataflow document (JSON, or YAML with `content-type: application/yaml`):
/// `{"kind":"job"|"service","parameters"?,"input"?,"stages":[...]}`; see the README.
#[derive(Serialize, ToSchema)]
pub struct DataflowDocument {
    pub kind: String,
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub stages: Value,
}

#[derive(Serialize, ToSchema)]
pub struct DataflowSaved {
    pub name: String,
    pub version: u32,
}

#[derive(Serialize, ToSchema)]
pub struct DataflowVersion {
    pub name: String,
    pub version: u32,
    pub created_at: Option<String>,
    #[schema(value_type = Object)]
    pub document: Value,
}

#[derive(Serialize, ToSchema)]
pub struct DataflowSummary {
    pub name: String,
    pub latest_version: u32,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Dataflows {
    pub dataflows: Vec<DataflowSummary>,
}
