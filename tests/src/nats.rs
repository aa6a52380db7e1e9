use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A `nats-server` with JetStream on a free port and its own store directory.
pub struct NatsServer {
    child: Child,
    pub url: String,
    _dir: TempDir,
}

fn nats_server_program() -> String {
    std::env::var("PRISM_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: PathBuf = dir.path().join("ports");
        std::fs::create_dir_all(&ports).unwrap();
        let child = Command::new(nats_server_program())
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
            _dir: dir,
        }
    }

    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(&self.url)
            .await
            .expect("connect to nats")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
