use prism_errors::{Code, Retryable};
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// Another transaction committed a conflicting write; the transaction may be retried.
    #[error("transaction conflict")]
    Conflict,
    /// The commit may or may not have happened (FoundationDB's
    /// `commit_unknown_result`: a proxy failed while the commit was in flight).
    /// [`crate::Store::transact`] learns which from the transaction's receipt.
    #[error("commit result unknown")]
    CommitUnknown,
    /// The transaction ran longer than FoundationDB's 5 second limit.
    #[error("transaction too old: longer than {limit_ms} ms")]
    TooOld { limit_ms: u128 },
    #[error("key too large: {size} bytes, limit {limit}")]
    KeyTooLarge { size: usize, limit: usize },
    #[error("value too large: {size} bytes, limit {limit}")]
    ValueTooLarge { size: usize, limit: usize },
    #[error("transaction too large: {size} bytes written, limit {limit}")]
    TransactionTooLarge { size: usize, limit: usize },
    #[error("corrupt record at key {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The backend failed (I/O, unreachable cluster): the store is unavailable.
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("transaction already finished")]
    Finished,
}

impl Retryable for Error {
    /// Conflicts, old transactions and outages may pass; a record that breaks a limit
    /// or does not decode fails the same way every time.
    fn retryable(&self) -> bool {
        matches!(
            self,
            Error::Conflict | Error::CommitUnknown | Error::TooOld { .. } | Error::Backend(_)
        )
    }
}

impl Error {
    /// Whether [`crate::Store::transact`] runs the transaction again at once, as
    /// FoundationDB's retry loop does. Outages are retryable too, but later: that is
    /// the caller's decision.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Error::Conflict | Error::CommitUnknown | Error::TooOld { .. }
        )
    }

    /// The answer's code: unavailable while it may pass, internal otherwise.
    pub fn code(&self) -> Code {
        if self.retryable() {
            Code::Unavailable
        } else {
            Code::Internal
        }
    }
}
