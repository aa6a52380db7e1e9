use async_nats::jetstream::kv;
use prism_bus::{Bus, subjects};
use prism_jobs::Submitter;
use prism_schemas::v1::ConfigEvent;
use prism_store::Store;
use prism_store::records::now_ms;

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub bus: Bus,
    pub submitter: Submitter,
    /// Cancellation requests, read by executors (which never read the store).
    pub cancels: kv::Store,
    pub topology: prism_bus::topology::Topology,
}

/// Who made a change. Authentication is not built yet, so every caller is anonymous.
pub const ACTOR: &str = "anonymous";

impl AppState {
    /// Publishes a configuration change for the audit log and outside consumers.
    /// The change is already committed; a failed publish is logged, not undone.
    pub async fn config_event(
        &self,
        entity: &str,
        op: &str,
        name: &str,
        version: u32,
        details: serde_json::Value,
    ) {
        let event = ConfigEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            entity: entity.into(),
            name: name.into(),
            op: op.into(),
            version,
            actor: ACTOR.into(),
            occurred_at_ms: now_ms(),
            details_json: details.to_string(),
        };
        let subject = subjects::config_event(entity, op);
        if let Err(error) = self
            .bus
            .publish_durable(subject, &event.event_id, &event)
            .await
        {
            tracing::warn!(%error, entity, op, name, "configuration event not published");
        }
    }
}
