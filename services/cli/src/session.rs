//! Signing in: `prism login` keeps one token per gateway URL in the user's config
//! directory (`$XDG_CONFIG_HOME/prism/sessions.json`, else `~/.config/prism/`),
//! readable by the user alone.
use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::client::{Client, Failure, Outcome};

/// Passwords are short; a larger stdin is a mistake, not a password.
const MAX_PASSWORD_BYTES: u64 = 1024;

fn sessions_file() -> Outcome<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .ok_or_else(|| Failure::local("neither XDG_CONFIG_HOME nor HOME is set"))?;
            PathBuf::from(home).join(".config")
        }
    };
    Ok(base.join("prism").join("sessions.json"))
}

fn read_sessions() -> Outcome<Map<String, Value>> {
    let path = sessions_file()?;
    match fs::read_to_string(&path) {
        Ok(text) => Ok(serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(Failure::local(format!("{}: {e}", path.display()))),
    }
}

/// Writes the sessions with mode 0600 (a new file, renamed over the old one, so a
/// crash leaves either the old or the new sessions).
fn write_sessions(sessions: &Map<String, Value>) -> Outcome<PathBuf> {
    let path = sessions_file()?;
    let dir = path.parent().expect("sessions file has a directory");
    let fail = |e: std::io::Error| Failure::local(format!("{}: {e}", path.display()));
    fs::create_dir_all(dir).map_err(fail)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(fail)?;
    let staged = dir.join(".sessions.json.new");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staged)
        .map_err(fail)?;
    let text = serde_json::to_string_pretty(&Value::Object(sessions.clone())).expect("json");
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&staged, &path).map_err(fail)?;
    Ok(path)
}

/// The token saved for `url`, if any.
pub fn token_for(url: &str) -> Outcome<Option<String>> {
    Ok(read_sessions()?
        .get(url)
        .and_then(|s| s["token"].as_str())
        .map(str::to_string))
}

/// The password: asked without echo on a terminal, else the first line of stdin.
fn read_password(user: &str) -> Outcome<String> {
    read_hidden(&format!("password for {user}"), MAX_PASSWORD_BYTES)
}

/// A value never given as an argument (arguments show in `ps` and shell
/// history): asked without echo on a terminal, else the first line of stdin, at
/// most `limit` bytes read.
pub fn read_hidden(what: &str, limit: u64) -> Outcome<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{what}: "))
            .map_err(|e| Failure::local(format!("reading the {what}: {e}")))?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .take(limit)
            .read_to_string(&mut text)
            .map_err(|e| Failure::local(format!("reading the {what} from stdin: {e}")))?;
        text.lines().next().unwrap_or("").to_string()
    };
    if value.is_empty() {
        return Err(Failure::local(format!("no {what} given")));
    }
    Ok(value)
}

pub async fn login(url: &str, user: &str) -> Outcome<String> {
    let password = read_password(user)?;
    let client = Client::new(url, None)?;
    let answer = client
        .post(
            "/v1/auth/login",
            &json!({"user": user, "password": password}),
        )
        .await?;
    let token = answer["token"]
        .as_str()
        .ok_or_else(|| Failure::local("the gateway answered no token"))?;
    let mut sessions = read_sessions()?;
    sessions.insert(
        url.to_string(),
        json!({"user": user, "token": token, "expires_at": answer["expires_at"]}),
    );
    let path = write_sessions(&sessions)?;
    Ok(format!(
        "signed in to {url} as {user} (token in {}, expires {})",
        path.display(),
        answer["expires_at"].as_str().unwrap_or("?")
    ))
}

/// Revokes the session on the server (best effort) and forgets it here.
pub async fn logout(url: &str) -> Outcome<String> {
    let mut sessions = read_sessions()?;
    let Some(session) = sessions.remove(url) else {
        return Ok(format!("not signed in to {url}"));
    };
    let token = session["token"].as_str().map(str::to_string);
    let revoked = Client::new(url, token)?
        .post("/v1/auth/logout", &json!({}))
        .await;
    write_sessions(&sessions)?;
    Ok(match revoked {
        Ok(_) => format!("signed out of {url}"),
        Err(e) => format!("forgot the session for {url} (the gateway said: {e})"),
    })
}
