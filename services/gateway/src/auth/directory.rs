//! What a gateway knows about users, roles, overrides and tokens: read from the
//! configuration database once, then answered from memory, so that authenticating
//! and authorizing a request costs microseconds.
//!
//! Staleness is bounded by one counter, the auth generation, which every change
//! that can take a permission or a token away moves in its own transaction. Every
//! gateway polls it every [`POLL`] and drops its whole cache when it moves; a
//! gateway that made the change drops it at once. An entry read under an older
//! generation than the cache's is used once and never kept, so a load racing a
//! revocation cannot resurrect what was revoked.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use prism_auth::policy::{Acl, Decision, Roles, decide};
use prism_auth::{Entity, Permission, directory};
use prism_schemas::v1::{TokenRecord, UserRecord};
use prism_store::Store;
use prism_store::records::{acls, auth_generation, tokens, users};
use tokio_util::sync::CancellationToken;

/// How often each gateway looks for changes made through another one.
pub const POLL: Duration = Duration::from_millis(250);
/// A cache whose generation was not confirmed for this long (the store is
/// unreachable) is not trusted: requests read the store, and fail while it is down,
/// rather than honour a token that may have been revoked meanwhile.
const TRUSTED_FOR: Duration = Duration::from_millis(900);
/// Entries kept per map before it is emptied (a flood of distinct names or tokens
/// must not grow memory without bound).
const MAX_ENTRIES: usize = 100_000;

/// A token that was valid when read, with its user.
#[derive(Clone)]
pub struct Session {
    pub token: TokenRecord,
    pub user: Arc<UserRecord>,
}

#[derive(Default)]
struct Cached {
    generation: u64,
    sessions: HashMap<[u8; 32], Session>,
    roles: Option<Arc<Roles>>,
    acls: HashMap<(Entity, String), Option<Arc<Acl>>>,
}

impl Cached {
    /// Whether something read under `generation` may be kept, moving the cache
    /// forward (and emptying it) when the read saw a newer generation.
    fn admit(&mut self, generation: u64) -> bool {
        if generation > self.generation {
            *self = Cached {
                generation,
                ..Cached::default()
            };
        }
        generation == self.generation
    }
}

pub struct Directory {
    store: Store,
    cached: RwLock<Cached>,
    started: Instant,
    /// Milliseconds after `started` when the generation was last read.
    confirmed_ms: AtomicU64,
}

impl Directory {
    pub fn new(store: Store) -> Directory {
        Directory {
            store,
            cached: RwLock::new(Cached::default()),
            started: Instant::now(),
            confirmed_ms: AtomicU64::new(0),
        }
    }

    fn confirm(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.confirmed_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn trusted(&self) -> bool {
        let now = self.started.elapsed().as_millis() as u64;
        let age = now.saturating_sub(self.confirmed_ms.load(Ordering::Relaxed));
        age <= TRUSTED_FOR.as_millis() as u64
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.cached.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.cached.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the configuration database is at `generation` (after a change
    /// this gateway made, or one its poll saw).
    pub fn observe(&self, generation: u64) {
        self.confirm();
        if generation > self.read().generation {
            self.write().admit(generation);
        }
    }

    /// The token stored under `hash` with its user, if both exist. Expiry and the
    /// user's state are the caller's to judge.
    pub async fn session(&self, hash: [u8; 32]) -> prism_store::Result<Option<Session>> {
        if self.trusted()
            && let Some(session) = self.read().sessions.get(&hash)
        {
            return Ok(Some(session.clone()));
        }
        let (generation, session) = self
            .store
            .transact(|tx| async move {
                let generation = auth_generation::get(&tx).await?;
                let Some(token) = tokens::get(&tx, &hash).await? else {
                    return Ok((generation, None));
                };
                let user = users::get(&tx, &token.user).await?;
                Ok((
                    generation,
                    user.map(|user| Session {
                        token,
                        user: Arc::new(user),
                    }),
                ))
            })
            .await?;
        self.observe(generation);
        if let Some(session) = &session {
            let mut cached = self.write();
            if cached.admit(generation) {
                if cached.sessions.len() >= MAX_ENTRIES {
                    cached.sessions.clear();
                }
                cached.sessions.insert(hash, session.clone());
            }
        }
        Ok(session)
    }

    /// Every role's grants.
    pub async fn roles(&self) -> prism_store::Result<Arc<Roles>> {
        if let Some(roles) = &self.read().roles {
            return Ok(roles.clone());
        }
        let (generation, roles) = self
            .store
            .transact(|tx| async move {
                Ok((
                    auth_generation::get(&tx).await?,
                    directory::roles(&tx).await?,
                ))
            })
            .await?;
        let roles = Arc::new(roles);
        let mut cached = self.write();
        if cached.admit(generation) {
            cached.roles = Some(roles.clone());
        }
        Ok(roles)
    }

    /// The overrides on one entity (cached when absent too: most entities have none).
    async fn acl(&self, entity: Entity, name: &str) -> prism_store::Result<Option<Arc<Acl>>> {
        let key = (entity, name.to_string());
        if let Some(acl) = self.read().acls.get(&key) {
            return Ok(acl.clone());
        }
        let (generation, acl) = self
            .store
            .transact(|tx| {
                let name = key.1.clone();
                async move {
                    let generation = auth_generation::get(&tx).await?;
                    let acl = acls::get(&tx, entity.name(), &name).await?;
                    Ok((generation, acl.map(|record| Arc::new(Acl::new(&record)))))
                }
            })
            .await?;
        let mut cached = self.write();
        if cached.admit(generation) {
            if cached.acls.len() >= MAX_ENTRIES {
                cached.acls.clear();
            }
            cached.acls.insert(key, acl.clone());
        }
        Ok(acl)
    }

    /// Whether `user` may have `wanted`, and why.
    pub async fn decide(
        &self,
        user: &UserRecord,
        wanted: &Permission,
    ) -> prism_store::Result<Decision> {
        let roles = self.roles().await?;
        let acl = match &wanted.name {
            Some(name) => self.acl(wanted.entity, name).await?,
            None => None,
        };
        Ok(decide(user, &roles, acl.as_deref(), wanted))
    }

    /// Follows the auth generation until `shutdown`, so that changes made through
    /// other gateways take effect here within [`POLL`] and a store round trip.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POLL) => {}
            }
            match self
                .store
                .transact(|tx| async move { auth_generation::get(&tx).await })
                .await
            {
                Ok(generation) => self.observe(generation),
                Err(error) => tracing::warn!(%error, "auth generation not read"),
            }
        }
    }
}
