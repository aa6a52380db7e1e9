//! Passwords, kept only as argon2id hashes with OWASP's parameters (19 MiB, two
//! passes, one lane). Hashing is deliberately slow, so it runs on the blocking pool
//! and at most [`CONCURRENT_HASHES`] at once: a flood of logins cannot take the
//! async workers or all the memory.
use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub const MIN_BYTES: usize = 12;
pub const MAX_BYTES: usize = 1024;
const CONCURRENT_HASHES: usize = 2;

static HASHING: Semaphore = Semaphore::const_new(CONCURRENT_HASHES);

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password cannot be taken or kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The user's choice: the request's `password` field.
    #[error("must be {MIN_BYTES} to {MAX_BYTES} bytes")]
    Length,
    /// The server's fault: the hashing failed or was interrupted.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Why `password` is not acceptable, if it is not.
pub fn check(password: &str) -> Result<(), PasswordError> {
    if password.len() < MIN_BYTES || password.len() > MAX_BYTES {
        return Err(PasswordError::Length);
    }
    Ok(())
}

/// The PHC string of `password` under a fresh salt.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hashing(e.to_string());
    let _permit = HASHING.acquire().await.map_err(|e| failed(&e))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| failed(&e))
    })
    .await
    .map_err(|e| failed(&e))?
}

/// Whether `password` matches `phc`. With `phc` `None` (no such user) a dummy hash
/// is checked all the same, so that the answer takes as long either way and does
/// not tell which users exist.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(b"no such user", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    let known = phc.is_some();
    let result = tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| DUMMY.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await;
    known && result.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_carry_owasp_parameters() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(phc)).await);
        assert!(!verify("correct horse battery".into(), None).await);
    }

    #[test]
    fn length_is_bounded() {
        assert!(check("short").is_err());
        assert!(check(&"x".repeat(MAX_BYTES + 1)).is_err());
        assert!(check("long enough password").is_ok());
    }
}
