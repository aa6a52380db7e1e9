//! A preview: a dataflow run up to one stage with every write and delay left out,
//! answering that stage's first rows. It builds the same session of stages as a
//! job, so a preview shows what the job will compute, but it never reaches a
//! write: nothing is staged, nothing committed, and no file or table is touched
//! but by reading.
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;

use super::*;

/// The rows of a preview and whether more existed.
pub struct Shown {
    pub batches: Vec<RecordBatch>,
    pub truncated: bool,
}

/// What a preview did: its rows (or why not), and each stage it ran.
pub struct Previewed {
    pub result: Result<Shown, EngineError>,
    pub stages: Vec<StageStats>,
}

/// The stage whose rows are shown for `target`: itself, or for a write the stage
/// it would write.
fn shown_stage<'a>(dataflow: &'a Dataflow, target: &str) -> Result<&'a str, EngineError> {
    let stage = dataflow
        .stages
        .iter()
        .find(|s| s.id == target)
        .ok_or_else(|| dataflow_error(format!("no stage {target:?}")))?;
    match &stage.spec {
        StageSpec::Read { .. }
        | StageSpec::ReadTable { .. }
        | StageSpec::Sql { .. }
        | StageSpec::Validate { .. }
        | StageSpec::Standardize { .. }
        | StageSpec::Match(_)
        | StageSpec::Survive(_) => Ok(stage.id.as_str()),
        StageSpec::Write { input, .. } | StageSpec::WriteTable { input, .. } => Ok(input),
        StageSpec::Delay { .. } => Err(dataflow_error(format!(
            "stage {target}: a delay has no rows to show"
        ))),
        StageSpec::Input { .. } | StageSpec::Output { .. } => Err(dataflow_error(format!(
            "stage {target}: a service's input and output are previewed by calling it"
        ))),
    }
}

/// Runs `spec`'s dataflow up to `target` and answers at most `limit` of its rows,
/// within `timeout` (and the dataflow's own) or until `cancel`.
pub async fn preview(
    spec: RunSpec<'_>,
    target: &str,
    limit: usize,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Previewed {
    let timeout = timeout.min(spec.confinement.timeout(spec.dataflow));
    let mut stages = match Stages::new(&spec) {
        Ok(stages) => stages,
        Err(error) => {
            return Previewed {
                result: Err(error),
                stages: Vec::new(),
            };
        }
    };
    let result = tokio::select! {
        shown = stages.show(target, limit, cancel) => shown,
        () = tokio::time::sleep(timeout) => Err(EngineError::Timeout(timeout)),
        () = cancel.cancelled() => Err(EngineError::Cancelled),
    };
    stages.close(false).await;
    Previewed {
        result,
        stages: stages.stats(),
    }
}

impl Stages<'_> {
    /// Registers every read and query up to the stage shown, then draws at most
    /// `limit` rows from it (one more, to know whether there were more).
    async fn show(
        &mut self,
        target: &str,
        limit: usize,
        cancel: &CancellationToken,
    ) -> Result<Shown, EngineError> {
        let dataflow = self.spec.dataflow;
        let shown = shown_stage(dataflow, target)?;
        for stage in &dataflow.stages {
            let makes_rows = !matches!(
                stage.spec,
                StageSpec::Write { .. }
                    | StageSpec::WriteTable { .. }
                    | StageSpec::Delay { .. }
                    | StageSpec::Input { .. }
                    | StageSpec::Output { .. }
            );
            if makes_rows {
                let span = stage_span(stage);
                let meter = self.run_stage(stage, &span, cancel).await?;
                if let Some(meter) = meter {
                    self.measures
                        .push((stage.id.clone(), stage, Measure::Metered(meter)));
                }
                if let Some((name, meter)) = self.second.take() {
                    self.measures.push((name, stage, Measure::Metered(meter)));
                }
            }
            if stage.id == shown {
                break;
            }
        }
        let failed = |e: datafusion::error::DataFusionError| {
            dataflow_error(format!(
                "stage {shown}: {}",
                self.spec.confinement.explain(e)
            ))
        };
        let ctx = self.ctx()?;
        let frame = ctx.table(shown).await.map_err(failed)?;
        let frame = frame.limit(0, Some(limit + 1)).map_err(failed)?;
        let mut stream = frame.execute_stream().await.map_err(failed)?;
        let (mut batches, mut rows) = (Vec::new(), 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(failed)?;
            rows += batch.num_rows();
            batches.push(batch);
        }
        let truncated = rows > limit;
        if truncated {
            // Keep exactly `limit` rows: cut the last batch short.
            let mut excess = rows - limit;
            while excess > 0 {
                let last = batches.pop().expect("rows came in batches");
                if last.num_rows() > excess {
                    batches.push(last.slice(0, last.num_rows() - excess));
                    excess = 0;
                } else {
                    excess -= last.num_rows();
                }
            }
        }
        Ok(Shown { batches, truncated })
    }
}
