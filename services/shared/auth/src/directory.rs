//! Decisions read straight from the configuration database, for callers that decide
//! rarely (the scheduler, once per firing). The gateway decides on every request and
//! keeps a cache in front of the same records.
use prism_store::Tx;
use prism_store::records::{acls, roles, users};

use crate::model::Permission;
use crate::policy::{Acl, Decision, Roles, decide};

pub async fn roles(tx: &Tx) -> prism_store::Result<Roles> {
    Ok(Roles::new(&roles::list(tx).await?))
}

pub async fn acl(tx: &Tx, wanted: &Permission) -> prism_store::Result<Option<Acl>> {
    let Some(name) = &wanted.name else {
        return Ok(None);
    };
    Ok(acls::get(tx, wanted.entity.name(), name)
        .await?
        .map(|record| Acl::new(&record)))
}

/// The decision for user `user` (who may have been deleted since).
pub async fn check(tx: &Tx, user: &str, wanted: &Permission) -> prism_store::Result<Decision> {
    let Some(record) = users::get(tx, user).await? else {
        return Ok(Decision {
            allowed: false,
            because: format!("user {user} no longer exists"),
        });
    };
    let roles = roles(tx).await?;
    let acl = acl(tx, wanted).await?;
    Ok(decide(&record, &roles, acl.as_ref(), wanted))
}
