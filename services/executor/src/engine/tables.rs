//! Reading files into DataFusion frames, holding small tables in memory within a
//! budget, and binding parameters to planned queries.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::prelude::{
    CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions, SessionContext,
};
use prism_dataflow::Format;

use crate::engine::*;

#[derive(Clone)]
pub(crate) struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

pub(crate) fn extension_of(path: &Path) -> String {
    path.extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default()
}

/// A file or object (`s3://bucket/key`) as a frame. DataFusion filters files by
/// extension; `extension` is the name's own, so whatever it is named is read.
/// `text`: every CSV column as text (no record is read to infer types).
pub(crate) async fn read_location(
    ctx: &SessionContext,
    location: &str,
    extension: &str,
    format: Format,
    text: bool,
) -> datafusion::error::Result<DataFrame> {
    let (location, extension) = (location.to_string(), extension.to_string());
    match format {
        Format::Csv => {
            let mut options = CsvReadOptions::new()
                .has_header(true)
                .file_extension(&extension);
            if text {
                options = options.schema_infer_max_records(0);
            }
            ctx.read_csv(location, options).await
        }
        Format::Jsonl => {
            let options = JsonReadOptions::default().file_extension(&extension);
            ctx.read_json(location, options).await
        }
        Format::Parquet => {
            let options = ParquetReadOptions::default().file_extension(&extension);
            ctx.read_parquet(location, options).await
        }
    }
}

/// The columns of table `name` in `ctx`, each with whether it holds text: what
/// the data quality stages write their SQL from.
pub(crate) async fn columns(
    ctx: &SessionContext,
    name: &str,
) -> datafusion::error::Result<Vec<(String, bool)>> {
    let frame = ctx.table(name).await?;
    Ok(frame
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let text = matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            );
            (f.name().clone(), text)
        })
        .collect())
}

/// Runs `frame` and keeps its rows, adding their size to `held`; past `budget`,
/// the stage fails with an out-of-memory reason instead of taking the process down.
pub(crate) async fn collect_within(
    frame: DataFrame,
    id: &str,
    held: &mut usize,
    budget: usize,
) -> Result<Table, EngineError> {
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let stream = frame
        .execute_stream()
        .await
        .map_err(|e| dataflow_error(format!("stage {id}: {e}")))?;
    collect_stream(schema, stream, id, held, budget).await
}

/// [`collect_within`] for a plan already running.
pub(crate) async fn collect_stream(
    schema: SchemaRef,
    mut stream: datafusion::physical_plan::SendableRecordBatchStream,
    id: &str,
    held: &mut usize,
    budget: usize,
) -> Result<Table, EngineError> {
    use futures::StreamExt;
    let failed = |e: datafusion::error::DataFusionError| dataflow_error(format!("stage {id}: {e}"));
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(failed)?;
        *held += batch.get_array_memory_size();
        if *held > budget {
            return Err(dataflow_error(format!(
                "stage {id}: out of memory: its rows need more than the limit of {} MiB",
                budget >> 20
            )));
        }
        batches.push(batch);
    }
    Ok(Table { schema, batches })
}

/// Binds the job's values to the placeholders of a planned query, each cast to the
/// type the query gives its placeholder (text where the query does not say).
pub(crate) fn bind(
    frame: DataFrame,
    names: &[String],
    values: &BTreeMap<String, String>,
) -> Result<DataFrame, String> {
    if names.is_empty() {
        return Ok(frame);
    }
    let types = frame
        .logical_plan()
        .get_parameter_types()
        .map_err(|e| e.to_string())?;
    let mut bound = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        let key = format!("p{}", i + 1);
        let value = values.get(name).cloned().unwrap_or_default();
        let scalar = match types.get(&format!("${key}")).cloned().flatten() {
            Some(data_type) => ScalarValue::try_from_string(value, &data_type)
                .map_err(|e| format!("parameter {name} is not a {data_type}: {e}"))?,
            None => ScalarValue::Utf8(Some(value)),
        };
        bound.insert(key, scalar);
    }
    frame.with_param_values(bound).map_err(|e| e.to_string())
}

pub(crate) fn register(ctx: &SessionContext, name: &str, table: &Table) -> Result<(), EngineError> {
    let memory = MemTable::try_new(table.schema.clone(), vec![table.batches.clone()])
        .map_err(dataflow_error)?;
    ctx.register_table(name, Arc::new(memory))
        .map_err(dataflow_error)?;
    Ok(())
}
