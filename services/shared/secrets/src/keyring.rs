//! Master keys, read from a key file: one key per line (base64 of 32 bytes),
//! the first the active one (it wraps new data keys), the others kept to open
//! what they wrapped until a rotation has re-wrapped it. `#` starts a comment.
//! The file is read again whenever it changes, so that an operator who puts a new
//! key first (or removes an old one) needs no restart of any process.
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{OsRng, rand_core::RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// One master key and its id: the first 8 bytes of its SHA-256, in hex, so the id
/// says which key wrapped a data key without revealing the key.
#[derive(Clone)]
pub struct MasterKey {
    pub id: String,
    pub(crate) bytes: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let digest = Sha256::digest(bytes);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey {
            id,
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A new random key.
    pub fn generate() -> MasterKey {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        MasterKey::from_bytes(bytes)
    }

    /// The key's line in a key file.
    pub fn line(&self) -> String {
        STANDARD.encode(*self.bytes)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// The master keys of a key file, read again when the file changes.
pub struct Keyring {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

struct Loaded {
    modified: Option<SystemTime>,
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({})", self.path.display())
    }
}

impl Keyring {
    /// The keys of `path`; an unreadable file or one with no key is an error
    /// naming the file (the process should refuse to start).
    pub fn open(path: &Path) -> Result<Keyring> {
        let (modified, keys) = read(path)?;
        Ok(Keyring {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded { modified, keys }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that wraps new data keys: the file's first.
    pub fn active(&self) -> Result<MasterKey> {
        self.refresh();
        let loaded = self.loaded.lock().expect("keyring lock");
        loaded.keys.first().cloned().ok_or(Error::NoKey)
    }

    /// The key with id `id`, reading the file again if it is not known (an
    /// operator may have added it since).
    pub fn find(&self, id: &str) -> Result<MasterKey> {
        self.refresh();
        let loaded = self.loaded.lock().expect("keyring lock");
        loaded
            .keys
            .iter()
            .find(|k| k.id == id)
            .cloned()
            .ok_or_else(|| Error::UnknownKey(id.to_string()))
    }

    /// The ids of every key the file holds now, the active one first.
    pub fn ids(&self) -> Vec<String> {
        self.refresh();
        let loaded = self.loaded.lock().expect("keyring lock");
        loaded.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Reads the file again if its modification time moved. A file that became
    /// unreadable or empty keeps the keys last read: an operator's half-written
    /// edit must not stop jobs.
    fn refresh(&self) {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut loaded = self.loaded.lock().expect("keyring lock");
        if modified == loaded.modified {
            return;
        }
        if let Ok((modified, keys)) = read(&self.path) {
            loaded.modified = modified;
            loaded.keys = keys;
        }
    }
}

fn read(path: &Path) -> Result<(Option<SystemTime>, Vec<MasterKey>)> {
    let failed = |reason: String| Error::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|e| failed(e.to_string()))?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?);
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let decoded = Zeroizing::new(
            STANDARD
                .decode(line)
                .map_err(|_| failed(format!("line {}: not base64", number + 1)))?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| failed(format!("line {}: a key is 32 bytes", number + 1)))?;
        keys.push(MasterKey::from_bytes(bytes));
    }
    if keys.is_empty() {
        return Err(failed("no key in it".into()));
    }
    Ok((metadata.modified().ok(), keys))
}

/// A new key as a key file line, for an operator to put first in the file.
pub fn new_key_line() -> String {
    MasterKey::generate().line()
}

/// Writes a key file holding one new key, readable by its owner only (0600),
/// unless `path` exists already. Answers whether it wrote one.
pub fn generate_key_file(path: &Path) -> Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |e: std::io::Error| Error::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(failed(e)),
    };
    let text = format!(
        "# Prism's master key: it opens every secret. Keep it safe, back it up apart\n\
         # from the data, never commit it. The first key wraps new data keys.\n{}\n",
        new_key_line()
    );
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_file_is_private_and_opens() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        assert!(generate_key_file(&path).unwrap());
        assert!(
            !generate_key_file(&path).unwrap(),
            "an existing file is kept"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let ring = Keyring::open(&path).unwrap();
        assert_eq!(ring.ids().len(), 1);
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "# only a comment\n").unwrap();
        assert!(Keyring::open(&path).is_err());
        std::fs::write(&path, "bm90IDMyIGJ5dGVz\n").unwrap();
        let error = Keyring::open(&path).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        std::fs::write(&path, format!("{}\n", old.line())).unwrap();
        let ring = Keyring::open(&path).unwrap();
        assert_eq!(ring.active().unwrap().id, old.id);
        // Modification times may be coarse: make the change visible.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, format!("{}\n{}\n", new.line(), old.line())).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(ring.active().unwrap().id, new.id);
        assert_eq!(ring.find(&old.id).unwrap().id, old.id);
    }
}
