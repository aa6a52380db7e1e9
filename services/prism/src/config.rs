//! Command line and environment, validated before anything binds or connects.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "prism",
    version,
    about = "Prism: dataflows as batch jobs and real-time services, on one server or a cluster"
)]
pub struct Cli {
    #[command(subcommand)]
    pub role: Role,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, Subcommand, PartialEq, Eq)]
pub enum Role {
    /// HTTP API and bus submissions.
    Gateway,
    /// Fires schedules; dispatches jobs left pending.
    Scheduler,
    /// Runs jobs from the shared queue.
    Executor,
    /// Records every event in the audit log and job history.
    Audit,
    /// All four in one process, with a local nats-server unless --nats-url is given.
    Standalone,
    /// All four in one process, joined to a NATS cluster and a shared store: one
    /// cluster node.
    Node,
    /// Writes the bus's users into the data dir, then exits: `nats.conf` (the
    /// `authorization` block for nats-server's `-c`) and `nats-credentials/` (for
    /// `PRISM_NATS_CREDENTIALS_DIR`). Passwords already there are kept.
    BusCredentials,
    /// Writes a master key file, `master.key` in the data dir (mode 0600), unless
    /// one is there, then exits: every node of a deployment mounts the same one as
    /// PRISM_MASTER_KEY_FILE.
    MasterKey,
}

