//! One NATS connection per service, each as its own bus user when the bus requires
//! one, so that every service holds only the permissions of its own subjects.
use std::collections::BTreeMap;

use anyhow::Context;
use prism_bus::Bus;
use prism_bus::access::{BusUser, Credentials};

use crate::config::Role;

pub struct Buses {
    by_user: BTreeMap<BusUser, Bus>,
}

/// The bus users a role's services connect as.
fn users_of(role: Role) -> Vec<BusUser> {
    match role {
        Role::Gateway => vec![BusUser::Gateway],
        Role::Scheduler => vec![BusUser::Scheduler],
        Role::Executor => vec![BusUser::Executor],
        Role::Audit => vec![BusUser::Audit],
        Role::BusCredentials | Role::MasterKey => Vec::new(),
        Role::Standalone | Role::Node => vec![
            BusUser::Gateway,
            BusUser::Scheduler,
            BusUser::Executor,
            BusUser::Audit,
        ],
    }
}

impl Buses {
    /// Connects every service of `role`: as its user with `credentials`, else one
    /// shared connection without a login.
    pub async fn connect(
        url: &str,
        node_id: &str,
        role: Role,
        credentials: Option<&Credentials>,
    ) -> anyhow::Result<Buses> {
        let mut by_user = BTreeMap::new();
        let Some(credentials) = credentials else {
            let bus = Bus::connect(url, node_id).await?;
            for user in users_of(role) {
                by_user.insert(user, bus.clone());
            }
            return Ok(Buses { by_user });
        };
        for user in users_of(role) {
            let password = credentials.password(user).with_context(|| {
                format!(
                    "no password for bus user {} in {}",
                    user.name(),
                    credentials.dir.display()
                )
            })?;
            let name = format!("{node_id}/{}", user.name());
            let bus = Bus::connect_as(url, &name, Some((user.name(), &password))).await?;
            by_user.insert(user, bus);
        }
        Ok(Buses { by_user })
    }

    /// Injects `loss` into every connection's publishes: for tests only.
    pub fn lose_acks(&mut self, loss: &std::sync::Arc<prism_bus::AckLoss>) {
        for bus in self.by_user.values_mut() {
            *bus = bus.clone().losing_acks(loss.clone());
        }
    }

    /// The connection of `user`'s service (connected for every user of the role).
    pub fn of(&self, user: BusUser) -> Bus {
        self.by_user
            .get(&user)
            .or_else(|| self.by_user.values().next())
            .cloned()
            .expect("a role runs at least one service")
    }

    /// The node's own connection: heartbeats and topology.
    pub fn primary(&self) -> Bus {
        self.by_user
            .values()
            .next()
            .cloned()
            .expect("a role runs at least one service")
    }

    /// Sends what every connection buffered (acks, events) before they close.
    pub async fn flush(&self) {
        for bus in self.by_user.values() {
            let _ = bus.client.flush().await;
        }
    }
}
