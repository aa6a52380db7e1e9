//! A configuration change as the bus announces it, on
//! `prism.events.config.<entity>.<op>`, for the audit log and outside consumers:
//! staged in the change's own transaction by whoever makes it (a gateway for the
//! API's changes, a scheduler for an approval that timed out).
use crate::Staged;
use prism_bus::envelope;
use prism_bus::subjects::{self, ConfigEntity, ConfigOp};
use prism_schemas::v1::{ConfigEvent, OutboxMessage};
use prism_store::Tx;
use prism_store::records::now_ms;
use serde_json::Value;

pub struct Change<'a> {
    /// The user who made it.
    pub actor: &'a str,
    pub entity: ConfigEntity,
    pub op: ConfigOp,
    pub name: &'a str,
    /// A dataflow's new version; 0 for every other entity.
    pub version: u32,
    pub details: Value,
}

impl<'a> Change<'a> {
    /// A change without a version (everything but dataflows).
    pub fn new(
        actor: &'a str,
        entity: ConfigEntity,
        op: ConfigOp,
        name: &'a str,
        details: Value,
    ) -> Self {
        Change {
            actor,
            entity,
            op,
            name,
            version: 0,
            details,
        }
    }

    /// The change's event, ready for the outbox.
    pub fn message(&self) -> OutboxMessage {
        let event = ConfigEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            entity: self.entity.as_str().into(),
            name: self.name.into(),
            op: self.op.as_str().into(),
            version: self.version,
            actor: self.actor.into(),
            occurred_at_ms: now_ms(),
            details_json: self.details.to_string(),
        };
        envelope(
            subjects::config_event(self.entity, self.op),
            &event.event_id,
            &event,
        )
    }

    /// Writes the change's event to the outbox within the change's own transaction,
    /// so that a committed change is always announced.
    pub async fn stage(&self, tx: &Tx) -> prism_store::Result<Staged> {
        stage(tx, vec![self.message()]).await
    }
}

/// Writes `messages` as one outbox entry within `tx`.
pub async fn stage(tx: &Tx, messages: Vec<OutboxMessage>) -> prism_store::Result<Staged> {
    let id = uuid::Uuid::now_v7().to_string();
    crate::stage(tx, &id, messages).await
}
