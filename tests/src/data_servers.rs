//! Real data servers for the connection tests: a PostgreSQL server (Debian's
//! packages) made with `initdb` in a temporary directory and run as the
//! `postgres` user on a free port, every statement logged; and an S3-compatible
//! server (PyPI's `moto[server]`) on a free port. Each is killed and its files
//! removed on drop, so tests run in parallel. `PRISM_PG_BIN` (the directory of
//! `initdb` and `postgres`) and `PRISM_MOTO_SERVER` say where they are when not
//! found in the usual places.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::free_port;

/// What a platform needs to reach both servers: the three secrets and the
/// connections `warehouse` (the PostgreSQL server) and `lake` (bucket `bucket`),
/// as (path, body) to PUT in order.
pub fn connection_setup(
    pg: &PostgresServer,
    s3: &S3Server,
    bucket: &str,
) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "/v1/secrets/pg-password",
            serde_json::json!({"value": PG_PASSWORD}),
        ),
        (
            "/v1/secrets/s3-key-id",
            serde_json::json!({"value": S3_KEY_ID}),
        ),
        (
            "/v1/secrets/s3-secret",
            serde_json::json!({"value": S3_SECRET_KEY}),
        ),
        ("/v1/connections/warehouse", pg.connection("pg-password")),
        ("/v1/connections/lake", s3.connection(bucket)),
    ]
}

/// The superuser the tests connect as, and its password (a test secret: the
/// no-plaintext test looks for it everywhere Prism writes).
pub const PG_USER: &str = "prism";
pub const PG_PASSWORD: &str = "pg-secret-Zq7vK2mR9x";
/// The key pair of the moto server's (any pair is accepted; these are the
/// values Prism is given as secrets).
pub const S3_KEY_ID: &str = "AKIAPRISMTESTKEY0001";
pub const S3_SECRET_KEY: &str = "s3-secret-Wb4nQ8tL1p";

pub struct PostgresServer {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PRISM_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL is installed (./dev.sh test installs it)")
}

/// The uid and gid of the `postgres` user: `initdb` refuses root.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .expect("a postgres user")
    };
    (id("-u"), id("-g"))
}

impl PostgresServer {
    pub async fn start() -> PostgresServer {
        let dir = tempfile::tempdir().unwrap();
        let (uid, gid) = postgres_user();
        let chown = |path: &Path| std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        chown(dir.path());
        let password_file = dir.path().join("pw");
        std::fs::write(&password_file, PG_PASSWORD).unwrap();
        chown(&password_file);
        let data = dir.path().join("data");
        let bin = pg_bin();
        let status = Command::new(bin.join("initdb"))
            .args([
                "-D",
                &data.display().to_string(),
                "-U",
                PG_USER,
                "--auth=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .uid(uid)
            .gid(gid)
            .status()
            .expect("initdb");
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
        chown(&dir.path().join("postgres.log"));
        let child = Command::new(bin.join("postgres"))
            .args(["-D", &data.display().to_string(), "-p", &port.to_string()])
            .args(["-k", &dir.path().display().to_string()])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "log_statement=all",
            ])
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(log)
            .uid(uid)
            .gid(gid)
            .spawn()
            .expect("postgres");
        let server = PostgresServer { child, port, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while server.client().await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "postgres did not start: {}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// A session as the superuser.
    pub async fn client(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let config = format!(
            "host=127.0.0.1 port={} user={PG_USER} password={PG_PASSWORD} dbname=postgres",
            self.port
        );
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// The body of a `postgres` connection to this server, its password the secret
    /// `password_secret`.
    pub fn connection(&self, password_secret: &str) -> serde_json::Value {
        serde_json::json!({"kind":"postgres","host":"127.0.0.1","port":self.port,
            "database":"postgres","user":PG_USER,"password":{"secret":password_secret},
            "sslmode":"disable","pool":{"max":4}})
    }

    /// Staging tables sessions still hold (they end with their sessions).
    pub async fn staging_tables(&self) -> i64 {
        let client = self.client().await.unwrap();
        client
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname = 'prism_staging'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Every statement the server ran so far (`log_statement = all`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct S3Server {
    child: Child,
    pub port: u16,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let program = std::env::var("PRISM_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (./dev.sh test installs it: pip install 'moto[server]')");
        let server = S3Server { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Makes a bucket (moto takes an unsigned PUT).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint()))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "bucket {bucket}: {}",
            response.status()
        );
    }

    /// The body of an `s3` connection to `bucket` of this server, its keys the
    /// secrets `s3-key-id` and `s3-secret`.
    pub fn connection(&self, bucket: &str) -> serde_json::Value {
        serde_json::json!({"kind":"s3","endpoint":self.endpoint(),"region":"us-east-1",
            "bucket":bucket,"access_key_id":{"secret":"s3-key-id"},
            "secret_access_key":{"secret":"s3-secret"},"path_style":true,"allow_http":true})
    }

    /// The bucket as a signed client sees it (moto keeps objects private).
    pub fn store(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(S3_KEY_ID)
            .with_secret_access_key(S3_SECRET_KEY)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()
            .unwrap()
    }

    /// Every key in `bucket`, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let objects: Vec<_> = self.store(bucket).list(None).try_collect().await.unwrap();
        let mut keys: Vec<String> = objects
            .into_iter()
            .map(|o| o.location.to_string())
            .collect();
        keys.sort();
        keys
    }

    /// An object's text, if it is there.
    pub async fn get(&self, bucket: &str, key: &str) -> Option<String> {
        use object_store::ObjectStoreExt;
        let found = self.store(bucket).get(&key.into()).await.ok()?;
        let bytes = found.bytes().await.ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Stores an object.
    pub async fn put(&self, bucket: &str, key: &str, body: &str) {
        use object_store::ObjectStoreExt;
        self.store(bucket)
            .put(&key.into(), body.to_string().into())
            .await
            .unwrap();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
