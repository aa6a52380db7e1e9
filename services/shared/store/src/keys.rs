//! The key layout: FoundationDB tuple encoding under one versioned prefix, so a
//! future layout can live beside this one during a migration.
use foundationdb_tuple::{Subspace, TuplePack};

/// Bump when the layout changes incompatibly.
pub const LAYOUT_VERSION: i64 = 1;

fn root() -> Subspace {
    Subspace::all().subspace(&("prism", LAYOUT_VERSION))
}

/// One family of records, e.g. all dataflow versions.
pub struct Family(pub(crate) Subspace);

impl Family {
    pub fn key<T: TuplePack>(&self, tuple: &T) -> Vec<u8> {
        self.0.pack(tuple)
    }

    /// The half-open range `[begin, end)` of every key under `tuple`.
    pub fn range_of<T: TuplePack>(&self, tuple: &T) -> (Vec<u8>, Vec<u8>) {
        self.0.subspace(tuple).range()
    }

    /// The range of the whole family.
    pub fn range(&self) -> (Vec<u8>, Vec<u8>) {
        self.0.range()
    }

    /// The family of keys under `tuple`, e.g. one index's entries for one value.
    pub fn nested<T: TuplePack>(&self, tuple: &T) -> Family {
        Family(self.0.subspace(tuple))
    }

    /// The id that ends a key of this family, for families keyed by `(.., id)`.
    pub fn unpack_id(&self, key: &[u8]) -> Option<String> {
        self.0.unpack::<(String,)>(key).ok().map(|(id,)| id)
    }

    /// The raw prefix, for versionstamped keys.
    pub fn prefix(&self) -> &[u8] {
        self.0.bytes()
    }

    /// The first key after `key` within the family, for cursors.
    pub fn after(key: &[u8]) -> Vec<u8> {
        let mut next = key.to_vec();
        next.push(0);
        next
    }
}

/// `("conn", name)` → `ConnectionRecord`
pub fn connections() -> Family {
    Family(root().subspace(&"conn"))
}
/// `("secret", name)` → `SecretRecord`: sealed values only, never plaintext.
pub fn secrets() -> Family {
    Family(root().subspace(&"secret"))
}
/// `("df", name, version)` → `DataflowVersionRecord`
pub fn dataflows() -> Family {
    Family(root().subspace(&"df"))
}
/// `("pf", name, version)` → `ProcessFlowVersionRecord`
pub fn processflows() -> Family {
    Family(root().subspace(&"pf"))
}
/// `("flowrun", id)` → `FlowRunRecord`
pub fn flow_runs() -> Family {
    Family(root().subspace(&"flowrun"))
}
/// `("flowrun_active", id)` → empty: the runs schedulers still advance.
pub fn flow_runs_active() -> Family {
    Family(root().subspace(&"flowrun_active"))
}
/// `("flowrun_ix", flow, id)` → empty: a flow's runs, oldest first.
pub fn flow_runs_by_flow() -> Family {
    Family(root().subspace(&"flowrun_ix"))
}
/// `("flowrun_idem", flow, key)` → run id
pub fn flow_run_keys() -> Family {
    Family(root().subspace(&"flowrun_idem"))
}
/// `("sched", name)` → `ScheduleRecord`
pub fn schedules() -> Family {
    Family(root().subspace(&"sched"))
}
/// `("job", id)` → `JobRecord`; ids are UUIDv7, so keys sort by creation time.
pub fn jobs() -> Family {
    Family(root().subspace(&"job"))
}
/// `("job_ix", "state", state, id)`, `("job_ix", "dataflow", dataflow, id)` and
/// `("job_ix", "dataflow_state", dataflow, state, id)` → empty: the job indexes.
pub fn job_index() -> Family {
    Family(root().subspace(&"job_ix"))
}
/// `("job_ix_built")` → empty: every job written before the indexes is indexed.
pub fn job_index_built() -> Vec<u8> {
    root().pack(&("job_ix_built",))
}
/// `("idem", key)` → job id
pub fn idempotency() -> Family {
    Family(root().subspace(&"idem"))
}
/// `("outbox", id)` → `OutboxEntry` not yet published; ids are UUIDv7 (a job's id
/// for its acceptance), so keys sort by creation time.
pub fn outbox() -> Family {
    Family(root().subspace(&"outbox"))
}
/// `("dead") ++ versionstamp` → `DeadLetterRecord`, in commit order.
pub fn dead_letters() -> Family {
    Family(root().subspace(&"dead"))
}
/// `("audit") ++ versionstamp` → `AuditRecord`, in commit order.
pub fn audit() -> Family {
    Family(root().subspace(&"audit"))
}
/// `("audit_seen", event id)` → versionstamp-less marker that makes appends idempotent.
pub fn audit_seen() -> Family {
    Family(root().subspace(&"audit_seen"))
}

/// `("receipt", created ms, transaction id)` → the number of the attempt that
/// committed: how a retry learns whether a commit whose result was unknown happened.
pub fn commit_receipts() -> Family {
    Family(root().subspace(&"receipt"))
}

/// `("user", name)` → `UserRecord`
pub fn users() -> Family {
    Family(root().subspace(&"user"))
}
/// `("role", name)` → `RoleRecord` (custom roles only)
pub fn roles() -> Family {
    Family(root().subspace(&"role"))
}
/// `("acl", entity, name)` → `AclRecord`
pub fn acls() -> Family {
    Family(root().subspace(&"acl"))
}
/// `("token", sha-256 of the secret)` → `TokenRecord`
pub fn tokens() -> Family {
    Family(root().subspace(&"token"))
}
/// `("user_token", user, token id)` → sha-256 of the secret: a user's tokens.
pub fn user_tokens() -> Family {
    Family(root().subspace(&"user_token"))
}
/// `("svc", name)` → `ServiceRecord`
pub fn services() -> Family {
    Family(root().subspace(&"svc"))
}
/// `("auth_generation")` → u64, big endian: bumped by every change that can take
/// a permission or a token away, so that every gateway drops what it cached.
pub fn auth_generation() -> Vec<u8> {
    root().pack(&("auth_generation",))
}
