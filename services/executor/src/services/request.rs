//! One service version, compiled (its dataflow, the schema of its request rows and
//! its reference tables, loaded once), and the answer to one request: rows in,
//! the output stage's rows out, each invalid row reported without failing the rest.
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::json::{ArrayWriter, ReaderBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use prism_bus::service_call::{
    CallAnswer, CallError, CallRefused, CallReply, CallRequest, RowError,
};
use prism_dataflow::model::{FieldType, InputField};
use prism_dataflow::{Dataflow, StageSpec, parameters, paths};
use prism_schemas::v1::ServiceSpec;
use serde_json::{Map, Value};

use crate::engine::{self, Confinement, Table};
use crate::services::warm::{Plans, SqlStage, StageSql};

/// Rows one request may carry.
pub const MAX_ROWS: usize = 10_000;

pub struct Compiled {
    pub spec: ServiceSpec,
    dataflow: Dataflow,
    fields: Vec<InputField>,
    schema: SchemaRef,
    /// The SQL planned once per set of parameter values, over the reference tables
    /// loaded once per version.
    plans: Plans,
    confinement: Arc<Confinement>,
}

fn arrow_type(field_type: FieldType) -> DataType {
    match field_type {
        FieldType::String => DataType::Utf8,
        FieldType::Integer => DataType::Int64,
        FieldType::Float => DataType::Float64,
        FieldType::Boolean => DataType::Boolean,
        FieldType::Date => DataType::Date32,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
    }
}

/// Validates the version and loads its reference tables (confined to the
/// executor's file roots, bounded by its memory limit).
pub async fn compile(spec: ServiceSpec, confinement: Arc<Confinement>) -> Result<Compiled, String> {
    let dataflow = prism_dataflow::validate::from_stored(&spec.dataflow_document).map_err(|p| {
        format!(
            "invalid dataflow: {}",
            p.first().map_or("", |p| p.message.as_str())
        )
    })?;
    let (input_id, fields) = dataflow
        .stages
        .iter()
        .find_map(|s| match &s.spec {
            StageSpec::Input { fields } => Some((s.id.clone(), fields.clone())),
            _ => None,
        })
        .ok_or("a service has an input stage")?;
    let schema = Arc::new(Schema::new(
        fields
            .iter()
            .map(|f| Field::new(&f.name, arrow_type(f.field_type), !f.required))
            .collect::<Vec<_>>(),
    ));
    let output = dataflow
        .stages
        .iter()
        .find_map(|s| match &s.spec {
            StageSpec::Output { input } => Some(input.clone()),
            _ => None,
        })
        .ok_or("a service has an output stage")?;
    let runtime = confinement.runtime().map_err(|e| e.to_string())?;
    let references = load_references(&spec, &dataflow, &confinement, runtime.clone()).await?;
    let plans = Plans::new(
        (input_id, schema.clone()),
        references,
        sql_stages(&dataflow),
        output,
        runtime,
    );
    Ok(Compiled {
        spec,
        dataflow,
        fields,
        schema,
        plans,
        confinement,
    })
}

/// Each read stage's rows, by stage id, read with the dataflow's default values.
async fn load_references(
    spec: &ServiceSpec,
    dataflow: &Dataflow,
    confinement: &Confinement,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<Vec<(String, Table)>, String> {
    let roots: HashMap<String, PathBuf> = spec
        .connections
        .iter()
        .filter(|c| c.kind.is_empty() || c.kind == prism_connections::LOCAL)
        .map(|c| Ok((c.name.clone(), engine::confine(c, &confinement.file_roots)?)))
        .collect::<Result<_, engine::EngineError>>()
        .map_err(|e| e.to_string())?;
    // Loaded once per version: the secrets open here, and the rows stay in memory.
    let remotes = engine::remote::Remotes::open(&spec.connections, confinement)
        .await
        .map_err(|e| e.to_string())?;
    let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
    let defaults: BTreeMap<String, String> = dataflow
        .parameters
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let mut references = Vec::new();
    let mut held = 0;
    for stage in &dataflow.stages {
        let frame = match &stage.spec {
            StageSpec::ReadTable { connection, source } => {
                let postgres = remotes
                    .postgres(connection)
                    .ok_or_else(|| format!("connection {connection:?} missing"))?;
                let table =
                    engine::postgres::PostgresTable::open(postgres.clone(), source, &defaults)
                        .await
                        .map_err(|e| format!("stage {}: {e}", stage.id))?;
                ctx.read_table(Arc::new(table))
                    .map_err(|e| format!("stage {}: {e}", stage.id))?
            }
            StageSpec::Read {
                connection,
                path,
                format,
                text,
            } => {
                let path = parameters::substitute(path, &defaults);
                match remotes.s3(connection) {
                    Some(source) => {
                        let key = engine::objects::object_key(source, &path)
                            .map_err(|e| e.to_string())?;
                        let location = engine::objects::location(&ctx, source, &key)
                            .map_err(|e| e.to_string())?;
                        let extension = engine::extension_of(std::path::Path::new(&path));
                        engine::read_location(&ctx, &location, &extension, *format, *text)
                            .await
                            .map_err(|e| format!("stage {}: {e}", stage.id))?
                    }
                    None => {
                        let root = roots
                            .get(connection)
                            .ok_or_else(|| format!("connection {connection:?} missing"))?;
                        let named = paths::resolve(root, &path).map_err(|e| e.to_string())?;
                        let roots = &confinement.file_roots;
                        engine::read_beneath(&ctx, roots, root, &named, *format, *text)
                            .await
                            .map_err(|e| format!("stage {}: {e}", stage.id))?
                    }
                }
            }
            _ => continue,
        };
        let table = engine::collect_within(frame, &stage.id, &mut held, confinement.memory_bytes)
            .await
            .map_err(|e| e.to_string())?;
        references.push((stage.id.clone(), table));
    }
    Ok(references)
}

/// The stages planned as views, in order: SQL stages, and the data quality
/// stages as their SQL (a `validate`'s valid rows and its `<id>_rejects`; a
/// `match`'s pairs, of the request's rows or linked to a reference stage; no
/// clusters, which a service has no time to group).
fn sql_stages(dataflow: &Dataflow) -> Vec<SqlStage> {
    use prism_dataflow::quality::{REJECTS_SUFFIX, sql};
    let mut stages = Vec::new();
    for stage in &dataflow.stages {
        let id = stage.id.as_str();
        match &stage.spec {
            StageSpec::Sql { query, .. } => stages.push(SqlStage::query(id, query)),
            StageSpec::Validate { input, checks } => {
                let (valid, rejects) = sql::validate(input, checks);
                stages.push(SqlStage::query(&format!("{id}{REJECTS_SUFFIX}"), &rejects));
                stages.push(SqlStage::query(id, &valid));
            }
            StageSpec::Match(spec) => stages.push(SqlStage::query(id, &sql::match_pairs(spec))),
            StageSpec::Standardize { input, fields } => stages.push(SqlStage {
                id: id.into(),
                sql: StageSql::Standardize {
                    input: input.clone(),
                    fields: fields.clone(),
                },
            }),
            StageSpec::Survive(spec) => stages.push(SqlStage {
                id: id.into(),
                sql: StageSql::Survive(spec.clone()),
            }),
            _ => {}
        }
    }
    stages
}

/// A refusal of the whole request, with the code the gateway answers with.
struct Refusal {
    code: &'static str,
    field: &'static str,
    message: String,
}

fn refused(code: &'static str, field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        field,
        message: message.into(),
    }
}

/// The reply to one request, as the bus contract's [`CallReply`].
pub async fn answer(compiled: &Compiled, payload: &[u8], node: &str, started: Instant) -> Vec<u8> {
    let request_id = uuid::Uuid::now_v7().to_string();
    let reply = match run(compiled, payload).await {
        Ok((rows, errors, rows_in)) => CallReply::Answered(CallAnswer {
            rows,
            errors,
            rows_in: rows_in as u64,
            node: node.to_string(),
            version: compiled.spec.version,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            request_id,
        }),
        Err(r) => CallReply::Refused(CallRefused {
            error: CallError {
                code: r.code.to_string(),
                message: r.message,
                field: Some(r.field.to_string()),
            },
            request_id,
        }),
    };
    serde_json::to_vec(&reply).unwrap_or_default()
}

/// The request, read; a refusal names `rows`, `parameters` or the whole `body`.
fn read(payload: &[u8]) -> Result<CallRequest, Refusal> {
    let shape = || {
        refused(
            "invalid_argument",
            "body",
            "expected {\"rows\":[...],\"parameters\"?:{...}}",
        )
    };
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(payload) else {
        return Err(shape());
    };
    let field = if !map.get("rows").is_some_and(Value::is_array) {
        "rows"
    } else if map.get("parameters").is_some_and(|p| !p.is_object()) {
        "parameters"
    } else {
        "body"
    };
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        let message = match field {
            "rows" => format!("required: an array of at most {MAX_ROWS} rows"),
            "parameters" => "an object".to_string(),
            _ => e.to_string(),
        };
        refused("invalid_argument", field, message)
    })
}

