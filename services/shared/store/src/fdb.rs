//! The FoundationDB backend, for clusters whose configuration database runs on its
//! own servers. Built with the `foundationdb` cargo feature (bindgen needs
//! libclang; linking needs `libfdb_c`, which FoundationDB's client package installs).
//!
//! The shared retry loop in [`crate::kv::Store::transact`] plays the role of
//! `fdb_transaction_on_error`: every error FoundationDB marks retryable (conflict,
//! transaction too old, commit result unknown) becomes [`Error::Conflict`] or
//! [`Error::TooOld`], and the transaction runs again from the start. Prism's
//! transactions read before they write, so repeating one whose commit result was
//! unknown is safe.
use std::sync::{Arc, Once};

use async_trait::async_trait;
use foundationdb::options::{MutationType, TransactionOption};
use foundationdb::{Database, FdbError, RangeOption, Transaction};
use futures::TryStreamExt;
use tokio::sync::RwLock;

use crate::error::{Error, Result};
use crate::kv::{Backend, BackendTransaction, KeyValue};

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
}

#[async_trait]
impl BackendTransaction for FdbTransaction {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let guard = self.trx.read().await;
        let trx = guard.as_ref().ok_or(Error::Finished)?;
        let value = trx.get(key, false).await.map_err(map_err)?;
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
            .map_err(map_err)?;
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
        trx.commit().await.map_err(|e| map_err(FdbError::from(e)))?;
        Ok(())
    }
}
