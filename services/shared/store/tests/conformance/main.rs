//! One conformance suite, run against every backend available: the embedded SQLite
//! store always, FoundationDB when built with `--features foundationdb` and
//! `PRISM_FDB_CLUSTER_FILE` names a cluster file.
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use prism_store::faults::{Faults, FaultyBackend};
use prism_store::kv::VERSIONSTAMP_LEN;
use prism_store::{Error, KeyValue, Store, limits};

mod records;

use records::{audit_pages, identity_records, job_indexes, latest_dataflow_versions};

/// A fresh, empty keyspace on one backend. For FoundationDB, a unique prefix stands
/// in for "empty", since the cluster is shared.
struct Backend {
    store: Store,
    prefix: Vec<u8>,
    /// Faults injected with this seed, if any.
    seed: Option<u64>,
    /// The embedded store's file, to read it back without faults.
    path: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    fn key(&self, suffix: &[u8]) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.extend_from_slice(suffix);
        key
    }

    fn end(&self) -> Vec<u8> {
        let mut end = self.prefix.clone();
        end.push(0xff);
        end
    }
}

/// Reads `[begin, end)` in its own transaction.
async fn range(
    b: &Backend,
    begin: &[u8],
    end: &[u8],
    limit: usize,
    reverse: bool,
) -> Vec<KeyValue> {
    let (begin, end) = (begin.to_vec(), end.to_vec());
    b.store
        .transact(|tx| {
            let (begin, end) = (begin.clone(), end.clone());
            async move { tx.get_range(&begin, &end, limit, reverse).await }
        })
        .await
        .unwrap()
}

/// Reads `key` in its own transaction.
async fn get(b: &Backend, key: &[u8]) -> Option<Vec<u8>> {
    let key = key.to_vec();
    b.store
        .transact(|tx| {
            let key = key.clone();
            async move { tx.get(&key).await }
        })
        .await
        .unwrap()
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::new(prism_store::sqlite::SqliteBackend::open(dir.path().join("kv.db")).unwrap());
    Backend {
        store,
        prefix: b"t/".to_vec(),
        seed: None,
        path: None,
        _dir: Some(dir),
    }
}

/// The embedded store with FoundationDB's faults injected (CI's profile).
fn faulty(seed: u64) -> Backend {
    faulty_with(Faults::profile(seed))
}

fn faulty_with(faults: Faults) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let inner = prism_store::sqlite::SqliteBackend::open(&path).unwrap();
    let seed = faults.seed;
    eprintln!("store faults injected: {faults}");
    let store = Store::new(FaultyBackend::new(Arc::new(inner), faults));
    Backend {
        store,
        prefix: b"t/".to_vec(),
        seed: Some(seed),
        path: Some(path),
        _dir: Some(dir),
    }
}

#[cfg(feature = "foundationdb")]
fn foundationdb() -> Option<Backend> {
    let cluster_file = std::env::var("PRISM_FDB_CLUSTER_FILE").ok()?;
    let store =
        Store::new(prism_store::fdb::FdbBackend::open(&cluster_file).expect("open FoundationDB"));
    Some(Backend {
        store,
        prefix: format!("conformance/{}/", uuid::Uuid::new_v4()).into_bytes(),
        seed: None,
        path: None,
        _dir: None,
    })
}

