//! Whole platforms for tests: `prism standalone`, or the four services as separate
//! processes on a harness NATS server, sharing one embedded store.
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use crate::{Api, NatsServer, Prism, free_port, wait_until};

/// `prism standalone` with its own nats-server child and data directory.
pub struct Standalone {
    pub prism: Prism,
    pub api: Api,
    /// Root of the `files` connection the tests use.
    pub files: PathBuf,
    pub dir: TempDir,
}

impl Standalone {
    pub async fn start() -> Standalone {
        Self::start_with(&[]).await
    }

    /// [`Standalone::start`] with extra settings, e.g. job limits.
    pub async fn start_with(extra: &[(&'static str, String)]) -> Standalone {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let port = free_port();
        let mut env = vec![
            (
                "PRISM_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            ("PRISM_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("PRISM_NATS_PORT", "0".into()),
            ("PRISM_FILE_ROOTS", files.display().to_string()),
        ];
        env.extend(extra.iter().cloned());
        let prism = Prism::start("standalone", &env, &dir.path().join("prism.log"));
        let api = Api::new(format!("http://127.0.0.1:{port}"));
        api.wait_ready(Duration::from_secs(60)).await;
        let api = api.as_admin().await;
        Standalone {
            prism,
            api,
            files,
            dir,
        }
    }

    /// Saves each dataflow (a new one: 201).
    pub async fn save_dataflows(&self, dataflows: &[(&str, serde_json::Value)]) {
        for (name, document) in dataflows {
            let path = format!("/v1/dataflows/{name}");
            let (status, body) = self.api.put(&path, document).await;
            assert_eq!(status, 201, "{name}: {body}");
        }
    }

    /// Writes `people.csv` into the files directory and saves connection `files` on it.
    pub async fn files_connection(&self) {
        crate::write_people_csv(&self.files);
        let connection = serde_json::json!({"kind":"local","root": self.files});
        let (status, body) = self.api.put("/v1/connections/files", &connection).await;
        assert!(status == 201 || status == 200, "{body}");
    }

    /// The URL of the standalone's own nats-server, as written to the data dir.
    pub fn nats_url(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("data/nats.url")).unwrap()
    }

    /// A client of the standalone's own nats-server as `user`, with the password
    /// standalone made in its data dir.
    pub async fn nats_as(&self, user: crate::BusUser) -> async_nats::Client {
        let credentials = prism_bus::access::Credentials {
            dir: self.dir.path().join("data/nats-credentials"),
        };
        crate::connect_as(&self.nats_url(), &credentials, user).await
    }
}

/// Settings for [`Services::start`].
pub struct ServicesSpec {
    pub executors: usize,
    pub schedulers: usize,
    pub ack_wait_secs: u64,
    pub max_attempts: u32,
    pub misfire_grace_secs: u64,
    pub concurrency: usize,
    /// Extra environment of the gateway, e.g. fault injection.
    pub gateway_env: Vec<(&'static str, String)>,
    /// Extra environment of every process, e.g. where traces go.
    pub common_env: Vec<(&'static str, String)>,
}

impl Default for ServicesSpec {
    fn default() -> Self {
        ServicesSpec {
            executors: 1,
            schedulers: 1,
            ack_wait_secs: 30,
            max_attempts: 5,
            misfire_grace_secs: 60,
            concurrency: 4,
            gateway_env: Vec::new(),
            common_env: Vec::new(),
        }
    }
}

/// Gateway, scheduler(s), executor(s) and audit as separate `prism` processes.
pub struct Services {
    pub gateway: Prism,
    pub schedulers: Vec<Prism>,
    pub executors: Vec<Prism>,
    pub audit: Prism,
    pub api: Api,
    pub files: PathBuf,
    pub dir: TempDir,
}

impl Services {
    pub async fn start(nats: &NatsServer, spec: ServicesSpec) -> Services {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let port = free_port();
        let common = |node: &str| -> Vec<(&'static str, String)> {
            let mut env = vec![
                (
                    "PRISM_DATA_DIR",
                    dir.path()
                        .join(format!("data-{node}"))
                        .display()
                        .to_string(),
                ),
                (
                    "PRISM_STORE",
                    format!("sqlite://{}", dir.path().join("config.db").display()),
                ),
                ("PRISM_NATS_URL", nats.url.clone()),
                (
                    "PRISM_NATS_CREDENTIALS_DIR",
                    nats.credentials.dir.display().to_string(),
                ),
                ("PRISM_HTTP_ADDR", format!("127.0.0.1:{port}")),
                ("PRISM_ACK_WAIT_SECS", spec.ack_wait_secs.to_string()),
                ("PRISM_MAX_ATTEMPTS", spec.max_attempts.to_string()),
                ("PRISM_NODE_ID", node.to_string()),
                (
                    "PRISM_MISFIRE_GRACE_SECS",
                    spec.misfire_grace_secs.to_string(),
                ),
                ("PRISM_EXECUTOR_CONCURRENCY", spec.concurrency.to_string()),
                ("PRISM_FILE_ROOTS", files.display().to_string()),
            ];
            env.extend(spec.common_env.iter().cloned());
            env
        };
        let log = |node: &str| dir.path().join(format!("{node}.log"));
        let start = |role: &str, node: &str| {
            let mut env = common(node);
            if role == "executor" {
                // Executors never read the configuration database: give them none.
                env.retain(|(key, _)| *key != "PRISM_STORE");
            }
            Prism::start(role, &env, &log(node))
        };
        let audit = start("audit", "audit");
        let gateway = {
            let mut env = common("gateway");
            env.extend(spec.gateway_env.iter().cloned());
            Prism::start("gateway", &env, &log("gateway"))
        };
        let schedulers = (0..spec.schedulers)
            .map(|i| start("scheduler", &format!("scheduler-{i}")))
            .collect();
        let executors: Vec<Prism> = (0..spec.executors)
            .map(|i| start("executor", &format!("executor-{i}")))
            .collect();
        let api = Api::new(format!("http://127.0.0.1:{port}"));
        api.wait_ready(Duration::from_secs(60)).await;
        let api = api.as_admin().await;
        let services = Services {
            gateway,
            schedulers,
            executors,
            audit,
            api,
            files,
            dir,
        };
        for i in 0..spec.executors {
            services.wait_registered(&format!("executor-{i}")).await;
        }
        services
    }

    /// Starts one more executor, named `node`, with the settings of the others
    /// (or of the gateway), and waits until it has registered.
    pub async fn start_executor(&mut self, node: &str) {
        let template = self.executors.first().unwrap_or(&self.gateway);
        let mut env: Vec<(&str, String)> = template
            .env
            .iter()
            .filter(|(key, _)| key.as_str() != "PRISM_STORE")
            .map(|(key, value)| (key.as_str(), value.clone()))
            .collect();
        env.retain(|(key, _)| !matches!(*key, "PRISM_NODE_ID" | "PRISM_DATA_DIR"));
        let data_dir = self.dir.path().join(format!("data-{node}"));
        env.push(("PRISM_NODE_ID", node.to_string()));
        env.push(("PRISM_DATA_DIR", data_dir.display().to_string()));
        let log = self.dir.path().join(format!("{node}.log"));
        let executor = Prism::start("executor", &env, &log);
        self.executors.push(executor);
        self.wait_registered(node).await;
    }

    /// Waits until node `node` is listed by `GET /v1/cluster/nodes`: it has connected
    /// and set up its consumers.
    pub async fn wait_registered(&self, node: &str) {
        wait_until(
            &format!("{node} registered"),
            Duration::from_secs(30),
            || async {
                let (_, body) = self.api.get("/v1/cluster/nodes").await;
                let nodes = body["nodes"].as_array().cloned().unwrap_or_default();
                nodes.iter().any(|n| n["id"] == node).then_some(())
            },
        )
        .await;
    }
}
