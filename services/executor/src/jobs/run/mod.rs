//! One run of a job's dataflow: every stage a table of one session, nothing
//! computed until a write streams its whole plan into a staged file.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::SQLOptions;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream};
use datafusion::prelude::SessionContext;
use prism_dataflow::{Dataflow, Format, Stage, StageSpec, parameters, paths};
use prism_schemas::v1::{Connection, StageStats};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub mod preview;
mod quality;
mod remote;

use crate::engine::postgres::{PostgresTable, TableTarget};
use crate::engine::remote::Remotes;
use crate::engine::{in_stage, objects};
use crate::jobs::log::{JobLog, Level};
use crate::jobs::meter::{MeteredTable, StageMeter};
use crate::jobs::sink;

use crate::engine::*;
use crate::jobs::sink::feed;
use crate::jobs::*;

/// One job attempt's inputs.
pub struct RunSpec<'a> {
    pub dataflow: &'a Dataflow,
    pub connections: &'a [Connection],
    pub parameters: &'a BTreeMap<String, String>,
    /// Names temporary files, so each attempt's are its own.
    pub job_id: &'a str,
    pub attempt: u32,
    pub confinement: &'a Confinement,
    /// The connections that reach other systems, opened for this run.
    pub remotes: &'a Remotes,
    /// Where each stage's start and end are told (the job's own log).
    pub log: Option<&'a JobLog>,
}

pub struct RunOutcome {
    pub rows_read: u64,
    pub rows_written: u64,
    pub outputs: StagedOutputs,
}

