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
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{
    CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions, SessionContext,
};
use futures::StreamExt;
use prism_dataflow::{Dataflow, Format, Stage, StageSpec, parameters, paths};
use prism_errors::Retryable;
use prism_schemas::v1::{Connection, StageStats};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::joblog::{JobLog, Level};
use crate::memory::JobPool;
use crate::meter::{MeteredTable, StageMeter};
use crate::sink;

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
    /// Memory one job may hold: DataFusion's pool for its operators (a job streams,
    /// so only sorts, aggregations and join build sides hold rows), and the rows a
    /// service call answers with.
    pub memory_bytes: usize,
    /// Disk one job's operators may spill to; 0: none.
    pub spill_bytes: u64,
    /// Where they spill (the operating system's temporary directory when `None`).
    pub spill_dir: Option<PathBuf>,
    /// Bytes one job may write to its output files.
    pub output_bytes: u64,
    /// The memory every job and service on this executor shares; each takes at
    /// most `memory_bytes` of it.
    pub shared_memory: Arc<dyn MemoryPool>,
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
            spill_dir: None,
            output_bytes: 16 << 30,
            shared_memory: Arc::new(FairSpillPool::new(2 << 30)),
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

    /// A run's error, saying so in plain words when the job's limits stopped it
    /// (DataFusion reports a full spill directory as an I/O error).
    fn explain(&self, error: datafusion::error::DataFusionError) -> String {
        let text = error.to_string();
        let exhausted = matches!(
            error.find_root(),
            datafusion::error::DataFusionError::ResourcesExhausted(_)
        ) || text.contains("spilling process has exceeded");
        if !exhausted {
            return text;
        }
        format!(
            "out of memory: the job needs more than its {} MiB of memory and {} MiB of spill: {text}",
            self.memory_bytes >> 20,
            self.spill_bytes >> 20
        )
    }

    /// A DataFusion runtime bounded by this confinement: its share of the
    /// executor's memory, and a disk manager capped at `spill_bytes` (or none).
    pub(crate) fn runtime(&self) -> Result<Arc<RuntimeEnv>, EngineError> {
        let disk = if self.spill_bytes == 0 {
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled)
        } else {
            let builder =
                DiskManagerBuilder::default().with_max_temp_directory_size(self.spill_bytes);
            match &self.spill_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| io_error(format!("spill directory {}: {e}", dir.display())))?;
                    builder.with_mode(DiskManagerMode::Directories(vec![dir.clone()]))
                }
                None => builder,
            }
        };
        RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(JobPool::new(
                self.shared_memory.clone(),
                self.memory_bytes,
            )))
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
    /// Where each stage's start and end are told (the job's own log).
    pub log: Option<&'a JobLog>,
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
pub async fn run(spec: RunSpec<'_>, cancel: &CancellationToken) -> Ran {
    let mut stages = match Stages::new(&spec) {
        Ok(stages) => stages,
        Err(error) => {
            return Ran {
                result: Err(error),
                stages: Vec::new(),
            };
        }
    };
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
    stages.close(result.is_ok()).await;
    let timed_out = deadline.is_finished() && !cancel.is_cancelled();
    deadline.abort();
    let result = match result {
        Err(EngineError::Cancelled) if timed_out => Err(EngineError::Timeout(timeout)),
        other => other,
    };
    let stats = stages.stats();
    let result = match result {
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
    };
    Ran {
        result,
        stages: stats,
    }
}

/// A run's outcome, and what each stage it reached did (also when it failed).
pub struct Ran {
    pub result: Result<RunOutcome, EngineError>,
    pub stages: Vec<StageStats>,
}

/// How a stage's statistics are known: reads and queries through their meter
/// (they stream during the writes), writes and delays measured around their run.
enum Measure {
    Metered(Arc<StageMeter>),
    Direct { rows: u64, elapsed_ms: u64 },
}

/// The state of one run: the session in which each stage is a table (a file read
/// lazily, or a query over earlier stages), and the outcome. Nothing runs until a
/// write: each write executes its input's whole plan, from the files it reads to
/// the file it writes, streaming, so memory holds batches, never a stage.
struct Stages<'a> {
    spec: &'a RunSpec<'a>,
    /// Each connection's root, real (symlinks resolved) and within the file roots.
    roots: HashMap<&'a str, PathBuf>,
    /// Made by the first stage that needs DataFusion: a session and its runtime
    /// (memory pool, spill directory) cost more than a light job's own work.
    session: Option<SessionContext>,
    outcome: RunOutcome,
    /// Each stage reached so far, in the dataflow's order.
    measures: Vec<(&'a Stage, Measure)>,
    /// Which of them the job's log has told finished.
    told: Vec<bool>,
    /// The run is over: every stage reached counts as finished.
    run_over: bool,
}

