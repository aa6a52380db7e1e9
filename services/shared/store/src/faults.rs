//! A backend that injects FoundationDB's faults into another one, driven by a seed:
//! conflicts, `transaction_too_old`, an unreachable cluster, added latency, and
//! commits whose result is reported unknown, half of them after the commit
//! happened. FoundationDB is trusted because its faults are simulated in every test
//! run; Prism cannot run FoundationDB in its tests, so it simulates them here.
//!
//! Never on by accident: only the `PRISM_STORE_FAULTS` setting turns it on, every
//! process that has it says so at start, and the compose check refuses it.
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prism_errors::injected::{self, Dice};

use crate::error::{Error, Result};
use crate::kv::{Backend, BackendTransaction, KeyValue};

/// What to inject, as `PRISM_STORE_FAULTS` spells it: `seed=7,conflict=0.05,
/// too_old=0.02,unknown=0.05,error=0.01,latency_ms=3` (each optional but `seed`).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub seed: u64,
    /// Chance that a commit is refused as conflicting (nothing written).
    pub conflict: f64,
    /// Chance that a read fails as `transaction_too_old`.
    pub too_old: f64,
    /// Chance that a commit's result is reported unknown; half of these committed.
    pub unknown: f64,
    /// Chance that a transaction cannot begin (the cluster unreachable).
    pub error: f64,
    /// Each read and commit waits up to this long.
    pub latency_ms: u64,
}

impl Faults {
    /// A profile that exercises every retry path and leaves work possible: what CI
    /// runs under, one seed at a time.
    pub fn profile(seed: u64) -> Faults {
        Faults {
            seed,
            conflict: 0.05,
            too_old: 0.02,
            unknown: 0.1,
            error: 0.0,
            latency_ms: 2,
        }
    }

    pub fn parse(spec: &str) -> Result<Faults> {
        let bad = |why: String| Error::Config(format!("PRISM_STORE_FAULTS {spec:?}: {why}"));
        let (seed, pairs) = injected::parse_spec(spec).map_err(bad)?;
        let mut faults = Faults {
            seed,
            conflict: 0.0,
            too_old: 0.0,
            unknown: 0.0,
            error: 0.0,
            latency_ms: 0,
        };
        for (name, value) in pairs {
            let chance = || injected::parse_chance(&name, &value).map_err(bad);
            match name.as_str() {
                "conflict" => faults.conflict = chance()?,
                "too_old" => faults.too_old = chance()?,
                "unknown" => faults.unknown = chance()?,
                "error" => faults.error = chance()?,
                "latency_ms" => {
                    faults.latency_ms = value
                        .parse()
                        .ok()
                        .filter(|ms| *ms <= 1_000)
                        .ok_or_else(|| bad("latency_ms must be 0 to 1000".into()))?;
                }
                other => return Err(bad(format!("unknown fault {other:?}"))),
            }
        }
        Ok(faults)
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed={},conflict={},too_old={},unknown={},error={},latency_ms={}",
            self.seed, self.conflict, self.too_old, self.unknown, self.error, self.latency_ms
        )
    }
}

struct Shared {
    faults: Faults,
    dice: Dice,
}

impl Shared {
    async fn delay(&self) {
        if self.faults.latency_ms > 0 {
            let ms = self.dice.next() % (self.faults.latency_ms + 1);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    async fn read(&self) -> Result<()> {
        self.delay().await;
        if self.dice.chance(self.faults.too_old) {
            return Err(Error::TooOld { limit_ms: 5_000 });
        }
        Ok(())
    }
}

/// `inner` with [`Faults`] injected.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    shared: Arc<Shared>,
}

impl FaultyBackend {
    pub fn new(inner: Arc<dyn Backend>, faults: Faults) -> FaultyBackend {
        let dice = Dice::new(faults.seed);
        FaultyBackend {
            inner,
            shared: Arc::new(Shared { faults, dice }),
        }
    }

    fn wrap(
        &self,
        inner: Result<Box<dyn BackendTransaction>>,
    ) -> Result<Box<dyn BackendTransaction>> {
        if self.shared.dice.chance(self.shared.faults.error) {
            return Err(Error::Backend("injected fault: cluster unreachable".into()));
        }
        Ok(Box::new(FaultyTransaction {
            inner: inner?,
            shared: self.shared.clone(),
        }))
    }
}

#[async_trait]
impl Backend for FaultyBackend {
    async fn begin(&self) -> Result<Box<dyn BackendTransaction>> {
        self.wrap(self.inner.begin().await)
    }

    async fn begin_write(&self) -> Result<Box<dyn BackendTransaction>> {
        self.wrap(self.inner.begin_write().await)
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
}

struct FaultyTransaction {
    inner: Box<dyn BackendTransaction>,
    shared: Arc<Shared>,
}

#[async_trait]
impl BackendTransaction for FaultyTransaction {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.shared.read().await?;
        self.inner.get(key).await
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>> {
        self.shared.read().await?;
        self.inner.get_range(begin, end, limit, reverse).await
    }

    async fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.set(key, value).await
    }

    async fn clear(&self, key: &[u8]) -> Result<()> {
        self.inner.clear(key).await
    }

    async fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.inner.clear_range(begin, end).await
    }

    async fn set_versionstamped_key(
        &self,
        prefix: &[u8],
        user_version: u16,
        value: &[u8],
    ) -> Result<()> {
        self.inner
            .set_versionstamped_key(prefix, user_version, value)
            .await
    }

    async fn commit(&self) -> Result<()> {
        let shared = &self.shared;
        shared.delay().await;
        if shared.dice.chance(shared.faults.conflict) {
            return Err(Error::Conflict);
        }
        if shared.dice.chance(shared.faults.unknown) {
            if shared.dice.chance(0.5) {
                self.inner.commit().await?;
            }
            return Err(Error::CommitUnknown);
        }
        self.inner.commit().await
    }

    async fn on_error(self: Box<Self>, error: Error, backoff: Duration) -> Result<()> {
        self.inner.on_error(error, backoff).await
    }
}
