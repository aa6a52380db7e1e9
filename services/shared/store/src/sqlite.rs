//! The embedded backend: one SQLite file in WAL mode.
//!
//! Why SQLite: in the standard scenario the gateway, scheduler and audit may run as
//! separate processes that share one store on one machine. Embedded ordered stores
//! such as redb, sled or fjall lock their files to a single process; SQLite is built
//! for many processes on one file (POSIX locks), is crash safe with `synchronous=FULL`,
//! and orders BLOB keys by `memcmp`, which is FoundationDB's key order.
//!
//! Transactions map onto FoundationDB's optimistic model: `BEGIN DEFERRED` takes a
//! snapshot at the first read; the first write upgrades to the single write lock, and
//! SQLite refuses that upgrade (`SQLITE_BUSY_SNAPSHOT`) when another connection
//! committed since the snapshot. Every busy or locked answer is reported as
//! [`Error::Conflict`], so the shared retry loop runs the transaction again: the
//! result is serializable, as on FoundationDB.
//!
//! Opening, pinging and committing (fsync) run on tokio's blocking pool; a
//! transaction's statements run in place, under `block_in_place` unless the
//! transaction already holds the write lock (see `SqliteTransaction::on_conn`), so
//! neither a slow disk nor another process's lock stalls the other tasks of a
//! standalone process.
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::kv::{Backend, BackendTransaction, KeyValue};

/// How long one statement waits for another process's write lock before the
/// transaction is retried from the start (the retry sleeps without blocking a thread).
const BUSY_TIMEOUT: Duration = Duration::from_millis(100);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT OR IGNORE INTO meta (name, value) VALUES ('commit_version', 0);
";

/// The statements more than one place runs, named once.
const PUT: &str = "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)";
const RANGE_FORWARD: &str = "SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k ASC LIMIT ?3";
const RANGE_REVERSE: &str = "SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k DESC LIMIT ?3";

pub struct SqliteBackend {
    path: String,
    idle: Arc<Mutex<Vec<Connection>>>,
    /// Writers of this process wait here, in turn, rather than on SQLite's lock:
    /// a writer that took its snapshot before another's commit would otherwise
    /// fail at its first write and run again, and under load again and again.
    writer: Arc<tokio::sync::Mutex<()>>,
}

fn map_err(error: rusqlite::Error) -> Error {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Conflict,
        _ => Error::Backend(error.to_string()),
    }
}

impl SqliteBackend {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::Config(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let backend = SqliteBackend {
            path: path.to_string_lossy().into_owned(),
            idle: Arc::new(Mutex::new(Vec::new())),
            writer: Arc::default(),
        };
        // Several processes may create the schema at once; a busy answer is retried.
        let mut tries = 0;
        loop {
            let outcome = backend
                .connect()
                .and_then(|conn| conn.execute_batch(SCHEMA).map_err(map_err).map(|_| conn));
            match outcome {
                Ok(conn) => {
                    backend.release(conn);
                    return Ok(backend);
                }
                Err(Error::Conflict) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn connect(&self) -> Result<Connection> {
        let conn = Connection::open(&self.path)
            .map_err(|e| Error::Config(format!("cannot open store {}: {e}", self.path)))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        // The query planner's stability guarantee: a statement is planned once, not
        // again for each new value bound to it. Without it every range read
        // (`LIMIT ?3`) was parsed and planned anew on each call, 3 % of a
        // standalone's CPU at 700 submissions/s; keys are compared with `memcmp`,
        // so no plan here depends on a value.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(map_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Config(format!(
                "store {} cannot use WAL mode (got {mode})",
                self.path
            )));
        }
        // FULL: a commit is on disk before it is acknowledged, so accepted work survives
        // a power loss, not only a process crash.
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(map_err)?;
        Ok(conn)
    }

    /// A transaction begun with `statement` on a pooled connection.
    async fn start(
        &self,
        statement: &'static str,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<Box<dyn BackendTransaction>> {
        let backend = self.clone_handle();
        let conn = quick(move || {
            let conn = backend.acquire()?;
            conn.prepare_cached(statement)
                .and_then(|mut begin| begin.execute([]))
                .map_err(map_err)?;
            Ok(conn)
        })
        .await?;
        Ok(Box::new(SqliteTransaction {
            state: Arc::new(Mutex::new(Some(conn))),
            stamped: Mutex::new(Vec::new()),
            idle: self.idle.clone(),
            holds_write_lock: turn.is_some(),
            _turn: turn,
        }))
    }

    /// The same file and pool, to move into a blocking call.
    fn clone_handle(&self) -> SqliteBackend {
        SqliteBackend {
            path: self.path.clone(),
            idle: self.idle.clone(),
            writer: self.writer.clone(),
        }
    }

    fn release(&self, conn: Connection) {
        park(&self.idle, conn);
    }

    fn acquire(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().expect("pool lock").pop() {
            return Ok(conn);
        }
        self.connect()
    }
}