async fn run(
    compiled: &Compiled,
    payload: &[u8],
) -> Result<(Vec<Value>, Vec<RowError>, usize), Refusal> {
    let request = read(payload)?;
    if request.rows.len() > MAX_ROWS {
        return Err(refused(
            "invalid_argument",
            "rows",
            format!("required: an array of at most {MAX_ROWS} rows"),
        ));
    }
    let rows_in = request.rows.len();
    let given = parameters_of(&request.parameters)?;
    let values = parameters::resolve(&compiled.dataflow.parameters, &given)
        .map_err(|e| refused("invalid_argument", "parameters", e.to_string()))?;
    // The compatibility endpoint's values come from a query string, as text.
    let rows = if request.text_values {
        request
            .rows
            .iter()
            .map(|row| typed_from_text(&compiled.fields, row))
            .collect::<Vec<_>>()
    } else {
        request.rows
    };
    let (valid, errors) = validate_rows(&compiled.fields, &rows);
    let input =
        decode(&compiled.schema, &valid).map_err(|e| refused("invalid_argument", "rows", e))?;
    let rows = evaluate(compiled, input, &values)
        .await
        .map_err(|e| refused("failed", "dataflow", e))?;
    Ok((rows, errors, rows_in))
}

fn parameters_of(given: &Map<String, Value>) -> Result<HashMap<String, String>, Refusal> {
    given
        .iter()
        .map(
            |(k, v)| match prism_dataflow::validate::scalar_to_string(v) {
                Ok(Some(text)) => Ok((k.clone(), text)),
                _ => Err(refused(
                    "invalid_argument",
                    "parameters",
                    format!("{k}: a string, number or boolean"),
                )),
            },
        )
        .collect()
}

