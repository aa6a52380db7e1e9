//! The connections of a run that reach other systems, opened: each secret the
//! job carries (sealed) opened with this executor's master keys, each host
//! checked against this executor's own reach list, whatever the message says.
use std::collections::HashMap;
use std::sync::Arc;

use object_store::ObjectStore;
use prism_connections::{POSTGRES, Reach, S3};
use prism_schemas::v1::{Connection, PostgresSpec, S3Spec};
use prism_secrets::Opened;
use tokio::sync::Semaphore;

use crate::engine::*;

/// A PostgreSQL connection of a run: where, with which password, and how many
/// sessions its stages may hold at once (the connection's `pool.max`).
pub struct PostgresSource {
    pub name: String,
    pub spec: PostgresSpec,
    password: Opened,
    reach: Reach,
    sessions: Arc<Semaphore>,
}

impl std::fmt::Debug for PostgresSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresSource({})", self.name)
    }
}

/// A session and the place it holds in the connection's pool.
pub struct Session {
    pub client: tokio_postgres::Client,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl PostgresSource {
    /// A session set up for Prism's statements: standard strings (so doubling
    /// quotes escapes a literal), ISO dates, UTC.
    pub async fn session(&self) -> Result<Session, EngineError> {
        let place = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| io_error("connection pool closed"))?;
        let client =
            prism_connections::postgres::connect(&self.spec, self.password.value(), &self.reach)
                .await
                .map_err(|failure| self.failed(failure))?;
        client
            .batch_execute(
                "SET standard_conforming_strings = on; SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'",
            )
            .await
            .map_err(|e| self.failed(prism_connections::postgres::classify(&e)))?;
        Ok(Session {
            client,
            _place: place,
        })
    }

    /// A failure to reach the server: worth another attempt unless the server
    /// refused who we are or where we went.
    pub fn failed(&self, failure: prism_connections::Failure) -> EngineError {
        use prism_connections::FailureKind::{AuthFailed, Forbidden, NotFound};
        let text = format!("connection {:?}: {failure}", self.name);
        match failure.kind {
            AuthFailed | Forbidden | NotFound => dataflow_error(text),
            _ => io_error(text),
        }
    }
}

/// An S3 connection of a run: its bucket as a store, and the key prefix every
/// object of the connection lies under.
#[derive(Debug)]
pub struct S3Source {
    pub name: String,
    pub spec: S3Spec,
    pub store: Arc<dyn ObjectStore>,
}

/// A run's remote connections, by name.
#[derive(Default)]
pub struct Remotes {
    postgres: HashMap<String, Arc<PostgresSource>>,
    s3: HashMap<String, Arc<S3Source>>,
    /// `name@version` of each secret opened, for the audit log.
    used: Vec<String>,
}

impl Remotes {
    /// Opens what `connections` need. A secret that does not open (a key not in
    /// the key file, an altered value) or a host outside the reach list fails the
    /// run, naming the connection, never a value.
    pub async fn open(
        connections: &[Connection],
        confinement: &Confinement,
    ) -> Result<Remotes, EngineError> {
        let mut remotes = Remotes::default();
        for connection in connections {
            match connection.kind.as_str() {
                POSTGRES => {
                    let spec = connection.postgres.clone().unwrap_or_default();
                    let mut opened = remotes.open_secrets(connection, confinement)?;
                    let password = opened.pop().ok_or_else(|| missing(connection))?;
                    let sessions = Arc::new(Semaphore::new(spec.pool_max.clamp(1, 64) as usize));
                    let source = PostgresSource {
                        name: connection.name.clone(),
                        spec,
                        password,
                        reach: confinement.connection_hosts.clone(),
                        sessions,
                    };
                    remotes
                        .postgres
                        .insert(connection.name.clone(), Arc::new(source));
                }
                S3 => {
                    let spec = connection.s3.clone().unwrap_or_default();
                    let opened = remotes.open_secrets(connection, confinement)?;
                    let [key_id, secret] = opened.as_slice() else {
                        return Err(missing(connection));
                    };
                    let store = prism_connections::s3::store(
                        &spec,
                        key_id.value(),
                        secret.value(),
                        &confinement.connection_hosts,
                    )
                    .await
                    .map_err(|f| {
                        dataflow_error(format!("connection {:?}: {f}", connection.name))
                    })?;
                    let source = S3Source {
                        name: connection.name.clone(),
                        spec,
                        store,
                    };
                    remotes.s3.insert(connection.name.clone(), Arc::new(source));
                }
                _ => {}
            }
        }
        Ok(remotes)
    }

    fn open_secrets(
        &mut self,
        connection: &Connection,
        confinement: &Confinement,
    ) -> Result<Vec<Opened>, EngineError> {
        let keyring = confinement.keyring.as_deref().ok_or_else(|| {
            dataflow_error(format!(
                "connection {:?} needs secrets, and this executor has no master key (PRISM_MASTER_KEY_FILE)",
                connection.name
            ))
        })?;
        let mut opened = Vec::new();
        for sealed in &connection.secrets {
            let value = prism_secrets::open(keyring, sealed)
                .map_err(|e| dataflow_error(format!("connection {:?}: {e}", connection.name)))?;
            self.used.push(value.label());
            opened.push(value);
        }
        Ok(opened)
    }

    pub fn postgres(&self, name: &str) -> Option<&Arc<PostgresSource>> {
        self.postgres.get(name)
    }

    pub fn s3(&self, name: &str) -> Option<&Arc<S3Source>> {
        self.s3.get(name)
    }

    /// `name@version` of every secret the run opened.
    pub fn secrets_used(&self) -> Vec<String> {
        self.used.clone()
    }
}

fn missing(connection: &Connection) -> EngineError {
    dataflow_error(format!(
        "connection {:?}: the job carries fewer secrets than its kind needs",
        connection.name
    ))
}
