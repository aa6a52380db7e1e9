//! Each configuration entity the catalog keeps by name: where its records are
//! stored and how the API shows it.
use prism_auth::model::Grant;
use prism_auth::{Entity, builtin};
use prism_bus::subjects::ConfigEntity;
use prism_schemas::v1::{ConnectionRecord, RoleRecord, ScheduleRecord, ServiceRecord, UserRecord};
use prism_store::records;

use super::Entry;
use crate::bodies;
use crate::input::time_text;

/// The record functions of a family (`get`, `list`, `put`, `delete`), as [`Entry`]'s.
macro_rules! stored_in {
    ($family:path) => {
        fn get(
            tx: &prism_store::Tx,
            name: &str,
        ) -> impl Future<Output = prism_store::Result<Option<Self>>> + Send {
            use $family as family;
            family::get(tx, name)
        }
        fn list(
            tx: &prism_store::Tx,
        ) -> impl Future<Output = prism_store::Result<Vec<Self>>> + Send {
            use $family as family;
            family::list(tx)
        }
        fn put(
            tx: &prism_store::Tx,
            record: &Self,
        ) -> impl Future<Output = prism_store::Result<()>> + Send {
            use $family as family;
            family::put(tx, record)
        }
        fn delete(
            tx: &prism_store::Tx,
            name: &str,
        ) -> impl Future<Output = prism_store::Result<()>> + Send {
            use $family as family;
            family::delete(tx, name)
        }
    };
}

impl Entry for ConnectionRecord {
    const ENTITY: Entity = Entity::Connections;
    const KIND: ConfigEntity = ConfigEntity::Connection;
    type Body = bodies::Connection;
    type List = bodies::Connections;

    fn name(&self) -> &str {
        &self.name
    }

    fn listed(connections: Vec<bodies::Connection>) -> bodies::Connections {
        bodies::Connections { connections }
    }

    fn body(&self) -> bodies::Connection {
        bodies::Connection {
            name: self.name.clone(),
            kind: self.kind.clone(),
            root: self.root.clone(),
            created_at: time_text(self.created_at_ms),
            updated_at: time_text(self.updated_at_ms),
        }
    }

    stored_in!(records::connections);
}

impl Entry for ScheduleRecord {
    const ENTITY: Entity = Entity::Schedules;
    const KIND: ConfigEntity = ConfigEntity::Schedule;
    type Body = bodies::Schedule;
    type List = bodies::Schedules;

    fn name(&self) -> &str {
        &self.name
    }

    fn listed(schedules: Vec<bodies::Schedule>) -> bodies::Schedules {
        bodies::Schedules { schedules }
    }

    fn body(&self) -> bodies::Schedule {
        bodies::Schedule {
            name: self.name.clone(),
            dataflow: self.dataflow.clone(),
            cron: self.cron.clone(),
            parameters: self.parameters.clone().into_iter().collect(),
            enabled: self.enabled,
            owner: self.owner.clone(),
            created_at: time_text(self.created_at_ms),
            updated_at: time_text(self.updated_at_ms),
        }
    }

    stored_in!(records::schedules);
}

impl Entry for ServiceRecord {
    const ENTITY: Entity = Entity::Services;
    const KIND: ConfigEntity = ConfigEntity::Service;
    type Body = bodies::Service;
    type List = bodies::Services;

    fn name(&self) -> &str {
        &self.name
    }

    fn listed(services: Vec<bodies::Service>) -> bodies::Services {
        bodies::Services { services }
    }

    fn body(&self) -> bodies::Service {
        bodies::Service {
            name: self.name.clone(),
            dataflow: self.dataflow.clone(),
            version: self.version,
            pinned: self.pinned,
            timeout_ms: self.timeout_ms,
            max_inflight: self.max_inflight,
            exposed_by: self.exposed_by.clone(),
            created_at: time_text(self.created_at_ms),
            updated_at: time_text(self.updated_at_ms),
        }
    }

    stored_in!(records::services);
}

impl Entry for UserRecord {
    const ENTITY: Entity = Entity::Users;
    const KIND: ConfigEntity = ConfigEntity::User;
    const GRANTS: bool = true;
    type Body = bodies::User;
    type List = bodies::Users;

    fn name(&self) -> &str {
        &self.name
    }

    fn listed(users: Vec<bodies::User>) -> bodies::Users {
        bodies::Users { users }
    }

    /// Never the password's hash.
    fn body(&self) -> bodies::User {
        bodies::User {
            name: self.name.clone(),
            roles: self.roles.clone(),
            disabled: self.disabled,
            created_at: time_text(self.created_at_ms),
            updated_at: time_text(self.updated_at_ms),
        }
    }

    stored_in!(records::users);
}

/// Roles: the built-in ones as well as the custom ones a store holds.
mod roles {
    use prism_schemas::v1::RoleRecord;
    use prism_store::{Result, Tx, records::roles};

    use super::builtin;

    /// A built-in role as a record (no grants: they are the code's, see `body`).
    fn built_in(name: &str) -> RoleRecord {
        RoleRecord {
            name: name.into(),
            ..Default::default()
        }
    }

    pub async fn get(tx: &Tx, name: &str) -> Result<Option<RoleRecord>> {
        if builtin::is_builtin(name) {
            return Ok(Some(built_in(name)));
        }
        roles::get(tx, name).await
    }

    pub async fn list(tx: &Tx) -> Result<Vec<RoleRecord>> {
        let mut all: Vec<RoleRecord> = builtin::NAMES.iter().map(|n| built_in(n)).collect();
        all.extend(roles::list(tx).await?);
        Ok(all)
    }

    pub use roles::{delete, put};
}

impl Entry for RoleRecord {
    const ENTITY: Entity = Entity::Roles;
    const KIND: ConfigEntity = ConfigEntity::Role;
    const GRANTS: bool = true;
    type Body = bodies::Role;
    type List = bodies::Roles;

    fn name(&self) -> &str {
        &self.name
    }

    fn listed(roles: Vec<bodies::Role>) -> bodies::Roles {
        bodies::Roles { roles }
    }

    fn body(&self) -> bodies::Role {
        let is_builtin = builtin::is_builtin(&self.name);
        let grants: Vec<Grant> = if is_builtin {
            builtin::grants(&self.name).unwrap_or_default()
        } else {
            self.grants
                .iter()
                .filter_map(|g| Grant::from_record(g).ok())
                .collect()
        };
        bodies::Role {
            name: self.name.clone(),
            builtin: is_builtin,
            grants: grants.iter().map(bodies::Grant::from).collect(),
            created_at: time_text(self.created_at_ms),
            updated_at: time_text(self.updated_at_ms),
        }
    }

    stored_in!(roles);
}
