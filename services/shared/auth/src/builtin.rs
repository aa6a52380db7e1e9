//! The built-in roles. They are code, not records: nobody can edit them, and every
//! gateway of every version agrees on what they mean. The README's permission table
//! is this table.
use crate::model::{Action, Entity, Grant};

pub const ADMIN: &str = "admin";

/// Every built-in role's name, most powerful first.
pub const NAMES: &[&str] = &[
    "admin",
    "designer",
    "operator",
    "integrator",
    "viewer",
    "user",
];

use Action::{Create, Delete, Execute, Modify, View};
use Entity::{
    Audit, Cluster, Connections, Dataflows, Jobs, ProcessFlows, Roles, Schedules, Secrets,
    Services, Tokens, Users,
};

const ALL_ACTIONS: &[Action] = &[View, Create, Modify, Delete, Execute];
/// Everything but who may do what: what `viewer` and `operator` may look at.
const OBSERVABLE: &[Entity] = &[
    Connections,
    Dataflows,
    ProcessFlows,
    Jobs,
    Schedules,
    Services,
    Audit,
    Cluster,
];

/// The role's grants (all on `*`), or `None` if `name` is not built in.
pub fn grants(name: &str) -> Option<Vec<Grant>> {
    let rows: Vec<(Entity, &[Action])> = match name {
        "admin" => [
            Connections,
            Dataflows,
            ProcessFlows,
            Jobs,
            Schedules,
            Services,
            Users,
            Roles,
            Tokens,
            Audit,
            Cluster,
            Secrets,
        ]
        .into_iter()
        .map(|entity| (entity, ALL_ACTIONS))
        .collect(),
        // Running a dataflow takes `execute` on each connection it names; binding a
        // secret to a connection takes `execute` on the secret. Secrets are set and
        // used by those who design connections; nobody reads their values.
        "designer" => vec![
            (Connections, ALL_ACTIONS),
            (Secrets, ALL_ACTIONS),
            (Dataflows, ALL_ACTIONS),
            (ProcessFlows, ALL_ACTIONS),
            (Schedules, ALL_ACTIONS),
            (Jobs, &[View, Modify]),
        ],
        "operator" => {
            let mut rows: Vec<(Entity, &[Action])> = OBSERVABLE
                .iter()
                .map(|&entity| (entity, &[View][..]))
                .collect();
            rows.extend([
                (Connections, &[View, Execute][..]),
                (Dataflows, &[View, Execute][..]),
                (ProcessFlows, &[View, Execute]),
                (Jobs, &[View, Modify]),
                (Schedules, &[View, Execute]),
            ]);
            rows
        }
        "integrator" => vec![
            (Services, &[View, Execute][..]),
            (Jobs, &[View]),
            (Dataflows, &[Execute]),
            (Connections, &[Execute]),
        ],
        "viewer" => OBSERVABLE
            .iter()
            .map(|&entity| (entity, &[View][..]))
            .collect(),
        "user" => Vec::new(),
        _ => return None,
    };
    Some(
        rows.into_iter()
            .map(|(entity, actions)| Grant {
                entity,
                pattern: "*".into(),
                actions: actions.to_vec(),
            })
            .collect(),
    )
}

pub fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_role_is_defined_and_nothing_else() {
        for name in NAMES {
            assert!(grants(name).is_some(), "{name}");
        }
        assert!(grants("root").is_none());
    }

    #[test]
    fn only_admin_touches_users_roles_and_tokens() {
        for name in NAMES.iter().filter(|n| **n != ADMIN) {
            let grants = grants(name).unwrap();
            assert!(
                grants
                    .iter()
                    .all(|g| !matches!(g.entity, Users | Roles | Tokens)),
                "{name}"
            );
        }
    }
}
