//! The decision: may this user take this action on this entity, and why.
//!
//! Order: a disabled user may do nothing; `admin` may do everything and cannot be
//! denied; on a named entity, an override's deny beats its allow, which beats the
//! role grants; otherwise a role must grant it.
use std::collections::HashMap;

use prism_schemas::v1::{AclRecord, RoleRecord, UserRecord};

use crate::builtin;
use crate::model::{Action, Grant, Permission, parse_actions};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The grant or override that decided, in words.
    pub because: String,
}

impl Decision {
    fn allow(because: String) -> Decision {
        Decision {
            allowed: true,
            because,
        }
    }

    fn deny(because: String) -> Decision {
        Decision {
            allowed: false,
            because,
        }
    }
}

/// Every role's grants: the built-in ones and the custom ones stored.
#[derive(Debug, Clone)]
pub struct Roles {
    grants: HashMap<String, Vec<Grant>>,
}

impl Roles {
    /// Built-in roles plus `custom`. A stored grant that no longer parses grants
    /// nothing (it was checked when written; failing closed is the safe reading).
    pub fn new(custom: &[RoleRecord]) -> Roles {
        let mut grants: HashMap<String, Vec<Grant>> = builtin::NAMES
            .iter()
            .map(|name| (name.to_string(), builtin::grants(name).unwrap_or_default()))
            .collect();
        for role in custom {
            let parsed = role
                .grants
                .iter()
                .filter_map(|g| Grant::from_record(g).ok())
                .collect();
            grants.entry(role.name.clone()).or_insert(parsed);
        }
        Roles { grants }
    }

    pub fn exists(&self, name: &str) -> bool {
        self.grants.contains_key(name)
    }

    pub fn grants(&self, name: &str) -> &[Grant] {
        self.grants.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The overrides on one entity, parsed.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    entries: Vec<(String, Vec<Action>, Vec<Action>)>,
}

impl Acl {
    pub fn new(record: &AclRecord) -> Acl {
        let entries = record
            .entries
            .iter()
            .map(|e| {
                // Unparsable actions were refused when written; fail closed: an
                // unreadable deny still denies everything.
                let allow = parse_actions(&e.allow).unwrap_or_default();
                let deny = parse_actions(&e.deny).unwrap_or_else(|_| Action::ALL.to_vec());
                (e.principal.clone(), allow, deny)
            })
            .collect();
        Acl { entries }
    }

    fn applying_to<'a>(
        &'a self,
        user: &'a UserRecord,
    ) -> impl Iterator<Item = &'a (String, Vec<Action>, Vec<Action>)> {
        self.entries
            .iter()
            .filter(move |(principal, _, _)| match principal.split_once(':') {
                Some(("user", name)) => name == user.name,
                Some(("role", role)) => user.roles.iter().any(|r| r == role),
                _ => false,
            })
    }
}

pub fn decide(
    user: &UserRecord,
    roles: &Roles,
    acl: Option<&Acl>,
    wanted: &Permission,
) -> Decision {
    if user.disabled {
        return Decision::deny(format!("user {} is disabled", user.name));
    }
    if user.roles.iter().any(|r| r == builtin::ADMIN) {
        return Decision::allow("role admin grants everything".into());
    }
    if let (Some(acl), Some(name)) = (acl, &wanted.name) {
        let on = format!("{}/{}", wanted.entity, name);
        let entries: Vec<_> = acl.applying_to(user).collect();
        if let Some((principal, _, _)) = entries
            .iter()
            .find(|(_, _, deny)| deny.contains(&wanted.action))
        {
            return Decision::deny(format!(
                "override on {on} denies {} to {principal}",
                wanted.action
            ));
        }
        if let Some((principal, _, _)) = entries
            .iter()
            .find(|(_, allow, _)| allow.contains(&wanted.action))
        {
            return Decision::allow(format!(
                "override on {on} allows {} to {principal}",
                wanted.action
            ));
        }
    }
    for role in &user.roles {
        let granting = roles
            .grants(role)
            .iter()
            .find(|g| g.allows(wanted.action, wanted.entity, wanted.name.as_deref()));
        if let Some(grant) = granting {
            return Decision::allow(format!("role {role} grants {}", describe(grant)));
        }
    }
    Decision::deny(format!("no role or override grants {wanted}"))
}

