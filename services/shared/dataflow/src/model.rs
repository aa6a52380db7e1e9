use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Runs as a batch job: reads, transforms, writes.
    Job,
    /// Answers requests: an input row set in, the output stage's rows out.
    Service,
}

/// The type of a field of a service's request rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Float,
    Boolean,
    Date,
    Timestamp,
}

impl FieldType {
    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" => FieldType::String,
            "integer" => FieldType::Integer,
            "float" => FieldType::Float,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "timestamp" => FieldType::Timestamp,
            _ => return None,
        })
    }
}

/// One field of a service's request rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputField {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "csv" => Format::Csv,
            "jsonl" => Format::Jsonl,
            "parquet" => Format::Parquet,
            _ => return None,
        })
    }
}

/// What a database read reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableSource {
    /// A table or view, `name` or `schema.name`.
    Table(String),
    /// One SELECT, vetted like a SQL stage; `${name}` parameters are values.
    Query(String),
}

/// How a database write treats the rows already in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Adds the rows.
    Append,
    /// Replaces every row with the job's.
    Replace,
    /// Inserts the rows, or updates those whose `keys` match.
    Upsert,
}

impl WriteMode {
    pub fn parse(name: &str) -> Option<WriteMode> {
        Some(match name {
            "append" => WriteMode::Append,
            "replace" => WriteMode::Replace,
            "upsert" => WriteMode::Upsert,
            _ => return None,
        })
    }
}

/// A validated dataflow: stages in an order where every input comes first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataflow {
    pub kind: Kind,
    /// Declared parameters with their defaults (`None`: the job must give a value).
    pub parameters: BTreeMap<String, Option<String>>,
    pub stages: Vec<Stage>,
    /// How long a job of this dataflow may run (`timeout_seconds`); `None`: the
    /// executor's default. Executors cap it at their maximum.
    pub timeout: Option<std::time::Duration>,
}

/// A dataflow as those who run it, schedule it or expose it see it, computed once
/// when a version is saved (`Dataflow::outline`) and kept with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outline {
    pub kind: Kind,
    /// Declared parameters with their defaults.
    pub parameters: BTreeMap<String, Option<String>>,
    /// Every read and write path, placeholders and all.
    pub paths: Vec<String>,
    /// Every connection named, each once, in name order.
    pub connections: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub id: String,
    pub spec: StageSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StageSpec {
    /// Reads a file of a connection into a table named by the stage id.
    Read {
        connection: String,
        path: String,
        format: Format,
        /// Every column as text, nothing inferred (CSV): what validating the
        /// values of a file needs, since a value that does not fit an inferred
        /// type would fail the read.
        text: bool,
    },
    /// Reads a database table, or the rows of one SELECT, of a `postgres`
    /// connection; later SQL stages' filters, columns and limits run in the
    /// database.
    #[serde(rename = "read")]
    ReadTable {
        connection: String,
        source: TableSource,
    },
    /// A SQL query over earlier stages, each visible as a table named by its id.
    Sql { inputs: Vec<String>, query: String },
    /// Writes a stage's rows to a file of a connection, atomically.
    Write {
        input: String,
        connection: String,
        path: String,
        format: Format,
    },
    /// Writes a stage's rows into a table of a `postgres` connection, staged and
    /// made visible once, in one transaction.
    #[serde(rename = "write")]
    WriteTable {
        input: String,
        connection: String,
        table: String,
        mode: WriteMode,
        /// The columns an upsert matches rows on.
        keys: Vec<String>,
    },
    /// Waits before the next stage: for pacing calls to slow systems, and for
    /// demonstrating and testing long jobs.
    Delay { milliseconds: u64 },
    /// A service's request rows, as a table named by the stage id.
    Input { fields: Vec<InputField> },
    /// A service's answer: the rows of stage `input`.
    Output { input: String },
    /// The rows of `input` that pass every check, as the stage; those that fail,
    /// with `reject_reasons`, as `<id>_rejects`.
    Validate {
        input: String,
        checks: Vec<crate::quality::Check>,
    },
    /// `input` with text steps and lookups applied per field.
    Standardize {
        input: String,
        fields: Vec<crate::quality::FieldSteps>,
    },
    /// Scored pairs of records, as the stage; within one input, the input with a
    /// `cluster_id` per record (transitive groups), as `<id>_clusters`.
    Match(crate::quality::MatchSpec),
    /// One record of `input` per `cluster`, by preference (and fields from
    /// their own best records).
    Survive(crate::quality::SurviveSpec),
}

impl Dataflow {
    /// Names of the connections the stages use, each once.
    /// Every file path of the dataflow (reads and writes), as written.
    /// What accepting a job, saving a schedule or exposing a service needs of it.
    pub fn outline(&self) -> Outline {
        Outline {
            kind: self.kind,
            parameters: self.parameters.clone(),
            paths: self.paths().into_iter().map(str::to_string).collect(),
            connections: self.connections().into_iter().map(str::to_string).collect(),
        }
    }

    pub fn paths(&self) -> Vec<&str> {
        self.stages
            .iter()
            .filter_map(|stage| match &stage.spec {
                StageSpec::Read { path, .. } | StageSpec::Write { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn connections(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .stages
            .iter()
            .filter_map(|stage| match &stage.spec {
                StageSpec::Read { connection, .. }
                | StageSpec::Write { connection, .. }
                | StageSpec::ReadTable { connection, .. }
                | StageSpec::WriteTable { connection, .. } => Some(connection.as_str()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}
