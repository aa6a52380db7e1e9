use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `prism` binary: `PRISM_BIN`, else beside the test executable's `deps` folder.
pub fn prism_bin() -> PathBuf {
    if let Ok(path) = std::env::var("PRISM_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    // Tests live in `target/<profile>/deps`, programs in `target/<profile>`.
    let beside = exe.parent().expect("exe dir");
    let bin = [
        beside.join("prism"),
        beside.parent().map(|p| p.join("prism")).unwrap_or_default(),
    ]
    .into_iter()
    .find(|candidate| candidate.exists())
    .unwrap_or_else(|| beside.join("prism"));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p prism` first (the README's test command does)",
        bin.display()
    );
    bin
}

/// A running `prism` process. Killed (SIGKILL) on drop.
pub struct Prism {
    child: Child,
    pub role: String,
    pub env: HashMap<String, String>,
    pub log: PathBuf,
}

impl Prism {
    /// Starts `prism <role>` with `env` (on top of a clean `PRISM_*` environment, and
    /// `PRISM_ADMIN_PASSWORD` set to [`crate::ADMIN_PASSWORD`] unless `env` sets it); its
    /// output goes to `log`.
    pub fn start(role: &str, env: &[(&str, String)], log: &Path) -> Prism {
        let mut env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        env.entry("PRISM_ADMIN_PASSWORD".into())
            .or_insert_with(|| crate::ADMIN_PASSWORD.into());
        Self::spawn(role, env, log)
    }

    fn spawn(role: &str, env: HashMap<String, String>, log: &Path) -> Prism {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let mut command = Command::new(prism_bin());
        command.arg(role);
        for (key, _) in
            std::env::vars().filter(|(k, _)| k.starts_with("PRISM_") && k != "PRISM_NATS_SERVER")
        {
            command.env_remove(key);
        }
        // Tests read debug lines; a benchmark sets its own level through `env`.
        command
            .env("PRISM_LOG", "info,prism=debug")
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = command.spawn().expect("start prism");
        Prism {
            child,
            role: role.into(),
            env,
            log: log.to_path_buf(),
        }
    }

    /// The process's resident memory in KiB (Linux `VmRSS`), to check that an
    /// attack did not make it grow.
    pub fn resident_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the process has had, in KiB (Linux `VmHWM`).
    pub fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`) without waiting.
    pub fn signal(&self, signal: i32) {
        // SAFETY: a signal to our own child's pid; no memory is touched.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as i32, signal)
        };
    }

    /// SIGTERM, then waits up to `timeout` for a graceful exit; returns the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Whether the process has exited, and with which code.
    pub fn exit_code(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    /// Starts the same role with the same settings again (after a kill).
    pub fn restart(&mut self) {
        self.kill9();
        let again = Self::spawn(&self.role.clone(), self.env.clone(), &self.log.clone());
        *self = again;
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        // SAFETY: as in `signal`.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGCONT)
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