impl<'a> Stages<'a> {
    fn new(spec: &'a RunSpec<'a>) -> Result<Self, EngineError> {
        let roots = spec
            .connections
            .iter()
            .map(|c| Ok((c.name.as_str(), confine(c, &spec.confinement.file_roots)?)))
            .collect::<Result<_, EngineError>>()?;
        Ok(Stages {
            spec,
            roots,
            session: None,
            outcome: RunOutcome {
                rows_read: 0,
                rows_written: 0,
                outputs: StagedOutputs::default(),
            },
            measures: Vec::new(),
            told: Vec::new(),
            run_over: false,
        })
    }

    /// Every stage stops at once on `cancel`; a write that stops leaves its staged
    /// file known (listed before it is created), and [`run`] removes it.
    async fn run_all(&mut self, cancel: &CancellationToken) -> Result<(), EngineError> {
        for stage in &self.spec.dataflow.stages {
            if cancel.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            let span = stage_span(stage);
            let started = std::time::Instant::now();
            let written_before = self.outcome.rows_written;
            let ran = self
                .run_stage(stage, &span, cancel)
                .instrument(span.clone())
                .await;
            let measure = match &ran {
                Ok(Some(meter)) => Measure::Metered(meter.clone()),
                _ => Measure::Direct {
                    rows: self.outcome.rows_written - written_before,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                },
            };
            if let Measure::Direct { rows, elapsed_ms } = &measure {
                span.record("rows_out", rows);
                span.record("elapsed_ms", elapsed_ms);
            }
            self.measures.push((stage, measure));
            ran?;
            self.tell_finished().await;
        }
        Ok(())
    }

    /// Logs "stage finished" for each stage that has ended and not been told yet:
    /// a write or delay at once, a read or query once the writes have drained it.
    async fn tell_finished(&mut self) {
        let Some(log) = self.spec.log else { return };
        let stats = self.stats();
        self.told.resize(stats.len(), false);
        for (i, stats) in stats.iter().enumerate() {
            let ended = match &self.measures[i].1 {
                Measure::Metered(meter) => self.run_over || meter.ended(),
                Measure::Direct { .. } => true,
            };
            if self.told[i] || !ended {
                continue;
            }
            self.told[i] = true;
            let fields = serde_json::json!({
                "rows_in": stats.rows_in,
                "rows_out": stats.rows_out,
                "elapsed_ms": stats.elapsed_ms,
            });
            log.line(Level::Info, Some(&stats.id), "stage finished", fields)
                .await;
        }
    }

    /// Ends every stage's span and, after a successful run, tells the stages no
    /// write drained (their rows were never asked for). A run that failed or was
    /// stopped tells nothing more: its end says why.
    async fn close(&mut self, succeeded: bool) {
        for (_, measure) in &self.measures {
            if let Measure::Metered(meter) = measure {
                meter.close_span();
            }
        }
        if succeeded {
            self.run_over = true;
            self.tell_finished().await;
        }
    }

    /// Each reached stage's statistics. A read's rows in are those its file scans
    /// produced (a filter the optimizer pushed into it makes its rows out fewer); a
    /// query's are its inputs' rows out; a write's are the rows it wrote.
    fn stats(&self) -> Vec<StageStats> {
        let mut by_id: HashMap<&str, u64> = HashMap::new();
        let mut stats = Vec::with_capacity(self.measures.len());
        for (stage, measure) in &self.measures {
            let (rows_in, rows_out, elapsed_ms) = match (measure, &stage.spec) {
                (Measure::Direct { rows, elapsed_ms }, _) => (*rows, *rows, *elapsed_ms),
                (Measure::Metered(meter), StageSpec::Sql { inputs, .. }) => {
                    let rows_in = inputs.iter().filter_map(|i| by_id.get(i.as_str())).sum();
                    (rows_in, meter.rows_out(), meter.elapsed_ms())
                }
                (Measure::Metered(meter), _) => {
                    let rows_in = meter.inputs().iter().map(rows_scanned).sum();
                    (rows_in, meter.rows_out(), meter.elapsed_ms())
                }
            };
            by_id.insert(stage.id.as_str(), rows_out);
            stats.push(StageStats {
                id: stage.id.clone(),
                rows_in,
                rows_out,
                elapsed_ms,
            });
        }
        stats
    }

