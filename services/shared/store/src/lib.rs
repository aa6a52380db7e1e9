//! The configuration database of Prism.
//!
//! - [`kv`]: one key-value interface with FoundationDB's semantics (ordered keys,
//!   serializable transactions retried on conflict, range reads, versionstamps)
//!   and FoundationDB's size and time limits, enforced on every backend.
//! - [`sqlite`]: the embedded backend (default, single machine).
//! - `fdb`: the FoundationDB backend, behind the `foundationdb` cargo feature.
//! - [`keys`]: the tuple-encoded key layout under one versioned prefix.
//! - [`records`]: typed access to connections, dataflows, schedules, jobs and the audit log.

pub mod error;
#[cfg(feature = "foundationdb")]
pub mod fdb;
pub mod keys;
pub mod kv;
pub mod limits;
pub mod records;
pub mod sqlite;

pub use error::{Error, Result};
pub use kv::{KeyValue, Store, Tx};

/// Opens the backend named by `url`: `sqlite://<path>` (embedded) or
/// `fdb://<cluster file>` (needs the `foundationdb` feature).
pub async fn open(url: &str) -> Result<Store> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Store::new(sqlite::SqliteBackend::open(path)?));
    }
    if let Some(cluster_file) = url.strip_prefix("fdb://") {
        #[cfg(feature = "foundationdb")]
        return Ok(Store::new(fdb::FdbBackend::open(cluster_file)?));
        #[cfg(not(feature = "foundationdb"))]
        return Err(Error::Config(format!(
            "store {cluster_file:?} needs FoundationDB, but this prism was built without the `foundationdb` feature"
        )));
    }
    Err(Error::Config(format!(
        "unknown store url {url:?}: expected sqlite://<path> or fdb://<cluster file>"
    )))
}
