//! What any job or service on this executor may touch and take, from the
//! executor's own settings: file roots, memory, spill and time.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use prism_dataflow::{Dataflow, paths};
use prism_schemas::v1::Connection;

use crate::engine::memory::JobPool;

use crate::engine::*;

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
    /// The master keys that open the secrets jobs carry; none: a job whose
    /// connections need secrets fails, saying so.
    pub keyring: Option<Arc<prism_secrets::Keyring>>,
    /// Where connections may reach: this executor's own list, whatever a job says.
    pub connection_hosts: prism_connections::Reach,
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
            keyring: None,
            connection_hosts: prism_connections::Reach::default(),
        }
    }
}

impl Confinement {
    pub(crate) fn timeout(&self, dataflow: &Dataflow) -> Duration {
        dataflow
            .timeout
            .unwrap_or(self.timeout_default)
            .min(self.timeout_max)
    }

    /// A run's error, saying so in plain words when the job's limits stopped it
    /// (DataFusion reports a full spill directory as an I/O error).
    pub(crate) fn explain(&self, error: datafusion::error::DataFusionError) -> String {
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
    paths::within_roots(file_roots, root).map_err(|e| refused(e.to_string()))?;
    root.canonicalize().map_err(|e| refused(e.to_string()))
}