    /// Runs one stage; a read or query answers the meter its rows will pass.
    async fn run_stage(
        &mut self,
        stage: &Stage,
        span: &tracing::Span,
        cancel: &CancellationToken,
    ) -> Result<Option<Arc<StageMeter>>, EngineError> {
        let id = stage.id.as_str();
        let view = match &stage.spec {
            StageSpec::Read {
                connection,
                path,
                format,
            } => self.read(id, connection, path, *format).await?,
            StageSpec::Sql { query, .. } => self.sql(id, query).await?,
            StageSpec::Delay { milliseconds } => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(*milliseconds)) => {}
                    () = cancel.cancelled() => return Err(EngineError::Cancelled),
                }
                return Ok(None);
            }
            StageSpec::Write {
                input,
                connection,
                path,
                format,
            } => {
                let target = Target {
                    id,
                    input,
                    connection,
                    path,
                    format: *format,
                };
                self.write(target, cancel).await?;
                return Ok(None);
            }
            StageSpec::Input { .. } | StageSpec::Output { .. } => {
                return Err(dataflow_error(format!(
                    "stage {id}: input and output stages belong to services"
                )));
            }
        };
        let meter = StageMeter::new(span.clone());
        let table = MeteredTable {
            inner: view,
            meter: meter.clone(),
        };
        self.ctx()?
            .register_table(id, Arc::new(table))
            .map_err(|e| dataflow_error(format!("stage {id}: {e}")))?;
        Ok(Some(meter))
    }

    fn ctx(&mut self) -> Result<&SessionContext, EngineError> {
        if self.session.is_none() {
            let config = datafusion::prelude::SessionConfig::new();
            let runtime = self.spec.confinement.runtime()?;
            self.session = Some(SessionContext::new_with_config_rt(config, runtime));
        }
        Ok(self.session.as_ref().expect("made above"))
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

    /// The file as a table; it is read when a write runs.
    async fn read(
        &mut self,
        id: &str,
        connection: &str,
        path: &str,
        format: Format,
    ) -> Result<Arc<dyn TableProvider>, EngineError> {
        let named = self.resolve(connection, path)?;
        let file = paths::beneath(self.root(connection), &named)
            .map_err(|e| dataflow_error(format!("stage {id}: {e}")))?;
        let failed = |e: datafusion::error::DataFusionError| {
            dataflow_error(format!("stage {id}: cannot read {}: {e}", file.display()))
        };
        let ctx = self.ctx()?;
        let frame = read(ctx, &file, format).await.map_err(failed)?;
        Ok(frame.into_view())
    }

    /// A query, vetted again here (the message may not come from a gateway), planned
    /// with DDL, DML and statements disallowed, with the job's parameters bound as
    /// values; a view the later stages read.
    async fn sql(&mut self, id: &str, query: &str) -> Result<Arc<dyn TableProvider>, EngineError> {
        let refused = |e: String| dataflow_error(format!("stage {id}: {e}"));
        prism_dataflow::sql::check(query).map_err(refused)?;
        let (text, names) = prism_dataflow::sql::to_placeholders(query);
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let parameters = self.spec.parameters;
        let ctx = self.ctx()?;
        let frame = ctx
            .sql_with_options(&text, options)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let frame = bind(frame, &names, parameters).map_err(refused)?;
        Ok(frame.into_view())
    }

    /// Runs the input's plan into a file under a staging name, batch by batch;
    /// [`StagedOutputs::commit`] renames it.
    async fn write(
        &mut self,
        target: Target<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let id = target.id;
        let confinement = self.spec.confinement;
        let failed = |e: datafusion::error::DataFusionError| {
            dataflow_error(format!("stage {id}: {}", confinement.explain(e)))
        };
        let ctx = self.ctx()?;
        let plan = ctx
            .table(target.input)
            .await
            .map_err(failed)?
            .create_physical_plan()
            .await
            .map_err(failed)?;
        let mut stream = execute_stream(plan.clone(), ctx.task_ctx()).map_err(failed)?;
        let file = self.resolve(target.connection, target.path)?;
        let staged = staging_path(&file, self.spec.job_id, self.spec.attempt);
        self.outcome
            .outputs
            .files
            .push((staged.clone(), file.clone()));
        let (sender, receiver) = tokio::sync::mpsc::channel(sink::QUEUED_BATCHES);
        let writer = {
            let root = self.root(target.connection).to_path_buf();
            let file = StagedFile {
                root,
                target: file,
                staged,
                job_id: self.spec.job_id.to_string(),
                attempt: self.spec.attempt,
                limit: self.spec.confinement.output_bytes,
            };
            let (schema, format, id) = (plan.schema(), target.format, id.to_string());
            tokio::task::spawn_blocking(move || file.write(&id, schema, format, receiver))
        };
        let fed = feed(&mut stream, target.format, sender, cancel, id, failed).await;
        drop(stream);
        let wrote = writer
            .await
            .map_err(|e| io_error(format!("stage {id}: writer stopped: {e}")))?;
        let rows = fed?;
        wrote?;
        self.outcome.rows_written += rows;
        self.outcome.rows_read += rows_scanned(&plan);
        Ok(())
    }
}

