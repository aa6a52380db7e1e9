//! A cluster on one machine: a three-node NATS cluster with JetStream (R3 streams),
//! nginx balancing two gateways, two schedulers, the audit service and three
//! executors, every one a separate `prism` process. The embedded store, shared on
//! the machine, stands in for FoundationDB's role across machines.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::{Api, Prism, free_port, wait_until};

/// One node of a NATS cluster.
pub struct NatsNode {
    child: Option<Child>,
    args: Vec<String>,
    pub url: String,
}

impl NatsNode {
    fn spawn(&mut self) {
        let program = std::env::var("PRISM_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        self.child = Some(
            Command::new(program)
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nats-server"),
        );
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for NatsNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub struct NatsCluster {
    pub nodes: Vec<NatsNode>,
    pub credentials: prism_bus::access::Credentials,
    _dir: TempDir,
}

impl NatsCluster {
    pub fn start(size: usize) -> NatsCluster {
        NatsCluster::start_some(size, size)
    }

    /// A cluster of `size` nodes of which only the first `running` start now; the
    /// others start with [`NatsCluster::start_node`].
    pub fn start_some(size: usize, running: usize) -> NatsCluster {
        let dir = tempfile::tempdir().unwrap();
        let client_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes = route_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let (config, credentials) = crate::nats::secured_config(dir.path());
        let nodes = (0..size)
            .map(|i| {
                let args = vec![
                    "-c".into(),
                    config.display().to_string(),
                    "-js".into(),
                    "-a".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    client_ports[i].to_string(),
                    "-n".into(),
                    format!("nats-{i}"),
                    "--cluster_name".into(),
                    "prism".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{}", route_ports[i]),
                    "--routes".into(),
                    routes.clone(),
                    "-sd".into(),
                    dir.path().join(format!("nats-{i}")).display().to_string(),
                ];
                let mut node = NatsNode {
                    child: None,
                    args,
                    url: format!("nats://127.0.0.1:{}", client_ports[i]),
                };
                if i < running {
                    node.spawn();
                }
                node
            })
            .collect();
        NatsCluster {
            nodes,
            credentials,
            _dir: dir,
        }
    }

    pub fn start_node(&mut self, index: usize) {
        self.nodes[index].spawn();
    }

    /// Every node's URL, comma separated, as clients are configured.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until JetStream has a meta leader (streams can be created).
    pub async fn wait_ready(&self) {
        let client = wait_until(
            "nats cluster reachable",
            Duration::from_secs(30),
            || async {
                let password = self.credentials.password(crate::BusUser::Admin)?;
                async_nats::ConnectOptions::with_user_and_password("admin".into(), password)
                    .connect(&self.nodes[0].url)
                    .await
                    .ok()
            },
        )
        .await;
        let js = async_nats::jetstream::new(client);
        wait_until("jetstream meta leader", Duration::from_secs(60), || async {
            js.query_account().await.ok().map(|_| ())
        })
        .await;
    }
}

/// nginx balancing HTTP over the gateways. One process (`master_process off`), so
/// killing it leaves no orphaned worker holding the port.
pub struct LoadBalancer {
    child: Child,
    pub url: String,
    _dir: TempDir,
}

impl LoadBalancer {
    pub fn start(backends: &[String]) -> LoadBalancer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let servers: String = backends
            .iter()
            .map(|b| format!("    server {b} max_fails=1 fail_timeout=2s;\n"))
            .collect();
        let d = dir.path().display();
        let config = format!(
            "user root;\nworker_processes 1;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               upstream gateways {{\n{servers}  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://gateways;\n\
                     proxy_next_upstream error timeout http_502 http_503;\n      proxy_connect_timeout 1s;\n    }}\n  }}\n}}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let program = std::env::var("PRISM_NGINX").unwrap_or_else(|_| nginx_program());
        let child = Command::new(program)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed (Debian package nginx)");
        LoadBalancer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

fn nginx_program() -> String {
    for candidate in ["/usr/sbin/nginx", "nginx"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    "nginx".into()
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct ClusterSpec {
    pub executors: usize,
    pub ack_wait_secs: u64,
    pub concurrency: usize,
    /// The third NATS node starts this long after every prism process: until it
    /// runs, no stream of three replicas can be made.
    pub late_nats_node: Option<Duration>,
    /// Extra environment of every prism process (e.g. a benchmark's log level).
    pub env: Vec<(&'static str, String)>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            executors: 3,
            ack_wait_secs: 5,
            concurrency: 4,
            late_nats_node: None,
            env: Vec::new(),
        }
    }
}

pub struct Cluster {
    pub nats: NatsCluster,
    pub gateways: Vec<Prism>,
    pub gateway_apis: Vec<Api>,
    pub schedulers: Vec<Prism>,
    pub audit: Prism,
    pub executors: Vec<Prism>,
    pub lb: LoadBalancer,
    /// The load balancer's API: what clients use.
    pub api: Api,
    pub files: PathBuf,
    pub dir: TempDir,
    executor_env: Vec<(&'static str, String)>,
}

impl Cluster {
    pub async fn start(spec: ClusterSpec) -> Cluster {
        let running = if spec.late_nats_node.is_some() { 2 } else { 3 };
        let mut nats = NatsCluster::start_some(3, running);
        // With a node missing, a new NATS cluster elects no JetStream leader.
        if spec.late_nats_node.is_none() {
            nats.wait_ready().await;
        }
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let store = format!("sqlite://{}", dir.path().join("config.db").display());
        let env = |node: &str, http: Option<u16>| -> Vec<(&'static str, String)> {
            let mut env = vec![
                (
                    "PRISM_DATA_DIR",
                    dir.path()
                        .join(format!("data-{node}"))
                        .display()
                        .to_string(),
                ),
                ("PRISM_NATS_URL", nats.urls()),
                (
                    "PRISM_NATS_CREDENTIALS_DIR",
                    nats.credentials.dir.display().to_string(),
                ),
                ("PRISM_NATS_REPLICAS", "3".into()),
                ("PRISM_ACK_WAIT_SECS", spec.ack_wait_secs.to_string()),
                ("PRISM_EXECUTOR_CONCURRENCY", spec.concurrency.to_string()),
                ("PRISM_NODE_ID", node.to_string()),
                ("PRISM_FILE_ROOTS", files.display().to_string()),
            ];
            if !node.starts_with("executor") {
                env.push(("PRISM_STORE", store.clone()));
            }
            if let Some(port) = http {
                env.push(("PRISM_HTTP_ADDR", format!("127.0.0.1:{port}")));
            }
            env.extend(spec.env.iter().cloned());
            env
        };
        let log = |node: &str| dir.path().join(format!("{node}.log"));
        let mut audit = Prism::start("audit", &env("audit", None), &log("audit"));
        let ports = [free_port(), free_port()];
        let mut gateways: Vec<Prism> = (0..2)
            .map(|i| {
                let node = format!("gateway-{i}");
                Prism::start("gateway", &env(&node, Some(ports[i])), &log(&node))
            })
            .collect();
        let gateway_apis: Vec<Api> = ports
            .iter()
            .map(|p| Api::new(format!("http://127.0.0.1:{p}")))
            .collect();
        let mut schedulers: Vec<Prism> = (0..2)
            .map(|i| {
                let node = format!("scheduler-{i}");
                Prism::start("scheduler", &env(&node, None), &log(&node))
            })
            .collect();
        let executor_env = env("executor-x", None);
        let mut executors: Vec<Prism> = (0..spec.executors)
            .map(|i| {
                let node = format!("executor-{i}");
                Prism::start("executor", &env(&node, None), &log(&node))
            })
            .collect();
        let lb = LoadBalancer::start(
            &ports
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect::<Vec<_>>(),
        );
        let api = Api::new(lb.url.clone());
        if let Some(late) = spec.late_nats_node {
            tokio::time::sleep(late).await;
            let processes = gateways.iter_mut().chain(executors.iter_mut());
            for process in processes.chain(schedulers.iter_mut()).chain([&mut audit]) {
                assert_eq!(
                    process.exit_code(),
                    None,
                    "a process gave up while a NATS node was starting: {}",
                    process.log_text()
                );
            }
            nats.start_node(2);
        }
        for gateway in &gateway_apis {
            gateway.wait_ready(Duration::from_secs(90)).await;
        }
        api.wait_ready(Duration::from_secs(30)).await;
        // One session for all: every gateway honours a token issued by any.
        let api = api.as_admin().await;
        let gateway_apis: Vec<Api> = gateway_apis
            .iter()
            .map(|g| g.with_token(api.token.as_deref()))
            .collect();
        let cluster = Cluster {
            nats,
            gateways,
            gateway_apis,
            schedulers,
            audit,
            executors,
            lb,
            api,
            files,
            dir,
            executor_env,
        };
        cluster.wait_nodes(2 + 2 + 1 + spec.executors).await;
        cluster
    }

    /// Waits until `count` healthy nodes are registered.
    pub async fn wait_nodes(&self, count: usize) {
        let reached = tokio::time::timeout(
            Duration::from_secs(90),
            wait_until(
                &format!("{count} healthy nodes"),
                Duration::from_secs(100),
                || async {
                    let (_, body) = self.api.get("/v1/cluster/nodes").await;
                    let healthy = body["nodes"]
                        .as_array()
                        .map_or(0, |n| n.iter().filter(|n| n["health"] == "healthy").count());
                    (healthy >= count).then_some(())
                },
            ),
        )
        .await;
        if reached.is_err() {
            let (_, body) = self.api.get("/v1/cluster/nodes").await;
            let logs: Vec<String> = std::fs::read_dir(self.dir.path())
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .map(|e| {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(5).collect();
                    format!("{}: {}", e.file_name().to_string_lossy(), tail.join(" | "))
                })
                .collect();
            panic!(
                "fewer than {count} healthy nodes: {body}\n{}",
                logs.join("\n")
            );
        }
    }

    /// Starts one more executor: joining needs nothing but starting it.
    pub fn add_executor(&mut self) -> usize {
        let index = self.executors.len();
        let node = format!("executor-{index}");
        let mut env = self.executor_env.clone();
        for (key, value) in env.iter_mut() {
            if *key == "PRISM_NODE_ID" {
                *value = node.clone();
            }
            if *key == "PRISM_DATA_DIR" {
                *value = self
                    .dir
                    .path()
                    .join(format!("data-{node}"))
                    .display()
                    .to_string();
            }
        }
        let log = self.dir.path().join(format!("{node}.log"));
        self.executors.push(Prism::start("executor", &env, &log));
        index
    }
}
