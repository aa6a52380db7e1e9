//! The key-value interface every backend implements, and the retry loop around it.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::{keys, limits};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// A backend transaction: a consistent snapshot for reads, buffered or locked writes,
/// and an atomic commit that fails with [`Error::Conflict`] when a serializable
/// order is impossible.
#[async_trait]
pub trait BackendTransaction: Send + Sync {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Keys in `[begin, end)`, ascending (or descending when `reverse`), at most `limit`.
    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>>;
    async fn set(&self, key: &[u8], value: &[u8]) -> Result<()>;
    async fn clear(&self, key: &[u8]) -> Result<()>;
    async fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()>;
    /// Writes `prefix ++ versionstamp` at commit. The 12-byte stamp is FoundationDB's
    /// tuple-layer versionstamp: commit version (8 bytes, big endian), order within
    /// the commit batch (2 bytes), then `user_version` (2 bytes). Unique and increasing
    /// in commit order across all clients.
    async fn set_versionstamped_key(
        &self,
        prefix: &[u8],
        user_version: u16,
        value: &[u8],
    ) -> Result<()>;
    async fn commit(&self) -> Result<()>;
    /// After an attempt failed with `error`: ends the transaction, waits before the
    /// next attempt and answers whether there is one, as FoundationDB's `on_error`
    /// does. By default, the errors [`Error::is_conflict`] names are retried after
    /// `backoff`.
    async fn on_error(self: Box<Self>, error: Error, backoff: Duration) -> Result<()> {
        drop(self);
        retry_after(error, backoff).await
    }
}

/// The default of [`BackendTransaction::on_error`], once the transaction is gone (a
/// lock it holds is not held while it waits).
pub async fn retry_after(error: Error, backoff: Duration) -> Result<()> {
    if !error.is_conflict() {
        return Err(error);
    }
    tokio::time::sleep(backoff).await;
    Ok(())
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn begin(&self) -> Result<Box<dyn BackendTransaction>>;
    /// A transaction that will write: where the backend has a single writer (the
    /// embedded store), it waits its turn instead of conflicting at its first write.
    async fn begin_write(&self) -> Result<Box<dyn BackendTransaction>> {
        self.begin().await
    }
    /// A cheap round trip used by readiness checks.
    async fn ping(&self) -> Result<()>;
}

/// The length of a versionstamp appended by [`Tx::set_versionstamped_key`].
pub const VERSIONSTAMP_LEN: usize = 12;

/// A transaction handle given to [`Store::transact`] closures. Cloning is cheap; the
/// limits of FoundationDB are checked here, once for every backend.
#[derive(Clone)]
pub struct Tx {
    inner: Arc<TxInner>,
}

struct TxInner {
    backend: Box<dyn BackendTransaction>,
    started: Instant,
    written_bytes: AtomicUsize,
}

impl Tx {
    fn check_age(&self) -> Result<()> {
        if self.inner.started.elapsed() > limits::MAX_TRANSACTION_DURATION {
            return Err(Error::TooOld {
                limit_ms: limits::MAX_TRANSACTION_DURATION.as_millis(),
            });
        }
        Ok(())
    }

    fn check_key(key: &[u8]) -> Result<()> {
        if key.len() > limits::MAX_KEY_BYTES {
            return Err(Error::KeyTooLarge {
                size: key.len(),
                limit: limits::MAX_KEY_BYTES,
            });
        }
        Ok(())
    }

    fn count_write(&self, bytes: usize) -> Result<()> {
        let total = self.inner.written_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if total > limits::MAX_TRANSACTION_BYTES {
            return Err(Error::TransactionTooLarge {
                size: total,
                limit: limits::MAX_TRANSACTION_BYTES,
            });
        }
        Ok(())
    }