/// A stage's span, a child of the job's. A read's or query's stays open until the
/// writes have drained it, so a trace shows when each stage really ran.
fn stage_span(stage: &Stage) -> tracing::Span {
    let kind = match stage.spec {
        StageSpec::Read { .. } => "read",
        StageSpec::Sql { .. } => "sql",
        StageSpec::Write { .. } => "write",
        StageSpec::Delay { .. } => "delay",
        StageSpec::Input { .. } => "input",
        StageSpec::Output { .. } => "output",
    };
    tracing::info_span!(
        "stage",
        otel.name = %format_args!("stage {}", stage.id),
        stage = stage.id.as_str(),
        kind,
        rows_out = tracing::field::Empty,
        elapsed_ms = tracing::field::Empty,
    )
}

/// Where a write stage's file goes, and what bounds it.
struct StagedFile {
    root: PathBuf,
    target: PathBuf,
    staged: PathBuf,
    job_id: String,
    attempt: u32,
    limit: u64,
}

impl StagedFile {
    /// Prepares the target's directory, then writes every chunk `chunks` yields.
    fn write(
        self,
        id: &str,
        schema: SchemaRef,
        format: Format,
        chunks: tokio::sync::mpsc::Receiver<sink::Chunk>,
    ) -> Result<u64, EngineError> {
        prepare_target(&self.root, &self.target, &self.job_id, self.attempt, id)?;
        sink::write_all(&self.staged, schema, format, chunks, self.limit).map_err(|e| match e {
            sink::SinkError::TooLarge(text) => dataflow_error(format!("stage {id}: {text}")),
            sink::SinkError::Io(text) => io_error(format!("stage {id}: {text}")),
        })
    }
}

/// Feeds the plan's batches, encoded in parallel and in order, to the writer until
/// the plan ends, fails or `cancel`; the rows fed. A writer that stopped has its own
/// error, which the caller reports.
async fn feed(
    stream: &mut datafusion::physical_plan::SendableRecordBatchStream,
    format: Format,
    sender: tokio::sync::mpsc::Sender<sink::Chunk>,
    cancel: &CancellationToken,
    id: &str,
    failed: impl Fn(datafusion::error::DataFusionError) -> EngineError,
) -> Result<u64, EngineError> {
    let mut rows = 0;
    let mut encoding = sink::Encoding::new(format);
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = cancel.cancelled() => return Err(EngineError::Cancelled),
        };
        let batch = match next {
            None => break,
            Some(Err(e)) => return Err(failed(e)),
            Some(Ok(batch)) => batch,
        };
        rows += batch.num_rows() as u64;
        encoding.push(batch);
        if let Some(chunk) = encoding.ready_while_running().await
            && !send(&sender, chunk, id).await?
        {
            return Ok(rows);
        }
    }
    while let Some(chunk) = encoding.ready(0).await {
        if !send(&sender, chunk, id).await? {
            break;
        }
    }
    Ok(rows)
}

/// Sends an encoded chunk to the writer; false when the writer has stopped.
async fn send(
    sender: &tokio::sync::mpsc::Sender<sink::Chunk>,
    chunk: Result<sink::Chunk, sink::SinkError>,
    id: &str,
) -> Result<bool, EngineError> {
    let chunk = chunk.map_err(|e| io_error(format!("stage {id}: {e}")))?;
    Ok(sender.send(chunk).await.is_ok())
}

/// A write stage's names.
struct Target<'s> {
    id: &'s str,
    input: &'s str,
    connection: &'s str,
    path: &'s str,
    format: Format,
}

/// Creates the target's directories beneath its root and removes what earlier
/// attempts of the job left there.
fn prepare_target(
    root: &Path,
    target: &Path,
    job_id: &str,
    attempt: u32,
    id: &str,
) -> Result<(), EngineError> {
    if let Some(dir) = target.parent() {
        paths::create_dirs_beneath(root, dir).map_err(|e| match e {
            paths::DirError::Escapes(e) => dataflow_error(format!("stage {id}: {e}")),
            paths::DirError::Io(e) => io_error(format!("stage {id}: {e}")),
        })?;
    }
    remove_stale_staging(target, job_id, attempt);
    Ok(())
}

/// Rows the plan's file scans produced, from their own metrics.
fn rows_scanned(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.metrics())
        .and_then(|metrics| metrics.output_rows())
        .unwrap_or(0) as u64;
    own + plan.children().into_iter().map(rows_scanned).sum::<u64>()
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
