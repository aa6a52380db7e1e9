//! Objects of an S3 connection: where a stage's path lies in the bucket, how the
//! bucket is made readable to DataFusion, and writes that stay invisible until
//! the attempt commits. A write stage's rows go to a local file first (the same
//! encoders as local files), then to a staging key beside the target
//! (`.name.prism-<job>-<attempt>-<random>.tmp`, uploaded in parts when large);
//! the commit copies it to the target key (a reader sees the old object or the
//! new one, whole) and deletes it. A later attempt of the same job deletes what
//! earlier attempts left, so no staging key outlives its job.
use std::path::Path as FsPath;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use prism_dataflow::paths;

use crate::engine::remote::S3Source;
use crate::engine::*;

/// The key a stage's `path` names: beneath the connection's prefix, with no way
/// out of it (`..` and absolute paths are refused as for local files).
pub fn object_key(source: &S3Source, path: &str) -> Result<Path, EngineError> {
    let relative = paths::resolve(FsPath::new("/"), path)
        .map_err(|e| dataflow_error(format!("path {path:?}: {e}")))?;
    let relative = relative.strip_prefix("/").unwrap_or(&relative);
    let relative = relative.to_string_lossy();
    if relative.is_empty() {
        return Err(dataflow_error(format!("path {path:?} names no object")));
    }
    let key = match source.spec.prefix.as_str() {
        "" => relative.into_owned(),
        prefix => format!("{prefix}/{relative}"),
    };
    Path::parse(&key).map_err(|e| dataflow_error(format!("path {path:?}: {e}")))
}

/// `s3://<bucket>/<key>`, with the connection's store registered for the bucket
/// in the run's session, so DataFusion reads it through that store.
pub fn location(
    ctx: &SessionContext,
    source: &S3Source,
    key: &Path,
) -> Result<String, EngineError> {
    let bucket = format!("s3://{}", source.spec.bucket);
    let url = url::Url::parse(&bucket).map_err(dataflow_error)?;
    ctx.runtime_env()
        .register_object_store(&url, source.store.clone());
    Ok(format!("{bucket}/{key}"))
}

/// An object written under a staging key, to be copied to its target at commit.
pub struct StagedObject {
    pub store: Arc<dyn ObjectStore>,
    pub staging: Path,
    pub target: Path,
}

impl StagedObject {
    /// Uploads `file` under a staging key beside `target`, after deleting what
    /// earlier attempts of the job left there.
    pub async fn upload(
        source: &S3Source,
        file: &FsPath,
        target: Path,
        job_id: &str,
        attempt: u32,
    ) -> Result<StagedObject, EngineError> {
        let store = source.store.clone();
        let name = target.filename().unwrap_or("object").to_string();
        let directory: Path = target
            .parts()
            .take(target.parts().count().saturating_sub(1))
            .collect();
        remove_earlier_attempts(&store, &directory, &name, job_id, attempt).await;
        let random = uuid::Uuid::new_v4().simple();
        let staging = directory
            .clone()
            .join(format!(".{name}.prism-{job_id}-{attempt}-{random}.tmp"));
        let mut reader = tokio::fs::File::open(file)
            .await
            .map_err(|e| io_error(format!("staged output: {e}")))?;
        let mut writer = object_store::buffered::BufWriter::new(store.clone(), staging.clone());
        tokio::io::copy(&mut reader, &mut writer)
            .await
            .map_err(|e| io_error(format!("connection {:?}: upload: {e}", source.name)))?;
        tokio::io::AsyncWriteExt::shutdown(&mut writer)
            .await
            .map_err(|e| io_error(format!("connection {:?}: upload: {e}", source.name)))?;
        Ok(StagedObject {
            store,
            staging,
            target,
        })
    }

    /// Makes the object visible under its target key: one copy, whole.
    pub async fn commit(&self) -> Result<(), EngineError> {
        self.store
            .copy(&self.staging, &self.target)
            .await
            .map_err(|e| io_error(format!("cannot commit {}: {e}", self.target)))?;
        if let Err(error) = self.store.delete(&self.staging).await {
            tracing::warn!(%error, key = %self.staging, "staging key left; the next attempt or job removes it");
        }
        Ok(())
    }

    /// Deletes the staging key of an attempt that will not commit.
    pub async fn discard(&self) {
        let _ = self.store.delete(&self.staging).await;
    }
}

/// Deletes staging keys of earlier attempts of this job beside the target (their
/// executor died mid-write). Never later ones: a stale attempt that wakes up must
/// not remove the staging key of the attempt that superseded it.
async fn remove_earlier_attempts(
    store: &Arc<dyn ObjectStore>,
    directory: &Path,
    name: &str,
    job_id: &str,
    attempt: u32,
) {
    let prefix = format!(".{name}.prism-{job_id}-");
    // One level only: the directory's own objects, not everything beneath it.
    let Ok(listing) = store.list_with_delimiter(Some(directory)).await else {
        return;
    };
    for object in listing.objects {
        let Some(file) = object.location.filename() else {
            continue;
        };
        let earlier = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < attempt);
        if earlier {
            let _ = store.delete(&object.location).await;
        }
    }
}
