//! Starting the services a role runs, each with the same shape,
//! `run(config, dependencies, shutdown)`, and waiting for them.
use std::future::Future;

use prism_bus::access::BusUser;
use prism_bus::nodes::NodeStatus;
use prism_bus::topology::Topology;
use prism_store::Store;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Wiring;
use crate::config::{Config, Role};

type Services = JoinSet<(&'static str, anyhow::Result<()>)>;

/// Runs every service of the role until one ends (which ends them all: a
/// half-running node is worse than none). Returns the first failure.
pub async fn run(
    config: &Config,
    parts: Wiring,
    shutdown: CancellationToken,
) -> Option<anyhow::Error> {
    let mut services = JoinSet::new();
    start(config, parts, &shutdown, &mut services);
    let mut failure = None;
    while let Some(joined) = services.join_next().await {
        let (name, outcome) = match joined {
            Ok(done) => done,
            Err(error) => ("service task", Err(error.into())),
        };
        if let Err(error) = outcome {
            tracing::error!(service = name, "service failed: {error:#}");
            failure.get_or_insert(error.context(format!("{name} failed")));
        }
        shutdown.cancel();
    }
    failure
}

fn spawn<E>(
    services: &mut Services,
    name: &'static str,
    service: impl Future<Output = Result<(), E>> + Send + 'static,
) where
    E: Into<anyhow::Error>,
{
    services.spawn(async move { (name, service.await.map_err(Into::into)) });
}

fn start(config: &Config, parts: Wiring, shutdown: &CancellationToken, services: &mut Services) {
    let all_roles = matches!(config.role, Role::Standalone | Role::Node);
    let runs = |role: Role| config.role == role || all_roles;
    let Wiring {
        store,
        listener,
        buses,
        topology,
        status,
    } = parts;
    let store = || -> Store {
        store
            .clone()
            .expect("the store is open for every role but executor")
    };
    let shutdown = || shutdown.clone();
    if runs(Role::Audit) {
        let audit = prism_audit::AuditConfig { topology };
        let deps = prism_audit::AuditDeps {
            store: store(),
            bus: buses.of(BusUser::Audit),
        };
        spawn(services, "audit", prism_audit::run(audit, deps, shutdown()));
    }
    if runs(Role::Executor) {
        let executor = executor_config(config, topology, status);
        let deps = prism_executor::ExecutorDeps {
            bus: buses.of(BusUser::Executor),
        };
        spawn(
            services,
            "executor",
            prism_executor::run(executor, deps, shutdown()),
        );
    }
    if runs(Role::Scheduler) {
        let scheduler = prism_scheduler::SchedulerConfig {
            topology,
            max_attempts: config.max_attempts,
            misfire_grace: config.misfire_grace,
            ..Default::default()
        };
        let deps = prism_scheduler::SchedulerDeps {
            store: store(),
            bus: buses.of(BusUser::Scheduler),
        };
        spawn(
            services,
            "scheduler",
            prism_scheduler::run(scheduler, deps, shutdown()),
        );
    }
    if let Some(listener) = listener {
        let gateway = gateway_config(config, topology);
        let deps = prism_gateway::GatewayDeps {
            listener,
            store: store(),
            bus: buses.of(BusUser::Gateway),
        };
        spawn(
            services,
            "gateway",
            prism_gateway::run(gateway, deps, shutdown()),
        );
    }
}

fn executor_config(
    config: &Config,
    topology: Topology,
    status: NodeStatus,
) -> prism_executor::ExecutorConfig {
    prism_executor::ExecutorConfig {
        confinement: prism_executor::Confinement {
            file_roots: config.file_roots.clone(),
            memory_bytes: config.job_memory_mb << 20,
            spill_bytes: (config.job_spill_mb as u64) << 20,
            spill_dir: Some(config.data_dir.join("spill")),
            output_bytes: config.job_output_mb << 20,
            shared_memory: prism_executor::executor_pool(config.executor_memory_mb << 20),
            timeout_default: config.job_timeout,
            timeout_max: config.job_timeout_max,
            keyring: config.keyring.clone(),
            connection_hosts: config.connection_hosts.clone(),
        },
        concurrency: config.executor_concurrency,
        ack_wait: config.ack_wait,
        node_id: config.node_id.clone(),
        topology,
        status,
        ..Default::default()
    }
}

fn gateway_config(config: &Config, topology: Topology) -> prism_gateway::GatewayConfig {
    prism_gateway::GatewayConfig {
        topology,
        max_attempts: config.max_attempts,
        data_dir: config.data_dir.clone(),
        admin_password: config.admin_password.clone(),
        file_roots: config.file_roots.clone(),
        keyring: config.keyring.clone(),
        connection_hosts: config.connection_hosts.clone(),
        ..Default::default()
    }
}