async fn ordered_range_reads(b: Backend) {
    b.store
        .transact(|tx| {
            let keys: Vec<Vec<u8>> = [&b"c"[..], b"a", b"b", b"b\x00", b"d"]
                .iter()
                .map(|k| b.key(k))
                .collect();
            async move {
                for key in &keys {
                    tx.set(key, key).await?;
                }
                Ok(())
            }
        })
        .await
        .unwrap();
    let (begin, end) = (b.key(b""), b.end());
    let all = range(&b, &begin, &end, 0, false).await;
    let suffixes: Vec<Vec<u8>> = all
        .iter()
        .map(|kv| kv.key[b.prefix.len()..].to_vec())
        .collect();
    assert_eq!(
        suffixes,
        vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"b\x00".to_vec(),
            b"c".to_vec(),
            b"d".to_vec()
        ]
    );
    let (from, to) = (b.key(b"b"), b.key(b"d"));
    let reversed = range(&b, &from, &to, 2, true).await;
    let suffixes: Vec<Vec<u8>> = reversed
        .iter()
        .map(|kv| kv.key[b.prefix.len()..].to_vec())
        .collect();
    assert_eq!(
        suffixes,
        vec![b"c".to_vec(), b"b\x00".to_vec()],
        "reverse, limited, end exclusive"
    );
}

async fn read_your_writes_and_clears(b: Backend) {
    let (k1, k2, k3) = (b.key(b"1"), b.key(b"2"), b.key(b"3"));
    let seen = b
        .store
        .transact(|tx| {
            let (k1, k2, k3) = (k1.clone(), k2.clone(), k3.clone());
            async move {
                tx.set(&k1, b"one").await?;
                tx.set(&k2, b"two").await?;
                tx.set(&k3, b"three").await?;
                let before = tx.get(&k1).await?;
                tx.clear(&k1).await?;
                tx.clear_range(&k2, &k3).await?;
                Ok((
                    before,
                    tx.get(&k1).await?,
                    tx.get(&k2).await?,
                    tx.get(&k3).await?,
                ))
            }
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        (Some(b"one".to_vec()), None, None, Some(b"three".to_vec()))
    );
}

async fn failed_transactions_commit_nothing(b: Backend) {
    let key = b.key(b"never");
    let outcome: Result<(), Error> = b
        .store
        .transact(|tx| {
            let key = key.clone();
            async move {
                tx.set(&key, b"x").await?;
                Err(Error::Backend("caller gave up".into()))
            }
        })
        .await;
    assert!(matches!(outcome, Err(Error::Backend(_))));
    let value = get(&b, &key).await;
    assert_eq!(value, None);
}

/// Concurrent read-modify-write transactions on one key: with serializable
/// isolation and retries, no increment is lost.
async fn conflicts_are_retried_serializably(b: Backend) {
    let key = Arc::new(b.key(b"counter"));
    let mut tasks = Vec::new();
    // Half of them declared writers: both kinds serialize with each other.
    for i in 0..40 {
        let (store, key) = (b.store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let body = |tx: prism_store::Tx| {
                let key = key.clone();
                async move {
                    let current = tx
                        .get(&key)
                        .await?
                        .map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap()));
                    tokio::task::yield_now().await;
                    tx.set(&key, &(current + 1).to_be_bytes()).await
                }
            };
            if i % 2 == 0 {
                store.transact(body).await
            } else {
                store.transact_write(body).await
            }
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let value = get(&b, &key).await;
    assert_eq!(value, Some(40u32.to_be_bytes().to_vec()));
    assert_eq!(b.store.write_commits(), 40);
}

async fn size_limits_hold(b: Backend) {
    let big_key = b.key(&vec![b'k'; limits::MAX_KEY_BYTES + 1]);
    let err = b
        .store
        .transact(|tx| {
            let k = big_key.clone();
            async move { tx.set(&k, b"v").await }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyTooLarge { .. }), "{err}");
    let key = b.key(b"v");
    let err = b
        .store
        .transact(|tx| {
            let k = key.clone();
            async move { tx.set(&k, &vec![0; limits::MAX_VALUE_BYTES + 1]).await }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    let ok = b
        .store
        .transact(|tx| {
            let k = key.clone();
            async move { tx.set(&k, &vec![0; limits::MAX_VALUE_BYTES]).await }
        })
        .await;
    assert!(ok.is_ok(), "a value of exactly the limit fits");
    let err = b
        .store
        .transact(|tx| {
            let b = &b;
            async move {
                for i in 0..(limits::MAX_TRANSACTION_BYTES / limits::MAX_VALUE_BYTES + 1) {
                    tx.set(
                        &b.key(format!("bulk/{i}").as_bytes()),
                        &vec![1; limits::MAX_VALUE_BYTES],
                    )
                    .await?;
                }
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TransactionTooLarge { .. }), "{err}");
    let (begin, end) = (b.key(b"bulk/"), b.key(b"bulk0"));
    let left = range(&b, &begin, &end, 0, false).await;
    assert!(left.is_empty(), "an oversized transaction commits nothing");
}

/// A transaction older than 5 seconds fails and is run again.
async fn time_limit_holds(b: Backend) {
    let runs = AtomicU32::new(0);
    let key = b.key(b"slow");
    b.store
        .transact(|tx| {
            let (key, runs) = (key.clone(), &runs);
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(
                        limits::MAX_TRANSACTION_DURATION + Duration::from_millis(200),
                    )
                    .await;
                }
                tx.set(&key, b"done").await
            }
        })
        .await
        .unwrap();
    // Injected faults may add attempts of their own.
    let runs = runs.load(Ordering::SeqCst);
    if b.seed.is_none() {
        assert_eq!(runs, 2, "the too-old attempt was retried");
    } else {
        assert!(runs >= 2, "the too-old attempt was retried");
    }
}

async fn versionstamps_increase_in_commit_order(b: Backend) {
    let prefix = b.key(b"log/");
    for round in 0..3u8 {
        b.store
            .transact(|tx| {
                let prefix = prefix.clone();
                async move {
                    tx.set_versionstamped_key(&prefix, 0, &[round, 0]).await?;
                    tx.set_versionstamped_key(&prefix, 1, &[round, 1]).await
                }
            })
            .await
            .unwrap();
    }
    let mut end = prefix.clone();
    end.push(0xff);
    let rows = range(&b, &prefix, &end, 0, false).await;
    let values: Vec<Vec<u8>> = rows.iter().map(|kv| kv.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            vec![0, 0],
            vec![0, 1],
            vec![1, 0],
            vec![1, 1],
            vec![2, 0],
            vec![2, 1]
        ]
    );
    assert!(
        rows.iter()
            .all(|kv| kv.key.len() == prefix.len() + VERSIONSTAMP_LEN)
    );
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::$case(super::sqlite()).await;
                }
            )*
        }
        /// Every case again under injected faults, one module per seed CI uses:
        /// a failure names its seed in the test's name.
        mod faults_seed_11 {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::$case(super::faulty(11)).await;
                }
            )*
        }
        mod faults_seed_23 {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::$case(super::faulty(23)).await;
                }
            )*
        }
        mod faults_seed_42 {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::$case(super::faulty(42)).await;
                }
            )*
        }
        #[cfg(feature = "foundationdb")]
        mod foundationdb {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    match super::foundationdb() {
                        Some(backend) => super::$case(backend).await,
                        None => eprintln!("PRISM_FDB_CLUSTER_FILE not set: FoundationDB case not run"),
                    }
                }
            )*
        }
    };
}

