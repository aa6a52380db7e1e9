//! The configuration database of Prism.
//!
//! - [`kv`]: one key-value interface with FoundationDB's semantics (ordered keys,
//!   serializable transactions retried on conflict, range reads, versionstamps)
//!   and FoundationDB's size and time limits, enforced on every backend.
//! - [`sqlite`]: the embedded backend (default, single machine).
//! - `fdb`: the FoundationDB backend, behind the `foundationdb` cargo feature.
//! - [`faults`]: FoundationDB's faults injected into another backend, for tests.
//! - [`keys`]: the tuple-encoded key layout under one versioned prefix.
//! - [`records`]: typed access to connections, dataflows, schedules, jobs and the audit log.

pub mod error;
pub mod faults;
#[cfg(feature = "foundationdb")]
pub mod fdb;
pub mod keys;
pub mod kv;
pub mod limits;
pub mod records;
pub mod sqlite;

pub use error::{Error, Result};
pub use kv::{KeyValue, Store, Tx};

/// Where a store lives, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `sqlite://<path>`: the embedded backend.
    Sqlite(String),
    /// `fdb://<cluster file>`: FoundationDB.
    Fdb(String),
}

/// Checks `url` without opening anything, so a wrong URL is a configuration error.
pub fn parse_url(url: &str) -> Result<Location> {
    let location = if let Some(path) = url.strip_prefix("sqlite://") {
        Location::Sqlite(path.to_string())
    } else if let Some(cluster_file) = url.strip_prefix("fdb://") {
        if !cfg!(feature = "foundationdb") {
            return Err(Error::Config(format!(
                "store {url:?} needs FoundationDB, but this prism was built without the `foundationdb` feature"
            )));
        }
        Location::Fdb(cluster_file.to_string())
    } else {
        return Err(Error::Config(format!(
            "unknown store url {url:?}: expected sqlite://<path> or fdb://<cluster file>"
        )));
    };
    match &location {
        Location::Sqlite(path) | Location::Fdb(path) if path.is_empty() => {
            Err(Error::Config(format!("store url {url:?} names no file")))
        }
        _ => Ok(location),
    }
}

/// Opens the backend named by `url` (see [`parse_url`]).
pub async fn open(url: &str) -> Result<Store> {
    Ok(Store::from_arc(open_backend(url).await?))
}

/// [`open`], with `faults` injected into every transaction: for tests only.
pub async fn open_with_faults(url: &str, faults: faults::Faults) -> Result<Store> {
    let backend = faults::FaultyBackend::new(open_backend(url).await?, faults);
    Ok(Store::new(backend))
}

async fn open_backend(url: &str) -> Result<std::sync::Arc<dyn kv::Backend>> {
    match parse_url(url)? {
        Location::Sqlite(path) => {
            // Opening may wait on another process's schema lock: off the async workers.
            let backend = tokio::task::spawn_blocking(move || sqlite::SqliteBackend::open(path))
                .await
                .map_err(|e| Error::Backend(format!("store open interrupted: {e}")))??;
            Ok(std::sync::Arc::new(backend))
        }
        #[cfg(feature = "foundationdb")]
        Location::Fdb(cluster_file) => {
            Ok(std::sync::Arc::new(fdb::FdbBackend::open(&cluster_file)?))
        }
        #[cfg(not(feature = "foundationdb"))]
        Location::Fdb(_) => unreachable!("refused by parse_url"),
    }
}
