//! Runs a dataflow on Apache DataFusion. Outputs are written to temporary files
//! beside their targets and only renamed into place by [`StagedOutputs::commit`],
//! after the attempt has proven it still owns the job.
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{
    CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions, SessionContext,
};
use prism_dataflow::{Dataflow, Format, StageSpec, parameters, paths};
use prism_errors::Retryable;
use prism_schemas::v1::Connection;
use tokio_util::sync::CancellationToken;

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The dataflow or its data is wrong: running it again gives the same answer.
    #[error("{0}")]
    Dataflow(String),
    /// The machine failed (disk, I/O): another attempt may succeed.
    #[error("{0}")]
    Io(String),
    #[error("cancelled")]
    Cancelled,
    /// The job ran longer than it may; its reason starts with `timeout`.
    #[error("timeout: the job ran longer than {} s", .0.as_secs())]
    Timeout(Duration),
}

impl Retryable for EngineError {
    fn retryable(&self) -> bool {
        matches!(self, EngineError::Io(_))
    }
}

/// What any job on this executor may touch and take, from the executor's own
/// settings, so one job can neither leave its files nor take the executor down.
#[derive(Debug, Clone)]
pub struct Confinement {
    /// Directories connections must lie within (canonical).
    pub file_roots: Vec<PathBuf>,
    /// Memory one job may hold: DataFusion's pool for its operators, and the rows
    /// each stage keeps for the next.
    pub memory_bytes: usize,
    /// Disk one job's operators may spill to; 0: none.
    pub spill_bytes: u64,
    /// How long a job runs unless its dataflow says otherwise.
    pub timeout_default: Duration,
    /// The longest any job may run, whatever its dataflow says.
    pub timeout_max: Duration,
}

impl Default for Confinement {
    fn default() -> Self {
        Confinement {
            file_roots: Vec::new(),
            memory_bytes: 512 << 20,
            spill_bytes: 0,
            timeout_default: Duration::from_secs(3600),
            timeout_max: Duration::from_secs(24 * 3600),
        }
    }
}

impl Confinement {
    fn timeout(&self, dataflow: &Dataflow) -> Duration {
        dataflow
            .timeout
            .unwrap_or(self.timeout_default)
            .min(self.timeout_max)
    }

    /// A DataFusion runtime bounded by this confinement: a fair spilling memory
    /// pool, and a disk manager capped at `spill_bytes` (or none).
    pub(crate) fn runtime(&self) -> Result<Arc<RuntimeEnv>, EngineError> {
        let disk = if self.spill_bytes == 0 {
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled)
        } else {
            DiskManagerBuilder::default().with_max_temp_directory_size(self.spill_bytes)
        };
        RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.memory_bytes)))
            .with_disk_manager_builder(disk)
            .build_arc()
            .map_err(io_error)
    }
}

/// One job attempt's inputs.
pub struct RunSpec<'a> {
    pub dataflow: &'a Dataflow,
    pub connections: &'a [Connection],
    pub parameters: &'a BTreeMap<String, String>,
    /// Names temporary files, so each attempt's are its own.
    pub job_id: &'a str,
    pub attempt: u32,
    pub confinement: &'a Confinement,
}

pub struct RunOutcome {
    pub rows_read: u64,
    pub rows_written: u64,
    pub outputs: StagedOutputs,
}

/// Output files written in full but not yet visible under their final names.
#[derive(Default)]
pub struct StagedOutputs {
    files: Vec<(PathBuf, PathBuf)>,
}

impl StagedOutputs {
    /// Renames every staged file into place. A rename within a directory is atomic: a
    /// reader sees the old file or the new one, never a part; a retried attempt
    /// replaces the same path, so output is never duplicated. Runs on a blocking
    /// thread: renames and directory syncs wait on the disk.
    pub async fn commit(self) -> Result<(), EngineError> {
        blocking(move || self.commit_now()).await
    }

