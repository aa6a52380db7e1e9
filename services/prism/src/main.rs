//! `prism`: one binary for every role. Parses and checks configuration first (bad
//! configuration exits with code 64 before anything binds), sets up tracing, then
//! runs the chosen role until SIGINT or SIGTERM; a second signal exits at once.
mod config;
mod nats_child;

use std::process::ExitCode;

use clap::Parser;
use prism_bus::{Bus, topology::Topology};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Cli, Config, Role};

/// `EX_USAGE` from sysexits.h: the conventional exit code for bad configuration.
const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let config = match Config::from_cli(Cli::parse()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("prism: invalid configuration: {message}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    prism_telemetry::init("prism");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("prism stopped: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    // Open the store and bind the port before connecting anywhere, so a wrong
    // address or store fails fast.
    let store = if config.role == Role::Executor {
        None
    } else {
        Some(prism_store::open(&config.store_url).await?)
    };
    let listener = match config.role {
        Role::Gateway | Role::Standalone | Role::Node => {
            Some(TcpListener::bind(config.http_addr).await?)
        }
        _ => None,
    };
    let nats_child = match (&config.nats_url, config.role) {
        (None, Role::Standalone) => Some(
            nats_child::NatsChild::start(&config.nats_server, &config.data_dir, config.nats_port)
                .await?,
        ),
        _ => None,
    };
    let nats_url = match (&config.nats_url, &nats_child) {
        (Some(url), _) => url.clone(),
        (None, Some(child)) => child.url.clone(),
        (None, None) => unreachable!("checked by Config::from_cli"),
    };
    // Outside consumers (and the README's example) find the bus here.
    std::fs::write(config.data_dir.join("nats.url"), &nats_url)?;
    let bus = Bus::connect(&nats_url, &config.node_id).await?;
    tracing::info!(role = ?config.role, nats = %nats_url, store = %config.store_url, node = %config.node_id, "prism starting");

    let topology = Topology {
        replicas: config.nats_replicas,
    };
    // Streams first: the node's own events go to EVENTS.
    topology.ensure(&bus.jetstream).await?;
    let status = prism_bus::nodes::NodeStatus::default();
    let node = prism_schemas::v1::NodeInfo {
        id: config.node_id.clone(),
        role: format!("{:?}", config.role).to_lowercase(),
        version: env!("CARGO_PKG_VERSION").into(),
        host: std::fs::read_to_string("/etc/hostname")
            .unwrap_or_default()
            .trim()
            .into(),
        started_at_ms: now_ms(),
        ..Default::default()
    };
    let heartbeat_stop = CancellationToken::new();
    let heartbeat = tokio::spawn(prism_bus::nodes::heartbeat(
        bus.clone(),
        topology,
        node,
        status.clone(),
        heartbeat_stop.clone(),
    ));
    let mut services = JoinSet::new();
    let all_roles = matches!(config.role, Role::Standalone | Role::Node);
    let runs = |role: Role| config.role == role || all_roles;
    if runs(Role::Audit) {
        let (store, bus, shutdown) = (store.clone().expect("store"), bus.clone(), shutdown.clone());
        services.spawn(async move {
            (
                "audit",
                prism_audit::run(store, bus, topology, shutdown).await,
            )
        });
    }
    if runs(Role::Executor) {
        let executor = prism_executor::ExecutorConfig {
            concurrency: config.executor_concurrency,
            ack_wait: config.ack_wait,
            node_id: config.node_id.clone(),
            topology,
            status: status.clone(),
            ..Default::default()
        };
        let (bus, shutdown) = (bus.clone(), shutdown.clone());
        services.spawn(async move {
            (
                "executor",
                prism_executor::run(executor, bus, shutdown).await,
            )
        });
    }
    if runs(Role::Scheduler) {
        let scheduler = prism_scheduler::SchedulerConfig {
            topology,
            max_attempts: config.max_attempts,
            misfire_grace: config.misfire_grace,
            ..Default::default()
        };
        let (store, bus, shutdown) = (store.clone().expect("store"), bus.clone(), shutdown.clone());
        services.spawn(async move {
            (
                "scheduler",
                prism_scheduler::run(scheduler, store, bus, shutdown).await,
            )
        });
    }
    if let Some(listener) = listener {
        let gateway = prism_gateway::GatewayConfig {
            topology,
            max_attempts: config.max_attempts,
            ..Default::default()
        };
        let (store, bus, shutdown) = (store.clone().expect("store"), bus.clone(), shutdown.clone());
        services.spawn(async move {
            (
                "gateway",
                prism_gateway::run(listener, gateway, store, bus, shutdown).await,
            )
        });
    }

    let mut failure = None;
    while let Some(joined) = services.join_next().await {
        let (name, outcome) = joined?;
        if let Err(error) = outcome {
            tracing::error!(service = name, "service failed: {error:#}");
            failure.get_or_insert(error.context(format!("{name} failed")));
        }
        // One service ending ends the process: a half-running node is worse than none.
        shutdown.cancel();
    }
    heartbeat_stop.cancel();
    if let Ok(Err(error)) = heartbeat.await {
        tracing::warn!(%error, "node registry unavailable");
    }
    // Flush what the client buffered (acks, events) before the connection goes.
    let _ = bus.client.flush().await;
    if let Some(child) = nats_child {
        child.stop().await;
    }
    tracing::info!("prism stopped");
    failure.map_or(Ok(()), Err)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
