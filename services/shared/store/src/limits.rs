//! FoundationDB's limits, enforced on every backend so that code that passes on the
//! embedded store also passes on FoundationDB.
use std::time::Duration;

pub const MAX_KEY_BYTES: usize = 10_000;
pub const MAX_VALUE_BYTES: usize = 100_000;
pub const MAX_TRANSACTION_BYTES: usize = 10_000_000;
pub const MAX_TRANSACTION_DURATION: Duration = Duration::from_secs(5);
