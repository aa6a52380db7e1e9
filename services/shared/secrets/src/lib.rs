//! Secrets sealed at rest and in flight.
//!
//! Envelope encryption: each version of a secret gets a random 256-bit data key;
//! the value is encrypted under it with XChaCha20-Poly1305 (random 192-bit
//! nonces, so no nonce bookkeeping across processes), and the data key is
//! encrypted ("wrapped") under a master key. The configuration database and the
//! job messages only ever hold the [`SealedSecret`]; master keys live in a key
//! file that the operator keeps (`PRISM_MASTER_KEY_FILE`), never in the database
//! or on the bus.
//!
//! Why executors open secrets themselves, from the job message, instead of
//! fetching them per job: executors never reach the configuration database (that
//! is what lets it scale apart), and a fetch service would be a second path to
//! every secret that needs its own authentication; a sealed value in the message
//! is useless to whoever reads the JetStream store without the key file. Rotating
//! the master key only re-wraps data keys (small, fast), and a keyring that keeps
//! the old key until the jobs queued before the rotation have run lets those jobs
//! still succeed.
#![forbid(unsafe_code)]

mod envelope;
mod keyring;

pub use envelope::{Opened, open, rewrap, seal};
pub use keyring::{Keyring, MasterKey, generate_key_file, new_key_line};
pub use prism_schemas::v1::SealedSecret;

/// Why a secret cannot be sealed or opened. No variant ever carries the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("master key {0:?} is not in the key file")]
    UnknownKey(String),
    #[error("the key file holds no master key")]
    NoKey,
    #[error("sealed secret {0:?} does not open: wrong key, or altered")]
    Tampered(String),
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
