//! Permissions are actions on entity types; a grant names some entities of a type by
//! a glob.
use std::fmt;

macro_rules! names {
    ($(#[$meta:meta])* $ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty { $($variant),* }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            pub fn parse(name: &str) -> Option<$ty> {
                match name { $($name => Some($ty::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(
    /// What a caller does to an entity.
    Action {
        View = "view",
        Create = "create",
        Modify = "modify",
        Delete = "delete",
        Execute = "execute",
    }
);

names!(
    /// The types of things permissions are about.
    Entity {
        Connections = "connections",
        Dataflows = "dataflows",
        ProcessFlows = "processflows",
        Jobs = "jobs",
        Schedules = "schedules",
        Services = "services",
        Users = "users",
        Roles = "roles",
        Tokens = "tokens",
        Audit = "audit",
        Cluster = "cluster",
        Secrets = "secrets",
    }
);

/// One action on one named entity (`name` `None`: on the type, for any name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub action: Action,
    pub entity: Entity,
    pub name: Option<String>,
}

impl Permission {
    pub fn on(action: Action, entity: Entity, name: impl Into<String>) -> Permission {
        Permission {
            action,
            entity,
            name: Some(name.into()),
        }
    }

    pub fn on_type(action: Action, entity: Entity) -> Permission {
        Permission {
            action,
            entity,
            name: None,
        }
    }
}

impl fmt::Display for Permission {
    /// `execute on dataflows/adults`, or `view on dataflows` for the type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} on {}/{}", self.action, self.entity, name),
            None => write!(f, "{} on {}", self.action, self.entity),
        }
    }
}

/// Actions on the entities of one type whose names match `pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub entity: Entity,
    pub pattern: String,
    pub actions: Vec<Action>,
}

/// Bounds on what one custom role or override may hold.
pub const MAX_GRANTS: usize = 100;
pub const MAX_PATTERN_BYTES: usize = 200;

/// Why a grant or a list of actions is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("unknown entity type {0:?}")]
    Entity(String),
    #[error("match must be 1 to {MAX_PATTERN_BYTES} bytes")]
    Pattern,
    #[error("unknown action {0:?}")]
    Action(String),
}

impl Grant {
    /// The stored form of a grant, checked: an unknown entity or action is an error
    /// naming it, so that a typo never widens or silently drops a permission.
    pub fn from_record(record: &prism_schemas::v1::Grant) -> Result<Grant, GrantError> {
        let entity = Entity::parse(&record.entity)
            .ok_or_else(|| GrantError::Entity(record.entity.clone()))?;
        if record.r#match.is_empty() || record.r#match.len() > MAX_PATTERN_BYTES {
            return Err(GrantError::Pattern);
        }
        Ok(Grant {
            entity,
            pattern: record.r#match.clone(),
            actions: parse_actions(&record.actions)?,
        })
    }

    pub fn allows(&self, action: Action, entity: Entity, name: Option<&str>) -> bool {
        self.entity == entity
            && self.actions.contains(&action)
            && name.is_none_or(|name| crate::glob::matches(&self.pattern, name))
    }
}

pub fn parse_actions(names: &[String]) -> Result<Vec<Action>, GrantError> {
    names
        .iter()
        .map(|name| Action::parse(name).ok_or_else(|| GrantError::Action(name.clone())))
        .collect()
}
