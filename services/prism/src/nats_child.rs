//! Standalone mode's own nats-server, with JetStream, stored under the data dir.
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use prism_bus::access::{self, BusUser};
use tokio::process::{Child, Command};

pub struct NatsChild {
    child: Child,
    pub url: String,
}

impl NatsChild {
    /// Starts nats-server with JetStream, requiring a login: `passwords` become its
    /// users, with the permissions of [`prism_bus::access`].
    pub async fn start(
        program: &str,
        data_dir: &Path,
        port: u16,
        passwords: &BTreeMap<BusUser, String>,
    ) -> anyhow::Result<NatsChild> {
        let store_dir = data_dir.join("nats");
        let config = data_dir.join("nats.conf");
        access::write_private(&config, &access::authorization_block(passwords))?;
        let ports_dir = data_dir.join("nats-ports");
        std::fs::create_dir_all(&ports_dir)?;
        for stale in std::fs::read_dir(&ports_dir)? {
            let _ = std::fs::remove_file(stale?.path());
        }
        let port_arg = if port == 0 {
            "-1".to_string()
        } else {
            port.to_string()
        };
        let mut command = Command::new(program);
        command
            .arg("-c")
            .arg(&config)
            .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd"])
            .arg(&store_dir)
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // If prism dies, even by SIGKILL, its nats-server goes too.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe, as pre_exec requires.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| {
            format!("cannot start {program:?} (install nats-server 2.10+ or set PRISM_NATS_URL)")
        })?;
        let mut nats = NatsChild {
            child,
            url: String::new(),
        };
        nats.url = nats.wait_for_url(&ports_dir).await?;
        Ok(nats)
    }

    async fn wait_for_url(&mut self, ports_dir: &Path) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("nats-server exited at start ({status}); is the port in use?");
            }
            for entry in std::fs::read_dir(ports_dir)? {
                let text = std::fs::read_to_string(entry?.path()).unwrap_or_default();
                if let Ok(ports) = serde_json::from_str::<serde_json::Value>(&text)
                    && let Some(url) = ports["nats"][0].as_str()
                {
                    return Ok(url.to_string());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("nats-server did not report its port within 20 s")
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: a signal to our own child's pid; no memory is touched.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM)
            };
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
