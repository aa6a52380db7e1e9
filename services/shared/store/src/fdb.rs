//! The FoundationDB backend, for clusters whose configuration database runs on its
//! own servers. Built with the `foundationdb` cargo feature (bindgen needs
//! libclang; linking needs `libfdb_c`, which FoundationDB's client package installs).
//!
//! FoundationDB's retry rules are followed through `fdb_transaction_on_error`: a
//! failed attempt hands its error to `on_error`, which waits FoundationDB's backoff
//! and refuses what may not be retried; the shared loop in
//! [`crate::kv::Store::transact`] then runs the transaction again from the start. A
//! commit that may have happened (`commit_unknown_result`) becomes
//! [`Error::CommitUnknown`], which that loop settles with the transaction's
//! receipt: running it again blindly could apply it twice.
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use async_trait::async_trait;
use foundationdb::options::{MutationType, TransactionOption};
use foundationdb::{Database, FdbError, RangeOption, Transaction, TransactionCommitError};
use futures::TryStreamExt;
use tokio::sync::RwLock;

use crate::error::{Error, Result};
use crate::kv::{Backend, BackendTransaction, KeyValue, retry_after};

/// FoundationDB's `transaction_too_old`.
const TRANSACTION_TOO_OLD: i32 = 1007;

static BOOT: Once = Once::new();

fn boot_network() {
    BOOT.call_once(|| {
        // SAFETY: called once per process, before any database is opened. The network
        // thread must outlive every transaction, so its guard is never dropped: it
        // stops with the process.
        #[allow(unsafe_code)]
        let network = unsafe { foundationdb::boot() };
        std::mem::forget(network);
    });
}

fn map_err(error: FdbError) -> Error {
    if error.is_maybe_committed() {
        return Error::CommitUnknown;
    }
    if error.code() == TRANSACTION_TOO_OLD {
        return Error::TooOld { limit_ms: 5_000 };
    }
    if error.is_retryable() {
        return Error::Conflict;
    }
    Error::Backend(format!(
        "foundationdb error {}: {}",
        error.code(),
        error.message()
    ))
}

pub struct FdbBackend {
    db: Arc<Database>,
}

impl FdbBackend {
    pub fn open(cluster_file: &str) -> Result<Self> {
        boot_network();
        let db = Database::new(Some(cluster_file)).map_err(|e| {
            Error::Config(format!(
                "cannot open FoundationDB cluster file {cluster_file:?}: {e}"
            ))
        })?;
        Ok(FdbBackend { db: Arc::new(db) })
    }
}

#[async_trait]
impl Backend for FdbBackend {
    async fn begin(&self) -> Result<Box<dyn BackendTransaction>> {
        let trx = self.db.create_trx().map_err(map_err)?;
        Ok(Box::new(FdbTransaction {
            trx: RwLock::new(Some(trx)),
            failed: Mutex::new(None),
        }))
    }

    async fn ping(&self) -> Result<()> {
        let trx = self.db.create_trx().map_err(map_err)?;
        // Unreachable clusters otherwise make reads wait forever.
        trx.set_option(TransactionOption::Timeout(2_000))
            .map_err(map_err)?;
        trx.get(b"prism-ping", true).await.map_err(map_err)?;
        Ok(())
    }
}

struct FdbTransaction {
    /// `None` once committed. Reads and writes take `&Transaction`; commit takes it.
    trx: RwLock<Option<Transaction>>,
    /// The error FoundationDB raised, for `on_error`: a read's, or the commit's with
    /// the transaction it consumed.
    failed: Mutex<Option<Failure>>,
}

enum Failure {
    Read(FdbError),
    Commit(TransactionCommitError),
}

impl FdbTransaction {
    /// Maps `error`, keeping FoundationDB's own for `on_error`.
    fn failed(&self, error: FdbError) -> Error {
        *self.failed.lock().expect("failure lock") = Some(Failure::Read(error));
        map_err(error)
    }
}

#[async_trait]
impl BackendTransaction for FdbTransaction {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let guard = self.trx.read().await;
        let trx = guard.as_ref().ok_or(Error::Finished)?;
        let value = trx.get(key, false).await.map_err(|e| self.failed(e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>> {
        let guard = self.trx.read().await;
        let trx = guard.as_ref().ok_or(Error::Finished)?;
        let mut option = RangeOption::from((begin.to_vec(), end.to_vec()));
        option.reverse = reverse;
        option.limit = (limit > 0).then_some(limit);
        let values: Vec<_> = trx
            .get_ranges_keyvalues(option, false)
            .try_collect()
            .await
            .map_err(|e| self.failed(e))?;
        Ok(values
            .iter()
            .map(|kv| KeyValue {
                key: kv.key().to_vec(),
                value: kv.value().to_vec(),
            })
            .collect())
    }

    async fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let guard = self.trx.read().await;
        guard.as_ref().ok_or(Error::Finished)?.set(key, value);
        Ok(())
    }

    async fn clear(&self, key: &[u8]) -> Result<()> {
        let guard = self.trx.read().await;
        guard.as_ref().ok_or(Error::Finished)?.clear(key);
        Ok(())
    }

    async fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        let guard = self.trx.read().await;
        guard
            .as_ref()
            .ok_or(Error::Finished)?
            .clear_range(begin, end);
        Ok(())
    }

    async fn set_versionstamped_key(
        &self,
        prefix: &[u8],
        user_version: u16,
        value: &[u8],
    ) -> Result<()> {
        // FoundationDB fills the 10 bytes at the offset given by the key's last four
        // bytes (little endian); the user version follows them.
        let mut key = prefix.to_vec();
        key.extend_from_slice(&[0u8; 10]);
        key.extend_from_slice(&user_version.to_be_bytes());
        key.extend_from_slice(&(prefix.len() as u32).to_le_bytes());
        let guard = self.trx.read().await;
        guard.as_ref().ok_or(Error::Finished)?.atomic_op(
            &key,
            value,
            MutationType::SetVersionstampedKey,
        );
        Ok(())
    }

    async fn commit(&self) -> Result<()> {
        let trx = self.trx.write().await.take().ok_or(Error::Finished)?;
        if let Err(failure) = trx.commit().await {
            let error = map_err(*failure);
            *self.failed.lock().expect("failure lock") = Some(Failure::Commit(failure));
            return Err(error);
        }
        Ok(())
    }

    /// FoundationDB's `on_error` for the error it raised (its backoff, its verdict);
    /// the loop's own for an error of Prism's limits.
    async fn on_error(self: Box<Self>, error: Error, backoff: Duration) -> Result<()> {
        // What Prism does not retry (a corrupt record, a broken limit) is not asked.
        if !error.is_conflict() {
            return Err(error);
        }
        let failure = self.failed.lock().expect("failure lock").take();
        let trx = self.trx.write().await.take();
        let verdict = match (failure, trx) {
            (Some(Failure::Commit(failure)), _) => failure.on_error().await.map(drop),
            (Some(Failure::Read(fdb_error)), Some(trx)) => trx.on_error(fdb_error).await.map(drop),
            _ => return retry_after(error, backoff).await,
        };
        verdict.map_err(|e| {
            Error::Backend(format!("foundationdb error {}: {}", e.code(), e.message()))
        })
    }
}
