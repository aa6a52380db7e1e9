//! Stages that reach other systems: writes into PostgreSQL tables and S3
//! objects, each staged until the attempt commits.
use std::sync::Arc;

use futures::StreamExt;
use prism_dataflow::parameters;
use tokio_util::sync::CancellationToken;

use super::{Stages, rows_scanned};
use crate::engine::objects::{self, StagedObject};
use crate::engine::postgres::{StagedTable, TableTarget};
use crate::engine::remote::{PostgresSource, S3Source};
use crate::engine::*;
use crate::jobs::*;

impl Stages<'_> {
    /// The PostgreSQL connection `name` of the run.
    pub(super) fn postgres(&self, name: &str) -> Result<Arc<PostgresSource>, EngineError> {
        self.spec.remotes.postgres(name).cloned().ok_or_else(|| {
            dataflow_error(format!(
                "connection {name:?} is not a postgres connection of the job"
            ))
        })
    }

    /// Streams the input's rows into a staging table; the commit moves them.
    pub(super) async fn write_table(
        &mut self,
        input: &str,
        connection: &str,
        target: TableTarget<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let source = self.postgres(connection)?;
        let confinement = self.spec.confinement;
        let failed = |e: datafusion::error::DataFusionError| dataflow_error(confinement.explain(e));
        let (plan, mut stream) = self.execute_input(input, failed).await?;
        let mut staged = StagedTable::begin(source, target, plan.schema().as_ref()).await?;
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = cancel.cancelled() => return Err(EngineError::Cancelled),
            };
            match next {
                Some(batch) => staged.send(&batch.map_err(failed)?).await?,
                None => break,
            }
        }
        let rows = staged.finish().await?;
        self.outcome.outputs.tables.push(staged);
        self.outcome.rows_written += rows;
        self.outcome.rows_read += rows_scanned(&plan);
        Ok(())
    }

    /// Writes the input's rows to a local file with the file encoders, then
    /// uploads it under a staging key; the commit copies it to its key.
    pub(super) async fn write_object(
        &mut self,
        target: Target<'_>,
        source: Arc<S3Source>,
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let path = parameters::substitute(target.path, self.spec.parameters);
        let key = objects::object_key(&source, &path).map_err(|e| in_stage(target.id, e))?;
        let confinement = self.spec.confinement;
        let parent = confinement
            .spill_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&parent)
            .map_err(|e| io_error(format!("{}: {e}", parent.display())))?;
        let local = tempfile::Builder::new()
            .prefix("prism-object-")
            .tempdir_in(&parent)
            .map_err(|e| io_error(format!("{}: {e}", parent.display())))?;
        let staged = local.path().join(".output.tmp");
        let file = StagedFile {
            root: local.path().to_path_buf(),
            target: local.path().join("output"),
            staged: staged.clone(),
            job_id: self.spec.job_id.to_string(),
            attempt: self.spec.attempt,
            limit: confinement.output_bytes,
        };
        self.stream_to_file(&target, file, cancel).await?;
        let object =
            StagedObject::upload(&source, &staged, key, self.spec.job_id, self.spec.attempt)
                .await
                .map_err(|e| in_stage(target.id, e))?;
        self.outcome.outputs.objects.push(object);
        Ok(())
    }
}