/// Runs `work` on a blocking thread, so a slow disk never stalls the async workers
/// that the other services of the process share.
pub(crate) async fn blocking<T: Send + 'static>(
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
pub(crate) struct Stages<'a> {
    spec: &'a RunSpec<'a>,
    /// Each connection's root, real (symlinks resolved) and within the file roots.
    roots: HashMap<&'a str, PathBuf>,
    /// Made by the first stage that needs DataFusion: a session and its runtime
    /// (memory pool, spill directory) cost more than a light job's own work.
    session: Option<SessionContext>,
    outcome: RunOutcome,
    /// Each output reached so far, by table name, in the dataflow's order (a
    /// stage's second output, such as `<id>_rejects`, right after it).
    measures: Vec<(String, &'a Stage, Measure)>,
    /// The second output the stage just run registered, to be measured after it.
    second: Option<(String, Arc<StageMeter>)>,
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
            .filter(|c| c.kind.is_empty() || c.kind == prism_connections::LOCAL)
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
            second: None,
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
            self.measures.push((stage.id.clone(), stage, measure));
            if let Some((name, meter)) = self.second.take() {
                self.measures.push((name, stage, Measure::Metered(meter)));
            }
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
            let ended = match &self.measures[i].2 {
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
        for (_, _, measure) in &self.measures {
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
        for (id, stage, measure) in &self.measures {
            let (rows_in, rows_out, elapsed_ms) = match (measure, &stage.spec) {
                (Measure::Direct { rows, elapsed_ms }, _) => (*rows, *rows, *elapsed_ms),
                (Measure::Metered(meter), StageSpec::Sql { inputs, .. }) => {
                    let rows_in = inputs.iter().filter_map(|i| by_id.get(i.as_str())).sum();
                    (rows_in, meter.rows_out(), meter.elapsed_ms())
                }
                // The database applied the filters and limit: what it sent is what
                // was read.
                (Measure::Metered(meter), StageSpec::ReadTable { .. }) => {
                    (meter.rows_out(), meter.rows_out(), meter.elapsed_ms())
                }
                (Measure::Metered(meter), _) => {
                    let rows_in = meter.inputs().iter().map(rows_scanned).sum();
                    (rows_in, meter.rows_out(), meter.elapsed_ms())
                }
            };
            by_id.insert(id.as_str(), rows_out);
            stats.push(StageStats {
                id: id.clone(),
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
                text,
            } => self.read(id, connection, path, *format, *text).await?,
            StageSpec::ReadTable { connection, source } => {
                let source_of = self.postgres(connection)?;
                let table = PostgresTable::open(source_of, source, self.spec.parameters)
                    .await
                    .map_err(|e| in_stage(id, e))?;
                Arc::new(table)
            }
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
            StageSpec::WriteTable {
                input,
                connection,
                table,
                mode,
                keys,
            } => {
                let target = TableTarget {
                    table,
                    mode: *mode,
                    keys,
                    job_id: self.spec.job_id,
                    stage: id,
                    attempt: self.spec.attempt,
                };
                self.write_table(input, connection, target, cancel)
                    .await
                    .map_err(|e| in_stage(id, e))?;
                return Ok(None);
            }
            StageSpec::Input { .. } | StageSpec::Output { .. } => {
                return Err(dataflow_error(format!(
                    "stage {id}: input and output stages belong to services"
                )));
            }
            StageSpec::Validate { input, checks } => self.validate(id, input, checks, span).await?,
            StageSpec::Standardize { input, fields } => self.standardize(id, input, fields).await?,
            StageSpec::Match(spec) => self.matched(id, spec, span, cancel).await?,
            StageSpec::Survive(spec) => self.survive(id, spec).await?,
        };
        self.register(id, view, span).map(Some)
    }

    /// Registers `view` as table `name`, metered: what later stages read.
    fn register(
        &mut self,
        name: &str,
        view: Arc<dyn TableProvider>,
        span: &tracing::Span,
    ) -> Result<Arc<StageMeter>, EngineError> {
        let meter = StageMeter::new(span.clone());
        let table = MeteredTable {
            inner: view,
            meter: meter.clone(),
        };
        self.ctx()?
            .register_table(name, Arc::new(table))
            .map_err(|e| dataflow_error(format!("stage {name}: {e}")))?;
        Ok(meter)
    }

    fn ctx(&mut self) -> Result<&SessionContext, EngineError> {
        if self.session.is_none() {
            let config = datafusion::prelude::SessionConfig::new();
            let runtime = self.spec.confinement.runtime()?;
            let ctx = SessionContext::new_with_config_rt(config, runtime);
            crate::engine::similarity::register(&ctx);
            self.session = Some(ctx);
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
        text: bool,
    ) -> Result<Arc<dyn TableProvider>, EngineError> {
        if let Some(source) = self.spec.remotes.s3(connection).cloned() {
            let path = parameters::substitute(path, self.spec.parameters);
            let key = objects::object_key(&source, &path).map_err(|e| in_stage(id, e))?;
            let ctx = self.ctx()?;
            let location = objects::location(ctx, &source, &key)?;
            let extension = extension_of(Path::new(&path));
            let frame = read_location(ctx, &location, &extension, format, text)
                .await
                .map_err(|e| dataflow_error(format!("stage {id}: cannot read {location}: {e}")))?;
            return Ok(frame.into_view());
        }
        let named = self.resolve(connection, path)?;
        let root = self.root(connection).to_path_buf();
        let file_roots = self.spec.confinement.file_roots.clone();
        let ctx = self.ctx()?;
        let frame = read_beneath(ctx, &file_roots, &root, &named, format, text)
            .await
            .map_err(|e| in_stage(id, e))?;
        Ok(frame.into_view())
    }

    /// A query, vetted again here (the message may not come from a gateway), planned
    /// with DDL, DML and statements disallowed, with the job's parameters bound as
    /// values; a view the later stages read.
    async fn sql(&mut self, id: &str, query: &str) -> Result<Arc<dyn TableProvider>, EngineError> {
        let refused = |e: String| dataflow_error(format!("stage {id}: {e}"));
        prism_dataflow::sql::check(query).map_err(|e| refused(e.to_string()))?;
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
        if let Some(source) = self.spec.remotes.s3(target.connection).cloned() {
            return self.write_object(target, source, cancel).await;
        }
        let file = self.resolve(target.connection, target.path)?;
        let staged = staging_path(&file, self.spec.job_id, self.spec.attempt);
        self.outcome
            .outputs
            .files
            .push((staged.clone(), file.clone()));
        let file = StagedFile {
            root: self.root(target.connection).to_path_buf(),
            target: file,
            staged,
            job_id: self.spec.job_id.to_string(),
            attempt: self.spec.attempt,
            limit: self.spec.confinement.output_bytes,
        };
        self.stream_to_file(&target, file, cancel).await
    }

    /// The plan of stage `input`'s rows, started: what every write drains.
    async fn execute_input(
        &mut self,
        input: &str,
        failed: impl Fn(datafusion::error::DataFusionError) -> EngineError,
    ) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream), EngineError> {
        let ctx = self.ctx()?;
        let frame = ctx.table(input).await.map_err(&failed)?;
        let plan = frame.create_physical_plan().await.map_err(&failed)?;
        let stream = execute_stream(plan.clone(), ctx.task_ctx()).map_err(&failed)?;
        Ok((plan, stream))
    }

    /// Runs the input's plan into `file`'s staging name, batch by batch, on a
    /// blocking thread that encodes and writes while the plan computes.
    async fn stream_to_file(
        &mut self,
        target: &Target<'_>,
        file: StagedFile,
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let id = target.id;
        let confinement = self.spec.confinement;
        let failed = |e: datafusion::error::DataFusionError| {
            dataflow_error(format!("stage {id}: {}", confinement.explain(e)))
        };
        let (plan, mut stream) = self.execute_input(target.input, failed).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(sink::QUEUED_BATCHES);
        let writer = {
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
pub(crate) fn stage_span(stage: &Stage) -> tracing::Span {
    let kind = match stage.spec {
        StageSpec::Read { .. } | StageSpec::ReadTable { .. } => "read",
        StageSpec::Sql { .. } => "sql",
        StageSpec::Write { .. } | StageSpec::WriteTable { .. } => "write",
        StageSpec::Delay { .. } => "delay",
        StageSpec::Input { .. } => "input",
        StageSpec::Output { .. } => "output",
        StageSpec::Validate { .. } => "validate",
        StageSpec::Standardize { .. } => "standardize",
        StageSpec::Match(_) => "match",
        StageSpec::Survive(_) => "survive",
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

/// Rows the plan's file scans produced, from their own metrics.
pub(crate) fn rows_scanned(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.metrics())
        .and_then(|metrics| metrics.output_rows())
        .unwrap_or(0) as u64;
    own + plan.children().into_iter().map(rows_scanned).sum::<u64>()
}

/// Runs the dataflow a run message carries (an invalid one fails the attempt).
pub(crate) async fn run_message(
    message: &prism_schemas::v1::JobRun,
    attempt: u32,
    confinement: &Confinement,
    remotes: &Remotes,
    log: &JobLog,
    stop: &CancellationToken,
) -> Ran {
    let dataflow = match prism_dataflow::validate::from_stored(&message.dataflow_document) {
        Ok(dataflow) => dataflow,
        Err(problems) => {
            let reason = problems.first().map_or("", |p| p.message.as_str());
            return Ran {
                result: Err(EngineError::Dataflow(format!(
                    "invalid dataflow document: {reason}"
                ))),
                stages: Vec::new(),
            };
        }
    };
    let parameters = message.parameters.clone().into_iter().collect();
    run(
        RunSpec {
            dataflow: &dataflow,
            connections: &message.connections,
            parameters: &parameters,
            job_id: &message.job_id,
            attempt,
            confinement,
            remotes,
            log: Some(log),
        },
        stop,
    )
    .await
}