    fn commit_now(&self) -> Result<(), EngineError> {
        for (staged, target) in &self.files {
            std::fs::rename(staged, target).map_err(|e| {
                io_error(format!("cannot move output into {}: {e}", target.display()))
            })?;
            if let Some(dir) = target.parent() {
                // Make the rename itself durable.
                File::open(dir).and_then(|d| d.sync_all()).ok();
            }
        }
        Ok(())
    }

    /// Deletes the staged files of an attempt that will not commit.
    pub fn discard(self) {
        for (staged, _) in self.files {
            let _ = std::fs::remove_file(staged);
        }
    }
}

#[derive(Clone)]
pub(crate) struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

pub(crate) fn dataflow_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Dataflow(e.to_string())
}

fn io_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Io(e.to_string())
}

/// Runs `work` on a blocking thread, so a slow disk never stalls the async workers
/// that the other services of the process share.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io_error(format!("file work interrupted: {e}")))?
}

/// Runs every stage until done, `cancel`, or the job's timeout. On any failure, the
/// files staged so far are removed: only a successful run leaves output to commit.
pub async fn run(spec: RunSpec<'_>, cancel: &CancellationToken) -> Result<RunOutcome, EngineError> {
    let mut stages = Stages::new(&spec)?;
    let timeout = spec.confinement.timeout(spec.dataflow);
    // The deadline stops the run the way a cancel does, so that a write in progress
    // finishes and its staging file is known, and removed.
    let stop = cancel.child_token();
    let deadline = tokio::spawn({
        let stop = stop.clone();
        async move {
            tokio::time::sleep(timeout).await;
            stop.cancel();
        }
    });
    let result = stages.run_all(&stop).await;
    let timed_out = deadline.is_finished() && !cancel.is_cancelled();
    deadline.abort();
    let result = match result {
        Err(EngineError::Cancelled) if timed_out => Err(EngineError::Timeout(timeout)),
        other => other,
    };
    match result {
        Ok(()) => Ok(stages.outcome),
        Err(error) => {
            let outputs = std::mem::take(&mut stages.outcome.outputs);
            let _ = blocking(move || {
                outputs.discard();
                Ok(())
            })
            .await;
            Err(error)
        }
    }
}

/// The state of one run: the session, the tables computed so far, and the outcome.
struct Stages<'a> {
    spec: &'a RunSpec<'a>,
    /// Bytes of the rows kept between stages, within the job's memory limit.
    held_bytes: usize,
    /// Each connection's root, real (symlinks resolved) and within the file roots.
    roots: HashMap<&'a str, PathBuf>,
    ctx: SessionContext,
    tables: HashMap<String, Table>,
    outcome: RunOutcome,
}

impl<'a> Stages<'a> {
    fn new(spec: &'a RunSpec<'a>) -> Result<Self, EngineError> {
        let roots = spec
            .connections
            .iter()
            .map(|c| Ok((c.name.as_str(), confine(c, &spec.confinement.file_roots)?)))
            .collect::<Result<_, EngineError>>()?;
        let config = datafusion::prelude::SessionConfig::new();
        Ok(Stages {
            spec,
            held_bytes: 0,
            roots,
            ctx: SessionContext::new_with_config_rt(config, spec.confinement.runtime()?),
            tables: HashMap::new(),
            outcome: RunOutcome {
                rows_read: 0,
                rows_written: 0,
                outputs: StagedOutputs::default(),
            },
        })
    }

