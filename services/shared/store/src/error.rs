use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// Another transaction committed a conflicting write; the transaction may be retried.
    #[error("transaction conflict")]
    Conflict,
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
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("transaction already finished")]
    Finished,
}

impl Error {
    /// Whether running the transaction again may succeed. Callers never match strings.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Conflict | Error::TooOld { .. })
    }
}
