//! Bearer tokens: 256 random bits, shown once, stored only as their SHA-256. A slow
//! hash is for guessable passwords; a token cannot be guessed, so a fast hash keeps
//! the lookup on every request cheap without weakening it.
use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "prism_";
const SECRET_BYTES: usize = 32;

/// A new token: `prism_` and 64 hex digits.
pub fn generate() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// Whether `token` has the shape of one of ours; anything else is refused before
/// any lookup.
pub fn well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|hex| {
        hex.len() == SECRET_BYTES * 2 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// What the token is stored under.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_well_formed_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(well_formed(&a));
        assert!(!well_formed("prism_xyz"));
        assert!(!well_formed(&a.replace(PREFIX, "other_")));
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }
}
