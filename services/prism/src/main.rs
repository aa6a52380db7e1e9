//! `prism`: one binary for every role. Parses and checks configuration first (bad
//! configuration exits with code 64 before anything binds), sets up tracing, then
//! runs the chosen role until SIGINT or SIGTERM; a second signal exits at once.
mod buses;
mod config;
mod front;
mod metrics_listener;
mod nats_child;
mod roles;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;
use prism_bus::access::Credentials;
use prism_bus::nodes::{self, NodeStatus};
use prism_bus::topology::Topology;
use prism_schemas::v1::NodeInfo;
use prism_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::buses::Buses;
use crate::config::{Cli, Config, Role};
use crate::nats_child::NatsChild;

/// `EX_USAGE` from sysexits.h: the conventional exit code for bad configuration.
pub(crate) const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    // `prism login`, `prism apply`, ...: the operator's client, not a server role.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(prism_cli::is_client_command)
    {
        return prism_cli::main(args);
    }
    if let Some(answered) = front::answer(&args) {
        return answered;
    }
    let cli = Cli::parse();
    if cli.role == Role::BusCredentials {
        return write_bus_credentials(&cli.settings.data_dir);
    }
    if cli.role == Role::MasterKey {
        return write_master_key(&cli.settings.data_dir);
    }
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("prism: invalid configuration: {message}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    prism_telemetry::init(&format!("prism-{}", config.role.name()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("prism stopped: {error:#}");
            ExitCode::FAILURE
        }
    };
    // Outside the runtime: the exporter's client blocks.
    drop(runtime);
    prism_telemetry::shutdown();
    code
}

/// What the roles of this process are wired to: the store, the HTTP listener, the
/// bus connections, the topology and the node status they share.
pub struct Wiring {
    pub store: Option<Store>,
    pub listener: Option<TcpListener>,
    pub buses: Buses,
    pub topology: Topology,
    pub status: NodeStatus,
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    // Open the store and bind the port before connecting anywhere, so a wrong
    // address or store fails fast.
    let store = open_store(&config).await?;
    let listener = bind(&config).await?;
    let metrics_listener = match &config.metrics {
        Some((addr, _)) => Some(metrics_listener::bind(*addr).await?),
        None => None,
    };
    let (buses, nats_child) = connect_bus(&config).await?;
    let bus = buses.primary();
    let topology = Topology {
        replicas: config.nats_replicas,
    };
    let heartbeat_stop = CancellationToken::new();
    // Served while the bus is awaited: `/readyz` says "starting" until it is ready.
    let ready = Arc::new(AtomicBool::new(false));
    if let (Some(listener), Some((_, token))) = (metrics_listener, &config.metrics) {
        tokio::spawn(metrics_listener::serve(
            listener,
            token.clone(),
            ready.clone(),
            heartbeat_stop.clone(),
        ));
    }
    // Streams first: the node's own events go to EVENTS.
    topology.ensure(&bus.jetstream).await?;
    ready.store(true, Ordering::Relaxed);
    let status = NodeStatus::default();
    let heartbeat = tokio::spawn(nodes::heartbeat(
        bus.clone(),
        topology,
        node_info(&config),
        status.clone(),
        heartbeat_stop.clone(),
    ));
    // Log levels changed through any gateway apply here too, while it runs.
    let settings = tokio::spawn(prism_bus::settings::follow_logging(
        bus.clone(),
        topology,
        heartbeat_stop.clone(),
    ));
    let parts = Wiring {
        store,
        listener,
        buses,
        topology,
        status,
    };
    let failure = roles::run(&config, parts, shutdown).await;
    heartbeat_stop.cancel();
    let _ = settings.await;
    if let Ok(Err(error)) = heartbeat.await {
        tracing::warn!(%error, "node registry unavailable");
    }
    // Flush what the clients buffered (acks, events) before the connections go.
    let _ = bus.client.flush().await;
    if let Some(child) = nats_child {
        child.stop().await;
    }
    tracing::info!("prism stopped");
    failure.map_or(Ok(()), Err)
}

