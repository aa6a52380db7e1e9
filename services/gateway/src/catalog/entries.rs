//! Each configuration entity the catalog keeps by name: where its records are
//! stored and how the API shows it.
use prism_auth::model::Grant;
use prism_auth::{Entity, builtin};
use prism_bus::subjects::ConfigEntity;
use prism_schemas::v1::{
    ConnectionRecord, RoleRecord, ScheduleRecord, SecretRecord, ServiceRecord, UserRecord,
};
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
        let secret = |name: &str| {
            (!name.is_empty()).then(|| bodies::SecretRef {
                secret: name.to_string(),
            })
        };
        let text = |value: &str| (!value.is_empty()).then(|| value.to_string());
        let mut body = bodies::Connection {
            name: self.name.clone(),
            kind: self.kind.clone(),
            root: text(&self.root),
            host: None,
            port: None,
            database: None,
            user: None,
            password: None,
            sslmode: None,
            pool: None,
            endpoint: None,
            region: None,
            bucket: None,
            prefix: None,
            access_key_id: None,
            secret_access_key: None,
            path_style: None,
            allow_http: None,
            created_at: time_text(self.created_at_ms),
            updated_at: time_text(self.updated_at_ms),
        };
        if let Some(pg) = &self.postgres {
            body.host = text(&pg.host);
            body.port = Some(pg.port);
            body.database = text(&pg.database);
            body.user = text(&pg.user);
            body.password = secret(&pg.password_secret);
            body.sslmode = text(&pg.sslmode);
            body.pool = Some(bodies::Pool { max: pg.pool_max });
        }
        if let Some(s3) = &self.s3 {
            body.endpoint = text(&s3.endpoint);
            body.region = text(&s3.region);
            body.bucket = text(&s3.bucket);
            body.prefix = text(&s3.prefix);
            body.access_key_id = secret(&s3.access_key_id_secret);
            body.secret_access_key = secret(&s3.secret_access_key_secret);
            body.path_style = Some(s3.path_style);
            body.allow_http = Some(s3.allow_http);
        }
        body
    }

    stored_in!(records::connections);
}

/// A secret's metadata; the connections that name it are added by the handlers,
/// which read them. The sealed value never leaves the store through the API.
impl Entry for SecretRecord {
    const ENTITY: Entity = Entity::Secrets;
    const KIND: ConfigEntity = ConfigEntity::Secret;
    type Body = bodies::Secret;
    type List = bodies::Secrets;

    fn name(&self) -> &str {
        &self.name
    }

    fn listed(secrets: Vec<bodies::Secret>) -> bodies::Secrets {
        bodies::Secrets { secrets }
    }

    fn body(&self) -> bodies::Secret {
        bodies::Secret {
            name: self.name.clone(),
            version: self.version,
            key_id: self
                .sealed
                .as_ref()
                .map(|s| s.key_id.clone())
                .unwrap_or_default(),
            created_at: time_text(self.created_at_ms),
            updated_at: time_text(self.updated_at_ms),
            updated_by: self.updated_by.clone(),
            connections: Vec::new(),
        }
    }

    stored_in!(records::secrets);
}

/// Occurrences a schedule's body shows ahead.
const SHOWN_OCCURRENCES: usize = 3;

/// The next few times `cron` fires, in RFC 3339 (none for an expression that no
/// longer parses, which a saved schedule cannot have).
fn next_occurrences(cron: &str) -> Vec<String> {
    prism_cron::parse(cron)
        .map(|schedule| {
            prism_cron::upcoming(&schedule, chrono::Utc::now(), SHOWN_OCCURRENCES)
                .into_iter()
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .collect()
        })
        .unwrap_or_default()
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
            dataflow: (!self.dataflow.is_empty()).then(|| self.dataflow.clone()),
            processflow: (!self.processflow.is_empty()).then(|| self.processflow.clone()),
            cron: self.cron.clone(),
            parameters: self.parameters.clone().into_iter().collect(),
            enabled: self.enabled,
            next_occurrences: next_occurrences(&self.cron),
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