    /// Stages that only read (read, sql, delay) stop at once on `cancel`; a write runs
    /// to its end on the blocking pool, so that the file it stages is always known
    /// (and removed by [`run`]), then the cancel is seen before the next stage.
    async fn run_all(&mut self, cancel: &CancellationToken) -> Result<(), EngineError> {
        for stage in &self.spec.dataflow.stages {
            if cancel.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            let id = stage.id.as_str();
            let work = async {
                match &stage.spec {
                    StageSpec::Read {
                        connection,
                        path,
                        format,
                    } => self.read(id, connection, path, *format).await,
                    StageSpec::Sql { query, .. } => self.sql(id, query).await,
                    StageSpec::Delay { milliseconds } => {
                        tokio::time::sleep(Duration::from_millis(*milliseconds)).await;
                        Ok(())
                    }
                    StageSpec::Write {
                        input,
                        connection,
                        path,
                        format,
                    } => self.write(id, input, connection, path, *format).await,
                    StageSpec::Input { .. } | StageSpec::Output { .. } => Err(dataflow_error(
                        format!("stage {id}: input and output stages belong to services"),
                    )),
                }
            };
            if matches!(stage.spec, StageSpec::Write { .. }) {
                work.await?;
                continue;
            }
            tokio::select! {
                done = work => done?,
                () = cancel.cancelled() => return Err(EngineError::Cancelled),
            }
        }
        Ok(())
    }

    /// `path` of `connection` with the job's parameters, resolved beneath its root.
    fn resolve(&self, connection: &str, path: &str) -> Result<PathBuf, EngineError> {
        let root = self.roots.get(connection).ok_or_else(|| {
            dataflow_error(format!("connection {connection:?} missing from the job"))
        })?;
        let path = parameters::substitute(path, self.spec.parameters);
        paths::resolve(root, &path).map_err(|e| dataflow_error(format!("path {path:?}: {e}")))
    }

    fn root(&self, connection: &str) -> &Path {
        self.roots
            .get(connection)
            .map_or(Path::new("/nonexistent"), PathBuf::as_path)
    }

    fn keep(&mut self, id: &str, table: Table) -> Result<(), EngineError> {
        register(&self.ctx, id, &table)?;
        self.tables.insert(id.to_string(), table);
        Ok(())
    }

    async fn read(
        &mut self,
        id: &str,
        connection: &str,
        path: &str,
        format: Format,
    ) -> Result<(), EngineError> {
        let named = self.resolve(connection, path)?;
        let file = paths::beneath(self.root(connection), &named)
            .map_err(|e| dataflow_error(format!("stage {id}: {e}")))?;
        let failed = |e: datafusion::error::DataFusionError| {
            dataflow_error(format!("stage {id}: cannot read {}: {e}", file.display()))
        };
        let frame = read(&self.ctx, &file, format).await.map_err(failed)?;
        let table = self.collect(id, frame).await?;
        self.outcome.rows_read += rows(&table.batches);
        self.keep(id, table)
    }

    /// A query, vetted again here (the message may not come from a gateway), planned
    /// with DDL, DML and statements disallowed, and run with the job's parameters
    /// bound as values.
    async fn sql(&mut self, id: &str, query: &str) -> Result<(), EngineError> {
        let refused = |e: String| dataflow_error(format!("stage {id}: {e}"));
        prism_dataflow::sql::check(query).map_err(refused)?;
        let (text, names) = prism_dataflow::sql::to_placeholders(query);
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self
            .ctx
            .sql_with_options(&text, options)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let frame = bind(frame, &names, self.spec.parameters).map_err(refused)?;
        let table = self.collect(id, frame).await?;
        self.keep(id, table)
    }

    /// Runs `frame` and keeps its rows, failing the job when they would take the
    /// job past its memory limit.
    async fn collect(&mut self, id: &str, frame: DataFrame) -> Result<Table, EngineError> {
        let budget = self.spec.confinement.memory_bytes;
        collect_within(frame, id, &mut self.held_bytes, budget).await
    }