/// Executors never open the configuration database.
async fn open_store(config: &Config) -> anyhow::Result<Option<Store>> {
    if config.role == Role::Executor {
        return Ok(None);
    }
    let opened = match &config.store_faults {
        None => prism_store::open(&config.store_url).await,
        Some(faults) => {
            tracing::warn!(%faults, "PRISM_STORE_FAULTS: faults are injected into the store (tests only)");
            prism_store::open_with_faults(&config.store_url, faults.clone()).await
        }
    };
    let store = opened.with_context(|| format!("opening the store {}", config.store_url))?;
    Ok(Some(store))
}

async fn bind(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    if !matches!(config.role, Role::Gateway | Role::Standalone | Role::Node) {
        return Ok(None);
    }
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding {}", config.http_addr))?;
    Ok(Some(listener))
}

/// Connects to the configured NATS, or to standalone's own nats-server child (which
/// requires a login: its users and passwords are made in the data dir).
async fn connect_bus(config: &Config) -> anyhow::Result<(Buses, Option<NatsChild>)> {
    let mut credentials = config
        .nats_credentials_dir
        .clone()
        .map(|dir| Credentials { dir });
    let (url, child) = match (&config.nats_url, config.role) {
        (Some(url), _) => (url.clone(), None),
        (None, Role::Standalone) => {
            let dir = config.data_dir.join("nats-credentials");
            let (own, passwords) = Credentials::ensure_all(&dir)?;
            let child = NatsChild::start(
                &config.nats_server,
                &config.data_dir,
                config.nats_port,
                &passwords,
            )
            .await?;
            credentials = Some(own);
            (child.url.clone(), Some(child))
        }
        (None, _) => unreachable!("checked by Config::from_cli"),
    };
    // Outside consumers (and the README's example) find the bus here.
    std::fs::write(config.data_dir.join("nats.url"), &url)?;
    let mut buses =
        Buses::connect(&url, &config.node_id, config.role, credentials.as_ref()).await?;
    if let Some(loss) = &config.bus_faults {
        tracing::warn!(
            seed = loss.seed,
            ack_loss = loss.chance,
            "PRISM_BUS_FAULTS: publish acknowledgements are lost on purpose (tests only)"
        );
        buses.lose_acks(loss);
    }
    tracing::info!(role = ?config.role, nats = %url, store = %config.store_url, node = %config.node_id, "prism starting");
    Ok((buses, child))
}

fn node_info(config: &Config) -> NodeInfo {
    NodeInfo {
        id: config.node_id.clone(),
        role: format!("{:?}", config.role).to_lowercase(),
        version: env!("CARGO_PKG_VERSION").into(),
        host: std::fs::read_to_string("/etc/hostname")
            .unwrap_or_default()
            .trim()
            .into(),
        started_at_ms: prism_store::records::now_ms(),
        ..Default::default()
    }
}

/// `prism bus-credentials`: the nats-server configuration and every bus user's
/// password, for deployments whose NATS runs apart (compose, a NATS cluster).
fn write_bus_credentials(data_dir: &std::path::Path) -> ExitCode {
    let written =
        Credentials::ensure_all(&data_dir.join("nats-credentials")).and_then(|(_, passwords)| {
            prism_bus::access::write_private(
                &data_dir.join("nats.conf"),
                &prism_bus::access::authorization_block(&passwords),
            )
        });
    match written {
        Ok(()) => {
            println!("{}", data_dir.join("nats.conf").display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "prism: cannot write bus credentials into {}: {error}",
                data_dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn write_master_key(data_dir: &std::path::Path) -> ExitCode {
    let path = data_dir.join("master.key");
    let written = std::fs::create_dir_all(data_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| prism_secrets::generate_key_file(&path).map_err(|e| e.to_string()));
    match written {
        Ok(made) => {
            let what = if made { "made" } else { "kept" };
            println!("{} ({what})", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("prism: cannot write the master key: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down; send the signal again to exit at once");
    shutdown.cancel();
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    std::process::exit(130);
}
