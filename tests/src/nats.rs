use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prism_bus::access::{self, BusUser, Credentials};
use tempfile::TempDir;

/// A `nats-server` with JetStream on a free port and its own store directory,
/// requiring a login with the users and permissions of production.
pub struct NatsServer {
    child: Child,
    pub url: String,
    /// Every bus user's password (`PRISM_NATS_CREDENTIALS_DIR` of the services).
    pub credentials: Credentials,
    _dir: TempDir,
}

/// Makes every bus user's password under `dir` and a nats-server configuration
/// that requires them; answers the configuration file and the credentials.
pub fn secured_config(dir: &Path) -> (PathBuf, Credentials) {
    let (credentials, passwords) =
        Credentials::ensure_all(&dir.join("credentials")).expect("bus credentials");
    let config = dir.join("nats.conf");
    std::fs::write(&config, access::authorization_block(&passwords)).expect("nats.conf");
    (config, credentials)
}

/// A client of the bus at `url` as `user`.
pub async fn connect_as(url: &str, credentials: &Credentials, user: BusUser) -> async_nats::Client {
    let password = credentials.password(user).expect("password");
    let servers: Vec<async_nats::ServerAddr> = url.split(',').map(|u| u.parse().unwrap()).collect();
    async_nats::ConnectOptions::with_user_and_password(user.name().into(), password)
        .connect(servers)
        .await
        .expect("connect to nats")
}

fn nats_server_program() -> String {
    std::env::var("PRISM_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: PathBuf = dir.path().join("ports");
        std::fs::create_dir_all(&ports).unwrap();
        let (config, credentials) = secured_config(dir.path());
        let child = Command::new(nats_server_program())
            .arg("-c")
            .arg(&config)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(dir.path().join("store"))
            .arg("--ports_file_dir")
            .arg(&ports)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (2.10 or newer), or PRISM_NATS_SERVER set");
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = loop {
            let found = std::fs::read_dir(&ports)
                .unwrap()
                .filter_map(Result::ok)
                .find_map(|e| {
                    let text = std::fs::read_to_string(e.path()).ok()?;
                    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
                    value["nats"][0].as_str().map(str::to_string)
                });
            if let Some(url) = found {
                break url;
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        NatsServer {
            child,
            url,
            credentials,
            _dir: dir,
        }
    }

    /// A client as the bus admin.
    pub async fn client(&self) -> async_nats::Client {
        self.connect_as(BusUser::Admin).await
    }

    pub async fn connect_as(&self, user: BusUser) -> async_nats::Client {
        connect_as(&self.url, &self.credentials, user).await
    }

    /// `user`'s login, for [`prism_bus::Bus::connect_as`].
    pub fn login(&self, user: BusUser) -> (&'static str, String) {
        (
            user.name(),
            self.credentials.password(user).expect("password"),
        )
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
