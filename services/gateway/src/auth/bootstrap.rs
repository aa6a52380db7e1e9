//! The first administrator. On an empty directory the first gateway creates user
//! `admin`, with `PRISM_ADMIN_PASSWORD` or a generated password written to
//! `<data dir>/admin.password` (mode 0600). There is no default password.
use std::io::Write;
use std::path::Path;

use prism_auth::{builtin, password, secret};
use prism_schemas::v1::UserRecord;
use prism_store::Store;
use prism_store::records::{auth_generation, now_ms, users};

/// Why the first admin could not be made; the gateway does not start without one.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the first admin's password (PRISM_ADMIN_PASSWORD): {0}")]
    Password(#[from] password::PasswordError),
    #[error("{file}: {source}")]
    PasswordFile {
        file: String,
        source: std::io::Error,
    },
    #[error("the first admin: {0}")]
    Store(#[from] prism_store::Error),
}

pub const ADMIN_USER: &str = "admin";
pub const PASSWORD_FILE: &str = "admin.password";

/// Creates the first admin if no user exists. Several gateways may race: the
/// store's serializable transaction lets exactly one create it.
pub async fn ensure_admin(
    store: &Store,
    data_dir: &Path,
    given: Option<String>,
) -> Result<(), BootstrapError> {
    if has_users(store).await? {
        return Ok(());
    }
    let generated = given.is_none();
    let password = match given {
        Some(password) => {
            password::check(&password)?;
            password
        }
        None => secret::generate().replace(secret::PREFIX, ""),
    };
    let file = data_dir.join(PASSWORD_FILE);
    // Written before the user exists: a crash in between leaves a file that the next
    // start overwrites, never an admin whose password nobody has.
    if generated {
        write_secret(&file, &password).map_err(|source| BootstrapError::PasswordFile {
            file: file.display().to_string(),
            source,
        })?;
    }
    let hash = password::hash(password).await?;
    let created = store
        .transact(|tx| {
            let hash = hash.clone();
            async move {
                if users::any(&tx).await? {
                    return Ok(false);
                }
                let now = now_ms();
                let admin = UserRecord {
                    name: ADMIN_USER.into(),
                    password_hash: hash,
                    roles: vec![builtin::ADMIN.into()],
                    disabled: false,
                    created_at_ms: now,
                    updated_at_ms: now,
                };
                users::put(&tx, &admin).await?;
                auth_generation::bump(&tx).await?;
                Ok(true)
            }
        })
        .await?;
    match (created, generated) {
        (true, true) => tracing::warn!(
            file = %file.display(),
            "created user admin; its generated password is in the file (readable by this user only)"
        ),
        (true, false) => tracing::info!("created user admin with PRISM_ADMIN_PASSWORD"),
        (false, true) => {
            // Another gateway created the first admin meanwhile.
            let _ = std::fs::remove_file(&file);
        }
        (false, false) => {}
    }
    Ok(())
}

async fn has_users(store: &Store) -> Result<bool, prism_store::Error> {
    store
        .transact(|tx| async move { users::any(&tx).await })
        .await
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}
