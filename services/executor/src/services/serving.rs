//! Real-time services. Executors learn exposed services from the bucket
//! `prism_services` (never from the configuration database), compile each version
//! once, with its reference tables loaded, and answer requests on
//! `prism.svc.<name>` in one queue group, so NATS spreads them over every executor
//! and a new executor takes traffic by starting. A new version is compiled before
//! it replaces the one answering, so no request meets a half-loaded service.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use futures::StreamExt;
use prism_bus::{Bus, subjects, topology::Topology};
use prism_schemas::v1::ServiceSpec;
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::Confinement;
use crate::services::request::{self, Compiled};

/// A service this executor answers: the version answering now, and its responder.
struct Answering {
    version: u32,
    current: Arc<RwLock<Arc<Compiled>>>,
    responder: JoinHandle<()>,
}

/// Follows the bucket until `shutdown`, answering every exposed service.
pub async fn serve(
    bus: Bus,
    topology: Topology,
    confinement: Arc<Confinement>,
    node: String,
    shutdown: CancellationToken,
) -> prism_bus::Result<()> {
    let bucket = topology.services_bucket(&bus.jetstream).await?;
    let mut watch = bucket
        .watch_with_history(">")
        .await
        .map_err(|e| prism_bus::Error::jetstream("watch services", e))?;
    let mut answering: HashMap<String, Answering> = HashMap::new();
    loop {
        let entry = tokio::select! {
            () = shutdown.cancelled() => break,
            next = watch.next() => match next {
                Some(Ok(entry)) => entry,
                Some(Err(error)) => {
                    tracing::warn!(%error, "services watch interrupted");
                    continue;
                }
                None => break,
            },
        };
        let spec = ServiceSpec::decode(entry.value.as_ref())
            .ok()
            .filter(|s| s.exposed);
        match spec {
            Some(spec) => apply(&bus, &confinement, &node, &mut answering, spec).await,
            None => stop(&mut answering, &entry.key),
        }
    }
    let names: Vec<String> = answering.keys().cloned().collect();
    for name in names {
        stop(&mut answering, &name);
    }
    Ok(())
}

/// Compiles `spec` and puts it in place: a new responder, or a swap under a running
/// one. A version that does not compile leaves the answering one in place.
async fn apply(
    bus: &Bus,
    confinement: &Arc<Confinement>,
    node: &str,
    answering: &mut HashMap<String, Answering>,
    spec: ServiceSpec,
) {
    if answering
        .get(&spec.name)
        .is_some_and(|a| a.version == spec.version)
    {
        return;
    }
    let (name, version) = (spec.name.clone(), spec.version);
    let compiled = match request::compile(spec, confinement.clone()).await {
        Ok(compiled) => Arc::new(compiled),
        Err(error) => {
            tracing::warn!(service = %name, version, %error, "service version not compiled; the answering one stays");
            return;
        }
    };
    if let Some(running) = answering.get_mut(&name) {
        *running.current.write().unwrap_or_else(|e| e.into_inner()) = compiled;
        running.version = version;
        tracing::info!(service = %name, version, "service version rolled out");
        return;
    }
    let subscription = match bus
        .client
        .queue_subscribe(
            subjects::service_request(&name),
            subjects::SERVICE_QUEUE_GROUP.into(),
        )
        .await
    {
        Ok(subscription) => subscription,
        Err(error) => {
            tracing::warn!(service = %name, %error, "cannot subscribe to service requests");
            return;
        }
    };
    let current = Arc::new(RwLock::new(compiled));
    let responder = tokio::spawn(respond(
        bus.clone(),
        subscription,
        current.clone(),
        node.to_string(),
    ));
    tracing::info!(service = %name, version, "service answering");
    answering.insert(
        name,
        Answering {
            version,
            current,
            responder,
        },
    );
}

fn stop(answering: &mut HashMap<String, Answering>, name: &str) {
    if let Some(running) = answering.remove(name) {
        running.responder.abort();
        tracing::info!(service = %name, "service no longer answered here");
    }
}

/// Answers each request on its own task, with the version current when it arrives.
async fn respond(
    bus: Bus,
    mut requests: async_nats::Subscriber,
    current: Arc<RwLock<Arc<Compiled>>>,
    node: String,
) {
    while let Some(message) = requests.next().await {
        let Some(reply_to) = message.reply.clone() else {
            continue;
        };
        let compiled = current.read().unwrap_or_else(|e| e.into_inner()).clone();
        let (bus, node) = (bus.clone(), node.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = request::answer(&compiled, &message.payload, &node, started).await;
            if let Err(error) = bus.client.publish(reply_to, answer.into()).await {
                tracing::warn!(%error, "service reply not sent");
            }
        });
    }
}