conformance!(
    ordered_range_reads,
    read_your_writes_and_clears,
    failed_transactions_commit_nothing,
    conflicts_are_retried_serializably,
    size_limits_hold,
    time_limit_holds,
    versionstamps_increase_in_commit_order,
    identity_records,
    job_indexes,
    latest_dataflow_versions,
    audit_pages,
    unknown_commits_apply_once,
    unreachable_backends_commit_nothing,
);

/// Every commit has a one-in-four chance of an unknown result (half of those did
/// commit) beside conflicts: each of 100 increments, each appending a stamped
/// entry, is applied exactly once, and each transaction answers what its
/// committed attempt saw.
async fn unknown_commits_apply_once(b: Backend) {
    let b = match b.seed {
        Some(seed) => faulty_with(Faults {
            unknown: 0.25,
            conflict: 0.1,
            ..Faults::profile(seed)
        }),
        None => b,
    };
    let (counter, log) = (b.key(b"counter"), b.key(b"log/"));
    let mut seen = Vec::new();
    for _ in 0..100 {
        let before = b
            .store
            .transact(|tx| {
                let (counter, log) = (counter.clone(), log.clone());
                async move {
                    let n = tx
                        .get(&counter)
                        .await?
                        .map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap()));
                    tx.set(&counter, &(n + 1).to_be_bytes()).await?;
                    tx.set_versionstamped_key(&log, 0, &n.to_be_bytes()).await?;
                    Ok(n)
                }
            })
            .await
            .unwrap_or_else(|e| panic!("seed {:?}: {e}", b.seed));
        seen.push(before);
    }
    let expected: Vec<u32> = (0..100).collect();
    assert_eq!(
        seen, expected,
        "seed {:?}: answers of committed attempts",
        b.seed
    );
    let value = get(&b, &counter).await;
    assert_eq!(
        value,
        Some(100u32.to_be_bytes().to_vec()),
        "seed {:?}",
        b.seed
    );
    let mut end = log.clone();
    end.push(0xff);
    let entries = range(&b, &log, &end, 0, false).await;
    assert_eq!(
        entries.len(),
        100,
        "seed {:?}: one entry per transaction",
        b.seed
    );
    assert_eq!(b.store.write_commits(), 100, "seed {:?}", b.seed);
}