/// The rows that fit the input fields, and an error for each that does not.
fn validate_rows(fields: &[InputField], rows: &[Value]) -> (Vec<Value>, Vec<RowError>) {
    let (mut valid, mut errors) = (Vec::new(), Vec::new());
    'rows: for (i, row) in rows.iter().enumerate() {
        let Some(object) = row.as_object() else {
            errors.push(RowError {
                row: i,
                field: None,
                message: "a row is an object".into(),
            });
            continue;
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| !fields.iter().any(|f| &f.name == *k))
        {
            errors.push(RowError {
                row: i,
                field: Some(unknown.clone()),
                message: "unknown field".into(),
            });
            continue;
        }
        for field in fields {
            let value = object.get(&field.name).filter(|v| !v.is_null());
            let problem = match value {
                None if field.required => Some("required".to_string()),
                None => None,
                Some(v) => type_problem(field.field_type, v),
            };
            if let Some(message) = problem {
                errors.push(RowError {
                    row: i,
                    field: Some(field.name.clone()),
                    message,
                });
                continue 'rows;
            }
        }
        valid.push(row.clone());
    }
    (valid, errors)
}

/// `row` with each text value read as its field's type where it reads as one
/// (anything else is left for validation to report).
fn typed_from_text(fields: &[InputField], row: &Value) -> Value {
    let Some(object) = row.as_object() else {
        return row.clone();
    };
    let mut typed = object.clone();
    for field in fields {
        let Some(text) = object.get(&field.name).and_then(Value::as_str) else {
            continue;
        };
        let value = match field.field_type {
            FieldType::Integer => text.parse::<i64>().ok().map(Value::from),
            FieldType::Float => text.parse::<f64>().ok().map(Value::from),
            FieldType::Boolean => text.parse::<bool>().ok().map(Value::from),
            _ => None,
        };
        if let Some(value) = value {
            typed.insert(field.name.clone(), value);
        }
    }
    Value::Object(typed)
}

fn type_problem(field_type: FieldType, value: &Value) -> Option<String> {
    let ok = match field_type {
        FieldType::String => value.is_string(),
        FieldType::Integer => value.is_i64(),
        FieldType::Float => value.is_number(),
        FieldType::Boolean => value.is_boolean(),
        FieldType::Date => value
            .as_str()
            .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
        FieldType::Timestamp => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
    };
    (!ok).then(|| format!("expected a {}", format!("{field_type:?}").to_lowercase()))
}

fn decode(schema: &SchemaRef, rows: &[Value]) -> Result<Table, String> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(rows).map_err(|e| e.to_string())?;
    let batches = decoder
        .flush()
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    Ok(Table {
        schema: schema.clone(),
        batches,
    })
}

/// Runs the SQL stages over the input and the reference tables; the output stage's rows.
async fn evaluate(
    compiled: &Compiled,
    input: Table,
    values: &BTreeMap<String, String>,
) -> Result<Vec<Value>, String> {
    let table = compiled
        .plans
        .run(input.batches, values, compiled.confinement.memory_bytes)
        .await?;
    to_json(&table)
}

fn to_json(table: &Table) -> Result<Vec<Value>, String> {
    let mut writer = ArrayWriter::new(Vec::new());
    for batch in &table.batches {
        writer.write(batch).map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