impl Role {
    /// The role as typed on the command line (`gateway`, `node`, ...): the process's
    /// service name in exported traces is `prism-<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Scheduler => "scheduler",
            Role::Executor => "executor",
            Role::Audit => "audit",
            Role::Standalone => "standalone",
            Role::Node => "node",
            Role::BusCredentials => "bus-credentials",
            Role::MasterKey => "master-key",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Directory for the embedded store and, in standalone mode, NATS's data.
    #[arg(long, global = true, env = "PRISM_DATA_DIR", default_value = ".prism")]
    pub data_dir: PathBuf,
    /// Address the gateway listens on.
    #[arg(
        long,
        global = true,
        env = "PRISM_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http_addr: String,
    /// NATS server URL(s), comma separated. Required except in standalone mode.
    #[arg(long, global = true, env = "PRISM_NATS_URL")]
    pub nats_url: Option<String>,
    /// Configuration database: sqlite://<file> (default: <data-dir>/config.db) or
    /// fdb://<cluster file> (builds with the `foundationdb` feature).
    #[arg(long, global = true, env = "PRISM_STORE")]
    pub store: Option<String>,
    /// Tests only: FoundationDB's faults injected into the store, from a seed
    /// (`seed=7,conflict=0.05,unknown=0.1,...`; see prism_store::faults).
    #[arg(long, global = true, env = "PRISM_STORE_FAULTS", hide = true)]
    pub store_faults: Option<String>,
    /// Tests only: bus publish acknowledgements lost after the message was stored,
    /// from a seed (`seed=7,ack_loss=0.2`).
    #[arg(long, global = true, env = "PRISM_BUS_FAULTS", hide = true)]
    pub bus_faults: Option<String>,
    /// Standalone mode: client port of the local nats-server (0: any free port).
    #[arg(long, global = true, env = "PRISM_NATS_PORT", default_value_t = 4222)]
    pub nats_port: u16,
    /// Standalone mode: the nats-server program.
    #[arg(
        long,
        global = true,
        env = "PRISM_NATS_SERVER",
        default_value = "nats-server"
    )]
    pub nats_server: String,
    /// Replicas of streams and buckets: 1 on one NATS server, 3 on a NATS cluster.
    #[arg(long, global = true, env = "PRISM_NATS_REPLICAS", default_value_t = 1)]
    pub nats_replicas: usize,
    /// Jobs one executor runs at once, at most: they share its memory
    /// (PRISM_EXECUTOR_MEMORY_MB), so many light ones run together.
    #[arg(
        long,
        global = true,
        env = "PRISM_EXECUTOR_CONCURRENCY",
        default_value_t = 16
    )]
    pub executor_concurrency: usize,
    /// Executor: memory all its jobs and services share, in MiB; each job takes at
    /// most PRISM_JOB_MEMORY_MB of it.
    #[arg(
        long,
        global = true,
        env = "PRISM_EXECUTOR_MEMORY_MB",
        default_value_t = 2048
    )]
    pub executor_memory_mb: usize,
    /// Seconds without a heartbeat before a job is given to another executor.
    #[arg(long, global = true, env = "PRISM_ACK_WAIT_SECS", default_value_t = 30)]
    pub ack_wait_secs: u64,
    /// Deliveries of a job before it is dead-lettered as failed.
    #[arg(long, global = true, env = "PRISM_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// Scheduler: an occurrence later than this many seconds is recorded as misfired
    /// instead of fired.
    #[arg(
        long,
        global = true,
        env = "PRISM_MISFIRE_GRACE_SECS",
        default_value_t = 60
    )]
    pub misfire_grace_secs: u64,
    /// Identity of this process in events and logs (default: host and process id).
    #[arg(long, global = true, env = "PRISM_NODE_ID")]
    pub node_id: Option<String>,
    /// Password of the first admin, created when the configuration database has no
    /// user yet; without it one is generated into <data-dir>/admin.password.
    #[arg(
        long,
        global = true,
        env = "PRISM_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// Directories that `local` connections may use, comma separated (default:
    /// <data-dir>/files). Gateways refuse a connection outside them; executors refuse
    /// to run a job whose connection lies outside their own list.
    #[arg(long, global = true, env = "PRISM_FILE_ROOTS")]
    pub file_roots: Option<String>,
    /// The key file of master keys that seal secrets (gateways) and open them
    /// (executors): base64 keys, one per line, the first active. Standalone makes
    /// one in <data-dir>/master.key (mode 0600) when unset. Every node of a cluster
    /// needs the same file.
    #[arg(long, global = true, env = "PRISM_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Hosts and networks that postgres and s3 connections may reach, comma
    /// separated: names (`db.internal`), `*.domain`, addresses and CIDR networks
    /// (default: none). Gateways refuse a connection outside it; executors refuse a
    /// job that names one. Link-local and cloud metadata addresses only as listed
    /// addresses.
    #[arg(long, global = true, env = "PRISM_CONNECTION_HOSTS")]
    pub connection_hosts: Option<String>,
    /// A directory of `<user>.password` files (gateway, scheduler, executor, audit):
    /// each service connects to NATS as its own user. Standalone's own nats-server
    /// makes them in <data-dir>/nats-credentials.
    #[arg(long, global = true, env = "PRISM_NATS_CREDENTIALS_DIR")]
    pub nats_credentials_dir: Option<PathBuf>,
    /// Executor: memory one job may use, in MiB.
    #[arg(
        long,
        global = true,
        env = "PRISM_JOB_MEMORY_MB",
        default_value_t = 512
    )]
    pub job_memory_mb: usize,
    /// Executor: disk one job may spill to when its memory is full, in MiB (0: none).
    #[arg(long, global = true, env = "PRISM_JOB_SPILL_MB", default_value_t = 256)]
    pub job_spill_mb: usize,
    /// Executor: bytes one job may write to its output files, in MiB. Jobs stream, so
    /// memory no longer stops a job whose output never ends; this does.
    #[arg(
        long,
        global = true,
        env = "PRISM_JOB_OUTPUT_MB",
        default_value_t = 16384
    )]
    pub job_output_mb: u64,
    /// Executor: how long a job may run unless its dataflow sets `timeout_seconds`.
    #[arg(
        long,
        global = true,
        env = "PRISM_JOB_TIMEOUT_SECS",
        default_value_t = 3600
    )]
    pub job_timeout_secs: u64,
    /// Executor: the longest any job may run, whatever its dataflow says.
    #[arg(
        long,
        global = true,
        env = "PRISM_JOB_TIMEOUT_MAX_SECS",
        default_value_t = 86400
    )]
    pub job_timeout_max_secs: u64,
    /// Executor, scheduler and audit processes: where to serve `/metrics` and
    /// `/healthz` (gateways serve them on their API port). Unset: not served.
    #[arg(long, global = true, env = "PRISM_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// The bearer token `/metrics` on PRISM_METRICS_ADDR requires (16 characters
    /// or more); required with PRISM_METRICS_ADDR.
    #[arg(
        long,
        global = true,
        env = "PRISM_METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
}