    fn check_write(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_age()?;
        Self::check_key(key)?;
        if value.len() > limits::MAX_VALUE_BYTES {
            return Err(Error::ValueTooLarge {
                size: value.len(),
                limit: limits::MAX_VALUE_BYTES,
            });
        }
        self.count_write(key.len() + value.len())
    }

    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_age()?;
        Self::check_key(key)?;
        self.inner.backend.get(key).await
    }

    pub async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>> {
        self.check_age()?;
        self.inner
            .backend
            .get_range(begin, end, limit, reverse)
            .await
    }

    pub async fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_write(key, value)?;
        self.inner.backend.set(key, value).await
    }

    pub async fn clear(&self, key: &[u8]) -> Result<()> {
        self.check_age()?;
        Self::check_key(key)?;
        self.count_write(key.len())?;
        self.inner.backend.clear(key).await
    }

    pub async fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.check_age()?;
        self.count_write(begin.len() + end.len())?;
        self.inner.backend.clear_range(begin, end).await
    }

    pub async fn set_versionstamped_key(
        &self,
        prefix: &[u8],
        user_version: u16,
        value: &[u8],
    ) -> Result<()> {
        let mut full_key_len = prefix.to_vec();
        full_key_len.resize(prefix.len() + VERSIONSTAMP_LEN, 0);
        self.check_write(&full_key_len, value)?;
        self.inner
            .backend
            .set_versionstamped_key(prefix, user_version, value)
            .await
    }

    async fn commit(&self) -> Result<()> {
        self.check_age()?;
        self.inner.backend.commit().await
    }

    fn wrote(&self) -> bool {
        self.inner.written_bytes.load(Ordering::Relaxed) > 0
    }
}

/// The configuration database: a backend plus FoundationDB's retry loop.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// Transactions committed with writes, by this handle and its clones.
    write_commits: Arc<std::sync::atomic::AtomicU64>,
    /// When this process last cleared expired commit receipts (ms since the epoch).
    receipts_swept_ms: Arc<AtomicI64>,
}

/// Retries before a conflicting transaction gives up. FoundationDB's bindings retry
/// without bound by default; a bound turns a livelock into a visible error.
const MAX_ATTEMPTS: u32 = 50;

/// Commit receipts older than this are cleared. A commit's outcome is settled
/// within FoundationDB's five-second transaction lifetime, and the retry that
/// reads the receipt follows at once.
const RECEIPT_TTL_MS: i64 = 10 * 60 * 1000;
/// How often one process clears expired receipts, within a write it commits anyway.
const RECEIPT_SWEEP_MS: i64 = 60 * 1000;

impl Store {
    pub fn new(backend: impl Backend) -> Self {
        Store::from_arc(Arc::new(backend))
    }

    pub(crate) fn from_arc(backend: Arc<dyn Backend>) -> Self {
        Store {
            backend,
            write_commits: Arc::default(),
            receipts_swept_ms: Arc::new(AtomicI64::new(now_ms())),
        }
    }

    /// Transactions this handle (and its clones) committed with writes: each one a
    /// disk sync on the embedded store, so group commit shows here.
    pub fn write_commits(&self) -> u64 {
        self.write_commits.load(Ordering::Relaxed)
    }

    fn count_commit(&self) {
        self.write_commits.fetch_add(1, Ordering::Relaxed);
        prism_metrics::get().store_committed();
    }

    pub async fn ping(&self) -> Result<()> {
        self.backend.ping().await
    }