    /// Writes the whole file under a staging name; [`StagedOutputs::commit`] renames it.
    async fn write(
        &mut self,
        id: &str,
        input: &str,
        connection: &str,
        path: &str,
        format: Format,
    ) -> Result<(), EngineError> {
        let target = self.resolve(connection, path)?;
        let table =
            self.tables.get(input).cloned().ok_or_else(|| {
                dataflow_error(format!("stage {id}: input {input:?} not computed"))
            })?;
        let (job_id, attempt) = (self.spec.job_id, self.spec.attempt);
        let staged = staging_path(&target, job_id, attempt);
        let written = rows(&table.batches);
        let root = self.root(connection).to_path_buf();
        let (staged_file, target_file, job_id, id) = (
            staged.clone(),
            target.clone(),
            job_id.to_string(),
            id.to_string(),
        );
        blocking(move || {
            if let Some(dir) = target_file.parent() {
                paths::create_dirs_beneath(&root, dir).map_err(|e| match e {
                    paths::DirError::Escapes(e) => dataflow_error(format!("stage {id}: {e}")),
                    paths::DirError::Io(e) => io_error(format!("stage {id}: {e}")),
                })?;
            }
            remove_stale_staging(&target_file, &job_id, attempt);
            write(&staged_file, &table, format).inspect_err(|_| {
                let _ = std::fs::remove_file(&staged_file);
            })
        })
        .await?;
        self.outcome.rows_written += written;
        self.outcome.outputs.files.push((staged, target));
        Ok(())
    }
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

fn extension_of(path: &Path) -> String {
    path.extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default()
}

pub(crate) async fn read(
    ctx: &SessionContext,
    file: &Path,
    format: Format,
) -> datafusion::error::Result<DataFrame> {
    let location = file.to_string_lossy().into_owned();
    // DataFusion filters files by extension; accept whatever the file is named.
    let extension = extension_of(file);
    match format {
        Format::Csv => {
            let options = CsvReadOptions::new()
                .has_header(true)
                .file_extension(&extension);
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

/// `dir/.name.prism-<job>-<attempt>-<random>.tmp`: hidden, beside the target (same
/// file system, so the rename is atomic), unique per attempt, and unpredictable, so
/// nobody can plant a file or a symlink where the next write will go.
fn staging_path(target: &Path, job_id: &str, attempt: u32) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let random = uuid::Uuid::new_v4().simple();
    target.with_file_name(format!(".{name}.prism-{job_id}-{attempt}-{random}.tmp"))
}

/// The connection's root with its symlinks resolved, if it lies within `file_roots`.
pub(crate) fn confine(
    connection: &Connection,
    file_roots: &[PathBuf],
) -> Result<PathBuf, EngineError> {
    let root = Path::new(&connection.root);
    let refused = |e: String| {
        dataflow_error(format!(
            "connection {:?} (root {}): {e}",
            connection.name,
            root.display()
        ))
    };
    paths::within_roots(file_roots, root).map_err(refused)?;
    root.canonicalize().map_err(|e| refused(e.to_string()))
}

/// Deletes staging files that earlier attempts of this job left behind (their
/// executor died mid-write). Only earlier ones: a stale attempt that wakes up must
/// not remove the file of the attempt that superseded it.
fn remove_stale_staging(target: &Path, job_id: &str, attempt: u32) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let prefix = format!(".{}.prism-{job_id}-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let earlier = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < attempt);
        if earlier {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write(staged: &Path, table: &Table, format: Format) -> Result<(), EngineError> {
    // Exclusively: never through a file or symlink someone else put there.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(staged)
        .map_err(|e| io_error(format!("cannot create {}: {e}", staged.display())))?;
    let file = match format {
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(file);
            for batch in &table.batches {
                writer.write(batch).map_err(io_error)?;
            }
            writer.into_inner()
        }
        Format::Jsonl => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(file);
            for batch in &table.batches {
                writer.write(batch).map_err(io_error)?;
            }
            writer.finish().map_err(io_error)?;
            writer.into_inner()
        }
        Format::Parquet => {
            let mut writer =
                datafusion::parquet::arrow::ArrowWriter::try_new(file, table.schema.clone(), None)
                    .map_err(io_error)?;
            for batch in &table.batches {
                writer.write(batch).map_err(io_error)?;
            }
            writer.into_inner().map_err(io_error)?
        }
    };
    // On disk before the rename makes it visible.
    file.sync_all().map_err(io_error)
}