/// Settings checked and resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub role: Role,
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    pub nats_url: Option<String>,
    pub store_url: String,
    /// Injected store faults: set only by tests.
    pub store_faults: Option<prism_store::faults::Faults>,
    /// Injected bus faults: set only by tests.
    pub bus_faults: Option<std::sync::Arc<prism_bus::AckLoss>>,
    pub nats_port: u16,
    pub nats_server: String,
    pub nats_replicas: usize,
    pub executor_concurrency: usize,
    pub ack_wait: Duration,
    pub max_attempts: u32,
    pub misfire_grace: Duration,
    pub node_id: String,
    pub admin_password: Option<String>,
    /// Canonical, existing directories.
    pub file_roots: Vec<PathBuf>,
    pub nats_credentials_dir: Option<PathBuf>,
    /// The master keys, when a key file is set (or standalone made one).
    pub keyring: Option<std::sync::Arc<prism_secrets::Keyring>>,
    pub connection_hosts: prism_connections::Reach,
    pub job_memory_mb: usize,
    pub executor_memory_mb: usize,
    pub job_spill_mb: usize,
    pub job_output_mb: u64,
    pub job_timeout: Duration,
    pub job_timeout_max: Duration,
    /// Where the metrics listener binds, and the token it requires.
    pub metrics: Option<(SocketAddr, String)>,
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config, String> {
        let s = cli.settings;
        check_bounds(&s)?;
        let http_addr: SocketAddr = s
            .http_addr
            .parse()
            .map_err(|e| format!("PRISM_HTTP_ADDR {:?} is not host:port: {e}", s.http_addr))?;
        let nats_url = s.nats_url.filter(|u| !u.trim().is_empty());
        if nats_url.is_none() && cli.role != Role::Standalone {
            return Err("PRISM_NATS_URL (--nats-url) is required for this role".into());
        }
        let data_dir = data_dir(&s.data_dir)?;
        let store_url = s
            .store
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("config.db").display()));
        prism_store::parse_url(&store_url).map_err(|e| format!("PRISM_STORE: {e}"))?;
        let store_faults = s
            .store_faults
            .filter(|f| !f.trim().is_empty())
            .map(|f| prism_store::faults::Faults::parse(&f))
            .transpose()
            .map_err(|e| e.to_string())?;
        let bus_faults = s
            .bus_faults
            .filter(|f| !f.trim().is_empty())
            .map(|f| prism_bus::AckLoss::parse(&f).map(std::sync::Arc::new))
            .transpose()?;
        let admin_password = s.admin_password.filter(|p| !p.is_empty());
        if let Some(password) = &admin_password {
            prism_auth::password::check(password)
                .map_err(|e| format!("PRISM_ADMIN_PASSWORD {e}"))?;
        }
        let node_id = s.node_id.unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        });
        let file_roots = file_roots(s.file_roots.as_deref(), &data_dir)?;
        let metrics = metrics_listener(s.metrics_addr.as_deref(), s.metrics_token)?;
        let keyring = keyring(s.master_key_file, cli.role, &data_dir)?;
        let connection_hosts =
            prism_connections::Reach::parse(s.connection_hosts.as_deref().unwrap_or(""))
                .map_err(|e| e.to_string())?;
        Ok(Config {
            role: cli.role,
            data_dir,
            http_addr,
            nats_url,
            store_url,
            store_faults,
            bus_faults,
            nats_port: s.nats_port,
            nats_server: s.nats_server,
            nats_replicas: s.nats_replicas,
            executor_concurrency: s.executor_concurrency,
            ack_wait: Duration::from_secs(s.ack_wait_secs),
            max_attempts: s.max_attempts,
            misfire_grace: Duration::from_secs(s.misfire_grace_secs),
            node_id,
            admin_password,
            file_roots,
            nats_credentials_dir: s.nats_credentials_dir,
            keyring,
            connection_hosts,
            job_memory_mb: s.job_memory_mb,
            job_spill_mb: s.job_spill_mb,
            executor_memory_mb: s.executor_memory_mb,
            job_output_mb: s.job_output_mb,
            job_timeout: Duration::from_secs(s.job_timeout_secs),
            job_timeout_max: Duration::from_secs(s.job_timeout_max_secs),
            metrics,
        })
    }
}

/// The counts and times every role checks before anything starts.
fn check_bounds(s: &Settings) -> Result<(), String> {
    if !(s.nats_replicas == 1 || s.nats_replicas == 3 || s.nats_replicas == 5) {
        return Err("PRISM_NATS_REPLICAS must be 1, 3 or 5".into());
    }
    if s.executor_concurrency == 0 || s.executor_concurrency > 1024 {
        return Err("PRISM_EXECUTOR_CONCURRENCY must be from 1 to 1024".into());
    }
    if s.ack_wait_secs == 0 {
        return Err("PRISM_ACK_WAIT_SECS must be at least 1".into());
    }
    if s.max_attempts == 0 {
        return Err("PRISM_MAX_ATTEMPTS must be at least 1".into());
    }
    if !(16..=1 << 20).contains(&s.job_memory_mb) {
        return Err("PRISM_JOB_MEMORY_MB must be from 16 to 1048576".into());
    }
    if s.job_timeout_secs == 0 || s.job_timeout_max_secs < s.job_timeout_secs {
        return Err(
            "PRISM_JOB_TIMEOUT_SECS must be at least 1 and at most PRISM_JOB_TIMEOUT_MAX_SECS"
                .into(),
        );
    }
    Ok(())
}