/// Runs `work`, which touches only the page cache (or waits on a lock), in place
/// on a multi-threaded runtime: a statement takes microseconds, less than handing
/// it to the blocking pool costs, and `block_in_place` moves the worker's other
/// tasks elsewhere meanwhile, so a statement that does wait stalls no other task.
/// Work that syncs the disk goes to [`blocking`].
async fn quick<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_threaded {
        tokio::task::block_in_place(work)
    } else {
        blocking(work).await
    }
}

/// Runs `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Backend(format!("store call interrupted: {e}")))?
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn begin(&self) -> Result<Box<dyn BackendTransaction>> {
        self.start("BEGIN DEFERRED", None).await
    }

    /// Waits for this process's writers before it, then takes SQLite's write lock
    /// at once (`BEGIN IMMEDIATE`): its snapshot is the latest, so its writes
    /// cannot conflict with a commit made since. Another process's writer can
    /// still hold the lock; that wait is a conflict, retried as any other.
    async fn begin_write(&self) -> Result<Box<dyn BackendTransaction>> {
        let turn = self.writer.clone().lock_owned().await;
        self.start("BEGIN IMMEDIATE", Some(turn)).await
    }

    async fn ping(&self) -> Result<()> {
        let backend = self.clone_handle();
        blocking(move || {
            let conn = backend.acquire()?;
            conn.query_row("SELECT count(*) FROM meta", [], |row| row.get::<_, i64>(0))
                .map_err(map_err)?;
            backend.release(conn);
            Ok(())
        })
        .await
    }
}

/// Idle connections kept, at most: as many as transactions a busy process runs at
/// once (submissions, the audit projection, reads of the API), since opening one
/// costs more than a small transaction (a profile of 1,500 jobs/s showed 5% of
/// the process opening connections with 8 kept).
const MAX_IDLE: usize = 64;

/// Keeps idle connections for the next transactions.
fn park(idle: &Mutex<Vec<Connection>>, conn: Connection) {
    let mut idle = idle.lock().expect("pool lock");
    if idle.len() < MAX_IDLE {
        idle.push(conn);
    }
}

struct StampedWrite {
    prefix: Vec<u8>,
    user_version: u16,
    value: Vec<u8>,
}

struct SqliteTransaction {
    /// `None` once committed or rolled back.
    state: Arc<Mutex<Option<Connection>>>,
    stamped: Mutex<Vec<StampedWrite>>,
    idle: Arc<Mutex<Vec<Connection>>>,
    /// Begun with `BEGIN IMMEDIATE`: SQLite's write lock is already this
    /// transaction's, so no statement of it can wait for another connection.
    holds_write_lock: bool,
    /// A writer's turn among this process's writers, held until it ends.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl SqliteTransaction {
    /// Runs one statement `op` on the transaction's connection, in place
    /// (directly when it holds the write lock, else [`quick`]); commits, which
    /// sync the disk, go to the blocking pool.
    async fn with_conn<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.on_conn(op, false).await
    }

    async fn on_conn<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        syncs_disk: bool,
    ) -> Result<T> {
        let state = self.state.clone();
        let run = move || {
            let guard = state.lock().expect("transaction lock");
            let conn = guard.as_ref().ok_or(Error::Finished)?;
            op(conn).map_err(map_err)
        };
        if syncs_disk {
            blocking(run).await
        } else if self.holds_write_lock {
            // Nothing to wait for: the statement runs in microseconds on the page
            // cache, less than `block_in_place` costs to hand the worker's other
            // tasks to another thread and take them back.
            run()
        } else {
            quick(run).await
        }
    }
}

