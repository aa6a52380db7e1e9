//! Outputs are written to hidden files beside their targets and only renamed into
//! place by [`StagedOutputs::commit`], after the attempt has proven it still owns
//! the job.
use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use prism_dataflow::{Format, paths};

use crate::jobs::sink;

use crate::engine::*;
use crate::jobs::*;

/// Outputs written in full but not yet visible: files under staging names, rows
/// in a session's staging table, objects under staging keys.
#[derive(Default)]
pub struct StagedOutputs {
    pub(crate) files: Vec<(PathBuf, PathBuf)>,
    pub(crate) tables: Vec<crate::engine::postgres::StagedTable>,
    pub(crate) objects: Vec<crate::engine::objects::StagedObject>,
}

impl StagedOutputs {
    /// Nothing to make visible (a job without write stages).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.tables.is_empty() && self.objects.is_empty()
    }

    /// Makes every output visible. Tables first: each moves its rows in one
    /// transaction that also takes the job's key in the connection's ledger, so a
    /// second commit of the job moves nothing. Then objects (a copy replaces the
    /// target whole) and files (a rename within a directory is atomic: a reader
    /// sees the old file or the new one, never a part); a retried attempt
    /// replaces the same key or path, so output is never duplicated. Renames and
    /// directory syncs wait on the disk, so they run on a blocking thread.
    pub async fn commit(mut self) -> Result<(), EngineError> {
        for table in std::mem::take(&mut self.tables) {
            table.commit().await?;
        }
        for object in std::mem::take(&mut self.objects) {
            object.commit().await?;
        }
        blocking(move || self.commit_now()).await
    }

    pub(crate) fn commit_now(&self) -> Result<(), EngineError> {
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

    /// Deletes the staged files of an attempt that will not commit. Staging tables
    /// go with their sessions; staging keys are deleted in the background (and by
    /// the job's next attempt, should that fail).
    pub fn discard(self) {
        for (staged, _) in self.files {
            let _ = std::fs::remove_file(staged);
        }
        drop(self.tables);
        if !self.objects.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let objects = self.objects;
            runtime.spawn(async move {
                for object in objects {
                    object.discard().await;
                }
            });
        }
    }
}

/// Where a write stage's file goes, and what bounds it.
pub(crate) struct StagedFile {
    pub(crate) root: PathBuf,
    pub(crate) target: PathBuf,
    pub(crate) staged: PathBuf,
    pub(crate) job_id: String,
    pub(crate) attempt: u32,
    pub(crate) limit: u64,
}

impl StagedFile {
    /// Prepares the target's directory, then writes every chunk `chunks` yields.
    pub(crate) fn write(
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

/// A write stage's names.
pub(crate) struct Target<'s> {
    pub(crate) id: &'s str,
    pub(crate) input: &'s str,
    pub(crate) connection: &'s str,
    pub(crate) path: &'s str,
    pub(crate) format: Format,
}

/// Creates the target's directories beneath its root and removes what earlier
/// attempts of the job left there.
pub(crate) fn prepare_target(
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

/// `dir/.name.prism-<job>-<attempt>-<random>.tmp`: hidden, beside the target (same
/// file system, so the rename is atomic), unique per attempt, and unpredictable, so
/// nobody can plant a file or a symlink where the next write will go.
pub(crate) fn staging_path(target: &Path, job_id: &str, attempt: u32) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let random = uuid::Uuid::new_v4().simple();
    target.with_file_name(format!(".{name}.prism-{job_id}-{attempt}-{random}.tmp"))
}

/// Deletes staging files that earlier attempts of this job left behind (their
/// executor died mid-write). Only earlier ones: a stale attempt that wakes up must
/// not remove the file of the attempt that superseded it.
pub(crate) fn remove_stale_staging(target: &Path, job_id: &str, attempt: u32) {
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