    /// Runs `body` in a serializable transaction and commits it, running it again
    /// (with backoff) when it conflicts, like FoundationDB's `run`. `body` may run
    /// several times, so it must not have side effects outside the transaction.
    ///
    /// A retried write is applied once even when a commit's result was unknown
    /// (see [`Store::attempt`]): reading before writing does not make a retry safe
    /// by itself, since the earlier attempt's own writes may be what the retry reads
    /// (a dataflow's next version, an appended audit entry).
    pub async fn transact<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.run(body, false).await
    }

    /// [`Store::transact`] for a transaction that writes whatever it reads, busy
    /// ones above all (accepting jobs, recording events): on the embedded store it
    /// waits for the writers before it instead of conflicting with them.
    pub async fn transact_write<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.run(body, true).await
    }

    async fn run<T, F, Fut>(&self, body: F, writes: bool) -> Result<T>
    where
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let receipt = keys::commit_receipts().key(&(now_ms(), uuid::Uuid::new_v4().to_string()));
        let mut unsettled = Vec::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let begun = if writes {
                self.backend.begin_write().await
            } else {
                self.backend.begin().await
            };
            let backend = match begun {
                Ok(backend) => backend,
                // A store too busy to begin (the embedded store's write lock held
                // past its busy timeout) is a conflict like any other: wait, retry.
                Err(error) if error.is_conflict() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, %error, "store transaction could not begin; retried");
                    retry_after(error, backoff(attempt)).await?;
                    continue;
                }
                // Whether an earlier attempt committed stays unknown.
                Err(_) if !unsettled.is_empty() => return Err(Error::CommitUnknown),
                Err(error) => return Err(error),
            };
            let tx = Tx {
                inner: Arc::new(TxInner {
                    backend,
                    started: Instant::now(),
                    written_bytes: AtomicUsize::new(0),
                }),
            };
            let error = match self
                .attempt(&tx, &body, &receipt, attempt, &mut unsettled)
                .await
            {
                Ok(value) => return Ok(value),
                Err(error) if attempt >= MAX_ATTEMPTS => return Err(error),
                Err(error) => error,
            };
            tracing::debug!(attempt, %error, "store transaction retried");
            // A body that kept a clone of its transaction leaves it to be dropped later.
            match Arc::try_unwrap(tx.inner) {
                Ok(inner) => inner.backend.on_error(error, backoff(attempt)).await?,
                Err(_) => retry_after(error, backoff(attempt)).await?,
            }
        }
    }

    /// One run of `body` and its commit. A transaction that writes also writes its
    /// receipt (`receipt`, valued with the attempt's number), after reading it: two
    /// attempts of one transaction then conflict, so at most one of them commits.
    /// An attempt whose commit result is unknown leaves its answer in `unsettled`;
    /// the next attempt reads the receipt first and, when an earlier attempt did
    /// commit, answers what that one answered without running `body` again.
    async fn attempt<T, F, Fut>(
        &self,
        tx: &Tx,
        body: &F,
        receipt: &[u8],
        attempt: u32,
        unsettled: &mut Vec<(u32, T)>,
    ) -> Result<T>
    where
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if !unsettled.is_empty()
            && let Some(stamp) = tx.get(receipt).await?
        {
            let committed = stamp.try_into().map(u32::from_be_bytes).ok();
            let position = unsettled.iter().position(|(n, _)| Some(*n) == committed);
            let Some(position) = position else {
                return Err(Error::Corrupt {
                    key: String::from_utf8_lossy(receipt).into_owned(),
                    reason: "a commit receipt names no attempt of its transaction".into(),
                });
            };
            self.count_commit();
            return Ok(unsettled.swap_remove(position).1);
        }
        let value = body(tx.clone()).await?;
        let wrote = tx.wrote();
        if wrote {
            tx.get(receipt).await?;
            tx.set(receipt, &attempt.to_be_bytes()).await?;
            self.sweep_receipts(tx).await?;
        }
        match tx.commit().await {
            Ok(()) => {
                if wrote {
                    self.count_commit();
                }
                Ok(value)
            }
            Err(Error::CommitUnknown) if wrote => {
                unsettled.push((attempt, value));
                Err(Error::CommitUnknown)
            }
            // Nothing to commit: nothing is unknown.
            Err(Error::CommitUnknown) => Ok(value),
            Err(error) => Err(error),
        }
    }

    /// Clears expired receipts within `tx`, at most once a minute per process.
    async fn sweep_receipts(&self, tx: &Tx) -> Result<()> {
        let now = now_ms();
        let last = self.receipts_swept_ms.load(Ordering::Relaxed);
        if now - last < RECEIPT_SWEEP_MS
            || self
                .receipts_swept_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let family = keys::commit_receipts();
        let expired = family.key(&(now - RECEIPT_TTL_MS,));
        tx.clear_range(&family.range().0, &expired).await
    }
}

fn now_ms() -> i64 {
    crate::records::now_ms()
}

fn backoff(attempt: u32) -> Duration {
    // Jitter spreads contending writers apart; the cap keeps latency bounded.
    let base = 2u64.saturating_pow(attempt.min(8)).min(200);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % (base + 1);
    Duration::from_millis(base / 2 + jitter)
}