/// `PRISM_DATA_DIR`, made if missing, as its real path.
fn data_dir(dir: &std::path::Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("PRISM_DATA_DIR {}: {e}", dir.display()))?;
    dir.canonicalize()
        .map_err(|e| format!("PRISM_DATA_DIR {}: {e}", dir.display()))
}

/// `PRISM_FILE_ROOTS`, each absolute and existing, resolved to its real path; by
/// default `<data dir>/files`, created.
fn file_roots(setting: Option<&str>, data_dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    let Some(list) = setting.filter(|s| !s.trim().is_empty()) else {
        let default = data_dir.join("files");
        std::fs::create_dir_all(&default).map_err(|e| format!("{}: {e}", default.display()))?;
        return Ok(vec![default.canonicalize().map_err(|e| e.to_string())?]);
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|root| {
            let path = PathBuf::from(root);
            if !path.is_absolute() {
                return Err(format!(
                    "PRISM_FILE_ROOTS: {root:?} is not an absolute path"
                ));
            }
            path.canonicalize()
                .map_err(|e| format!("PRISM_FILE_ROOTS: {root:?}: {e}"))
        })
        .collect()
}

/// The master keys of `PRISM_MASTER_KEY_FILE`; standalone makes `<data
/// dir>/master.key` when it is unset (and says where, once). Other roles without a
/// key file run without secrets: a connection that needs one is refused clearly.
fn keyring(
    setting: Option<PathBuf>,
    role: Role,
    data_dir: &std::path::Path,
) -> Result<Option<std::sync::Arc<prism_secrets::Keyring>>, String> {
    let path = match setting.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => path,
        None if role == Role::Standalone => {
            let path = data_dir.join("master.key");
            if prism_secrets::generate_key_file(&path).map_err(|e| e.to_string())? {
                eprintln!(
                    "prism: generated the master key that seals secrets: {} (keep it safe; back it up apart from the data)",
                    path.display()
                );
            }
            path
        }
        None => return Ok(None),
    };
    let keyring =
        prism_secrets::Keyring::open(&path).map_err(|e| format!("PRISM_MASTER_KEY_FILE: {e}"))?;
    Ok(Some(std::sync::Arc::new(keyring)))
}

/// The metrics listener of roles without an API port: off, or an address with a
/// token long enough to guess at no better than at random.
fn metrics_listener(
    addr: Option<&str>,
    token: Option<String>,
) -> Result<Option<(SocketAddr, String)>, String> {
    let Some(addr) = addr.filter(|a| !a.trim().is_empty()) else {
        return Ok(None);
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("PRISM_METRICS_ADDR {addr:?} is not host:port: {e}"))?;
    match token {
        Some(token) if token.len() >= 16 => Ok(Some((addr, token))),
        _ => Err("PRISM_METRICS_ADDR needs PRISM_METRICS_TOKEN, 16 characters or more".into()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// `prism <role>` must always start the role: deployments run them by name.
    #[test]
    fn client_commands_never_shadow_a_server_role() {
        for role in Cli::command().get_subcommands() {
            assert!(
                !prism_cli::is_client_command(role.get_name()),
                "`prism {}` is both a role and a client command",
                role.get_name()
            );
        }
    }

    #[test]
    fn the_metrics_listener_needs_a_long_token() {
        use super::metrics_listener;
        assert_eq!(metrics_listener(None, None), Ok(None));
        let refused = metrics_listener(Some("127.0.0.1:9464"), Some("short".into()));
        assert!(refused.unwrap_err().contains("PRISM_METRICS_TOKEN"));
        assert!(metrics_listener(Some("nowhere"), Some("x".repeat(16))).is_err());
        let (addr, _) = metrics_listener(Some("127.0.0.1:9464"), Some("x".repeat(16)))
            .unwrap()
            .unwrap();
        assert_eq!(addr.port(), 9464);
    }
}
