//! Sealing and opening one secret version; re-wrapping its data key under the
//! active master key.
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use prism_schemas::v1::SealedSecret;
use zeroize::Zeroizing;

use crate::keyring::{Keyring, MasterKey};
use crate::{Error, Result};

const NONCE: usize = 24;

/// An opened secret: its value, wiped from memory when dropped. It has no
/// `Debug` or `Display`, so it cannot end up in a log line by accident.
pub struct Opened {
    pub name: String,
    pub version: u32,
    value: Zeroizing<String>,
}

impl Opened {
    pub fn value(&self) -> &str {
        &self.value
    }

    /// `name@version`, as the audit log names a use.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

fn value_aad(name: &str, version: u32) -> Vec<u8> {
    format!("prism-secret:v1:{name}:{version}").into_bytes()
}

fn key_aad(key_id: &str, name: &str, version: u32) -> Vec<u8> {
    format!("prism-data-key:v1:{key_id}:{name}:{version}").into_bytes()
}

/// `nonce || ciphertext` of `plaintext` under `key`, bound to `aad`.
fn encrypt(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message of memory size");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    out
}

fn decrypt(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

fn wrap(master: &MasterKey, data_key: &[u8; 32], name: &str, version: u32) -> Vec<u8> {
    encrypt(&master.bytes, data_key, &key_aad(&master.id, name, version))
}

fn unwrap_key(keyring: &Keyring, sealed: &SealedSecret) -> Result<Zeroizing<[u8; 32]>> {
    let master = keyring.find(&sealed.key_id)?;
    let aad = key_aad(&master.id, &sealed.name, sealed.version);
    let tampered = || Error::Tampered(sealed.name.clone());
    let bytes = decrypt(&master.bytes, &sealed.wrapped_key, &aad).ok_or_else(tampered)?;
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| tampered())?;
    Ok(Zeroizing::new(key))
}

/// Seals `value` as version `version` of secret `name`, with a new data key
/// wrapped by the active master key.
pub fn seal(keyring: &Keyring, name: &str, version: u32, value: &str) -> Result<SealedSecret> {
    let master = keyring.active()?;
    let mut data_key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(data_key.as_mut());
    Ok(SealedSecret {
        name: name.to_string(),
        version,
        key_id: master.id.clone(),
        wrapped_key: wrap(&master, &data_key, name, version),
        ciphertext: encrypt(&data_key, value.as_bytes(), &value_aad(name, version)),
    })
}

/// The value of a sealed secret, with a master key of the keyring.
pub fn open(keyring: &Keyring, sealed: &SealedSecret) -> Result<Opened> {
    let data_key = unwrap_key(keyring, sealed)?;
    let aad = value_aad(&sealed.name, sealed.version);
    let bytes = decrypt(&data_key, &sealed.ciphertext, &aad)
        .ok_or_else(|| Error::Tampered(sealed.name.clone()))?;
    let value =
        String::from_utf8(bytes.to_vec()).map_err(|_| Error::Tampered(sealed.name.clone()))?;
    Ok(Opened {
        name: sealed.name.clone(),
        version: sealed.version,
        value: Zeroizing::new(value),
    })
}

/// The same secret with its data key wrapped by the active master key, or `None`
/// when it already is. The value's ciphertext is unchanged: rotation touches
/// 72 bytes per secret, and never the value.
pub fn rewrap(keyring: &Keyring, sealed: &SealedSecret) -> Result<Option<SealedSecret>> {
    let active = keyring.active()?;
    if sealed.key_id == active.id {
        return Ok(None);
    }
    let data_key = unwrap_key(keyring, sealed)?;
    Ok(Some(SealedSecret {
        key_id: active.id.clone(),
        wrapped_key: wrap(&active, &data_key, &sealed.name, sealed.version),
        ..sealed.clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ring_of(dir: &Path, keys: &[&MasterKey]) -> Keyring {
        let path = dir.join(format!("k{}", keys.len()));
        let text: String = keys.iter().map(|k| format!("{}\n", k.line())).collect();
        std::fs::write(&path, text).unwrap();
        Keyring::open(&path).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_and_holds_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let ring = ring_of(dir.path(), &[&MasterKey::generate()]);
        let sealed = seal(&ring, "pg", 3, "hunter2-correct-horse").unwrap();
        let bytes = prost::Message::encode_to_vec(&sealed);
        let needle = b"hunter2-correct-horse";
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        let opened = open(&ring, &sealed).unwrap();
        assert_eq!(opened.value(), "hunter2-correct-horse");
        assert_eq!(opened.label(), "pg@3");
    }

    #[test]
    fn a_value_moved_to_another_secret_or_version_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let ring = ring_of(dir.path(), &[&MasterKey::generate()]);
        let sealed = seal(&ring, "pg", 1, "value").unwrap();
        let renamed = SealedSecret {
            name: "other".into(),
            ..sealed.clone()
        };
        assert!(matches!(open(&ring, &renamed), Err(Error::Tampered(_))));
        let bumped = SealedSecret {
            version: 2,
            ..sealed.clone()
        };
        assert!(matches!(open(&ring, &bumped), Err(Error::Tampered(_))));
        let mut flipped = sealed.clone();
        let last = flipped.ciphertext.len() - 1;
        flipped.ciphertext[last] ^= 1;
        assert!(matches!(open(&ring, &flipped), Err(Error::Tampered(_))));
    }

    #[test]
    fn rotation_rewraps_so_the_old_key_can_go() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let before = ring_of(dir.path(), &[&old]);
        let sealed = seal(&before, "s3-key", 1, "AKIA-secret").unwrap();
        let during = ring_of(dir.path(), &[&new, &old]);
        let rewrapped = rewrap(&during, &sealed)
            .unwrap()
            .expect("under the old key");
        assert_eq!(rewrapped.key_id, new.id);
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext);
        assert!(rewrap(&during, &rewrapped).unwrap().is_none());
        let after = ring_of(dir.path(), &[&new, &new, &new]);
        assert_eq!(open(&after, &rewrapped).unwrap().value(), "AKIA-secret");
        assert!(matches!(open(&after, &sealed), Err(Error::UnknownKey(_))));
    }
}
