//! Sessions to a PostgreSQL connection's server: the host checked against the
//! reach list (and every address it resolves to), TLS as `sslmode` says.
use std::sync::Arc;
use std::time::Duration;

use prism_schemas::v1::PostgresSpec;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config};

use crate::reach::Reach;
use crate::{Failure, FailureKind};

pub const SSL_MODES: &[&str] = &["disable", "prefer", "require"];
/// How long opening a session may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A session, and the task that drives its socket (ended when the client drops).
pub async fn connect(
    spec: &PostgresSpec,
    password: &str,
    reach: &Reach,
) -> Result<Client, Failure> {
    let address = crate::resolve_checked(&spec.host, port(spec), reach).await?;
    let mut config = Config::new();
    config
        .host(&spec.host)
        .hostaddr(address.ip())
        .port(port(spec))
        .user(&spec.user)
        .password(password)
        .dbname(&spec.database)
        .application_name("prism")
        .connect_timeout(CONNECT_TIMEOUT)
        .ssl_mode(ssl_mode(&spec.sslmode));
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config());
    let connecting = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls));
    let (client, connection) = match connecting.await {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => return Err(classify(&error)),
        Err(_) => return Err(Failure::new(FailureKind::Timeout, "no session within 10 s")),
    };
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "postgres session ended");
        }
    });
    Ok(client)
}

pub fn port(spec: &PostgresSpec) -> u16 {
    u16::try_from(spec.port)
        .ok()
        .filter(|p| *p != 0)
        .unwrap_or(5432)
}

fn ssl_mode(name: &str) -> SslMode {
    match name {
        "disable" => SslMode::Disable,
        "require" => SslMode::Require,
        _ => SslMode::Prefer,
    }
}

fn tls_config() -> rustls::ClientConfig {
    static CONFIG: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth()
        })
        .clone()
}

/// What went wrong, in the probe's words. Texts come from the server or the
/// socket; neither ever holds the password (PostgreSQL never echoes it).
pub fn classify(error: &tokio_postgres::Error) -> Failure {
    use tokio_postgres::error::SqlState;
    let text = error.to_string();
    let kind = match error.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            FailureKind::AuthFailed
        }
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => FailureKind::NotFound,
        Some(_) => FailureKind::Error,
        None if text.contains("TLS") || text.contains("tls") || text.contains("certificate") => {
            FailureKind::Tls
        }
        None if text.contains("timed out") => FailureKind::Timeout,
        None => FailureKind::Unreachable,
    };
    let detail = error
        .as_db_error()
        .map_or(text, |db| format!("{}: {}", db.code().code(), db.message()));
    Failure::new(kind, detail)
}

/// `"name"`, a quoted identifier: `schema.table` becomes `"schema"."table"`.
pub fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A text as a SQL string literal. With `standard_conforming_strings` on (every
/// session Prism opens sets it), doubling quotes is the whole of the escaping.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