/// A transaction that cannot begin fails as unavailable and leaves nothing behind:
/// exactly the transactions that answered Ok wrote their keys.
async fn unreachable_backends_commit_nothing(b: Backend) {
    let b = match b.seed {
        Some(seed) => faulty_with(Faults {
            error: 0.3,
            ..Faults::profile(seed)
        }),
        None => b,
    };
    let (mut written, mut maybe) = (Vec::new(), Vec::new());
    for i in 0..100u32 {
        let key = b.key(format!("k/{i:03}").as_bytes());
        let outcome = b
            .store
            .transact(|tx| {
                let key = key.clone();
                async move { tx.set(&key, b"x").await }
            })
            .await;
        match outcome {
            Ok(()) => written.push(key),
            Err(Error::Backend(_)) => {}
            // Unreachable after a commit whose result was unknown: either way.
            Err(Error::CommitUnknown) => maybe.push(key),
            Err(other) => panic!("seed {:?}: {other}", b.seed),
        }
    }
    if b.seed.is_some() {
        assert!(
            written.len() < 100,
            "seed {:?}: faults were injected",
            b.seed
        );
    }
    // Read back without faults.
    let plain = match &b.path {
        Some(path) => Store::new(prism_store::sqlite::SqliteBackend::open(path).unwrap()),
        None => b.store.clone(),
    };
    let (begin, end) = (b.key(b"k/"), b.key(b"k0"));
    let keys: Vec<Vec<u8>> = plain
        .transact(|tx| {
            let (begin, end) = (begin.clone(), end.clone());
            async move { tx.get_range(&begin, &end, 0, false).await }
        })
        .await
        .unwrap()
        .into_iter()
        .map(|kv| kv.key)
        .filter(|key| !maybe.contains(key))
        .collect();
    assert_eq!(keys, written, "seed {:?}", b.seed);
}

/// Two stores on one file behave as two processes sharing it.
#[tokio::test(flavor = "multi_thread")]
async fn two_embedded_stores_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first = Store::new(prism_store::sqlite::SqliteBackend::open(&path).unwrap());
    let second = Store::new(prism_store::sqlite::SqliteBackend::open(&path).unwrap());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .transact(|tx| async move {
                    let n = tx.get(b"n").await?.map_or(0, |v| v[0]);
                    tx.set(b"n", &[n + 1]).await
                })
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let n = second
        .transact(|tx| async move { tx.get(b"n").await })
        .await
        .unwrap();
    assert_eq!(n, Some(vec![20]));
}