impl Drop for SqliteTransaction {
    fn drop(&mut self) {
        let conn = self.state.lock().ok().and_then(|mut state| state.take());
        if let Some(conn) = conn {
            // Not committed: undo, and keep the connection only if it is clean again.
            if conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok() {
                park(&self.idle, conn);
            }
        }
    }
}

#[async_trait]
impl BackendTransaction for SqliteTransaction {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        self.with_conn(move |conn| {
            conn.prepare_cached("SELECT v FROM kv WHERE k = ?1")?
                .query_row(params![key], |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>> {
        let sql = if reverse {
            RANGE_REVERSE
        } else {
            RANGE_FORWARD
        };
        // SQLite reads a negative LIMIT as "no limit".
        let limit = if limit == 0 { -1 } else { limit as i64 };
        let (begin, end) = (begin.to_vec(), end.to_vec());
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params![begin, end, limit], |row| {
                Ok(KeyValue {
                    key: row.get(0)?,
                    value: row.get(1)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.with_conn(move |conn| {
            conn.prepare_cached(PUT)?
                .execute(params![key, value])
                .map(drop)
        })
        .await
    }

    async fn clear(&self, key: &[u8]) -> Result<()> {
        let key = key.to_vec();
        self.with_conn(move |conn| {
            conn.prepare_cached("DELETE FROM kv WHERE k = ?1")?
                .execute(params![key])
                .map(drop)
        })
        .await
    }

    async fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        let (begin, end) = (begin.to_vec(), end.to_vec());
        self.with_conn(move |conn| {
            conn.prepare_cached("DELETE FROM kv WHERE k >= ?1 AND k < ?2")?
                .execute(params![begin, end])
                .map(drop)
        })
        .await
    }

    async fn set_versionstamped_key(
        &self,
        prefix: &[u8],
        user_version: u16,
        value: &[u8],
    ) -> Result<()> {
        // Stamped at commit, as on FoundationDB: the key is unknown until then.
        self.stamped
            .lock()
            .expect("stamped lock")
            .push(StampedWrite {
                prefix: prefix.to_vec(),
                user_version,
                value: value.to_vec(),
            });
        Ok(())
    }

    async fn commit(&self) -> Result<()> {
        let stamped = std::mem::take(&mut *self.stamped.lock().expect("stamped lock"));
        let commit = move |conn: &Connection| {
            if !stamped.is_empty() {
                let version: i64 = conn
                    .prepare_cached(
                        "UPDATE meta SET value = value + 1 WHERE name = 'commit_version' RETURNING value",
                    )?
                    .query_row([], |row| row.get(0))?;
                for write in &stamped {
                    let mut key = write.prefix.clone();
                    key.extend_from_slice(&(version as u64).to_be_bytes());
                    // One writer commits at a time here: the batch order is always 0.
                    key.extend_from_slice(&0u16.to_be_bytes());
                    key.extend_from_slice(&write.user_version.to_be_bytes());
                    conn.prepare_cached(PUT)?
                        .execute(params![key, write.value])?;
                }
            }
            conn.prepare_cached("COMMIT")?.execute([]).map(drop)
        };
        let result = self.on_conn(commit, true).await;
        if result.is_ok() {
            let conn = self.state.lock().expect("transaction lock").take();
            if let Some(conn) = conn {
                park(&self.idle, conn);
            }
        }
        // On error, Drop rolls back and returns the connection.
        result
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// A range read with a new limit must reuse its plan: SQLite would otherwise
    /// parse and plan the statement again on every call.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_range_read_is_planned_once() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(dir.path().join("store.db")).unwrap();
        for limit in 1..=5 {
            let tx = backend.begin().await.unwrap();
            tx.get_range(b"a", b"z", limit, false).await.unwrap();
            tx.commit().await.unwrap();
        }
        let conn = backend.acquire().unwrap();
        let statement = conn.prepare_cached(RANGE_FORWARD).unwrap();
        assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);
    }
}