/// `view, execute on dataflows/finance-*`
pub fn describe(grant: &Grant) -> String {
    let actions: Vec<&str> = grant.actions.iter().map(|a| a.name()).collect();
    format!(
        "{} on {}/{}",
        actions.join(", "),
        grant.entity,
        grant.pattern
    )
}

/// A user's effective grants, each with the role that gives it (`GET /v1/me`).
pub fn effective_grants<'a>(user: &'a UserRecord, roles: &'a Roles) -> Vec<(&'a str, &'a Grant)> {
    user.roles
        .iter()
        .flat_map(|role| roles.grants(role).iter().map(move |g| (role.as_str(), g)))
        .collect()
}

#[cfg(test)]
mod tests {
    use prism_schemas::v1::{AclEntry, Grant as GrantRecord};

    use super::*;
    use crate::model::{Action, Entity};

    fn user(name: &str, roles: &[&str]) -> UserRecord {
        UserRecord {
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    fn finance() -> RoleRecord {
        RoleRecord {
            name: "finance".into(),
            grants: vec![GrantRecord {
                entity: "dataflows".into(),
                r#match: "finance-*".into(),
                actions: vec!["view".into(), "execute".into()],
            }],
            ..Default::default()
        }
    }

    fn acl(principal: &str, allow: &[&str], deny: &[&str]) -> Acl {
        let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
        Acl::new(&AclRecord {
            entity: "dataflows".into(),
            name: "adults".into(),
            entries: vec![AclEntry {
                principal: principal.into(),
                allow: strings(allow),
                deny: strings(deny),
            }],
            updated_at_ms: 0,
        })
    }

    fn run(name: &str) -> Permission {
        Permission::on(Action::Execute, Entity::Dataflows, name)
    }

    #[test]
    fn globs_grant_a_family_and_nothing_else() {
        let roles = Roles::new(&[finance()]);
        let bob = user("bob", &["finance"]);
        let yes = decide(&bob, &roles, None, &run("finance-q3"));
        assert!(yes.allowed);
        assert_eq!(
            yes.because,
            "role finance grants view, execute on dataflows/finance-*"
        );
        let no = decide(&bob, &roles, None, &run("adults"));
        assert!(!no.allowed);
        assert_eq!(
            no.because,
            "no role or override grants execute on dataflows/adults"
        );
    }

    #[test]
    fn deny_beats_allow_beats_roles_and_admin_beats_all() {
        let roles = Roles::new(&[]);
        let designer = user("dana", &["designer"]);
        let denied = decide(
            &designer,
            &roles,
            Some(&acl("role:designer", &["execute"], &["execute"])),
            &run("adults"),
        );
        assert!(!denied.allowed);
        assert_eq!(
            denied.because,
            "override on dataflows/adults denies execute to role:designer"
        );
        let nobody = user("nina", &["user"]);
        let allowed = decide(
            &nobody,
            &roles,
            Some(&acl("user:nina", &["execute"], &[])),
            &run("adults"),
        );
        assert_eq!(
            allowed.because,
            "override on dataflows/adults allows execute to user:nina"
        );
        let admin = user("root", &["admin"]);
        assert!(
            decide(
                &admin,
                &roles,
                Some(&acl("user:root", &[], &["execute"])),
                &run("adults")
            )
            .allowed
        );
        let mut disabled = admin.clone();
        disabled.disabled = true;
        assert!(!decide(&disabled, &roles, None, &run("adults")).allowed);
    }

    #[test]
    fn a_type_level_check_ignores_overrides_and_patterns() {
        let roles = Roles::new(&[finance()]);
        let bob = user("bob", &["finance"]);
        let any = Permission::on_type(Action::View, Entity::Dataflows);
        assert!(decide(&bob, &roles, None, &any).allowed);
        assert!(
            !decide(
                &bob,
                &roles,
                None,
                &Permission::on_type(Action::Delete, Entity::Dataflows)
            )
            .allowed
        );
    }
}
