//! Immutable versions of a named document, the one way dataflows and process
//! flows are kept: `(family, name, version)` → the record. Nothing ever rewrites a
//! version; saving makes the next one.
use prost::Message;

use super::{get_record, put_record, scan_records};
use crate::error::Result;
use crate::keys::Family;
use crate::kv::Tx;

/// A record kept as versions of a name.
pub trait Versioned: Message + Default {
    fn family() -> Family;
    fn name(&self) -> &str;
    fn version(&self) -> u32;
}

/// The newest version of `name`.
pub async fn latest<R: Versioned>(tx: &Tx, name: &str) -> Result<Option<R>> {
    let rows = scan_records(tx, R::family().range_of(&name), 1, true).await?;
    Ok(rows.into_iter().next().map(|(_, record)| record))
}

pub async fn get<R: Versioned>(tx: &Tx, name: &str, version: u32) -> Result<Option<R>> {
    get_record(tx, &R::family().key(&(name, version))).await
}

/// Stores `record` under its name and version (the caller made it the next one).
pub async fn put<R: Versioned>(tx: &Tx, record: &R) -> Result<()> {
    put_record(
        tx,
        &R::family().key(&(record.name(), record.version())),
        record,
    )
    .await
}

/// The next version number of `name`.
pub async fn next<R: Versioned>(tx: &Tx, name: &str) -> Result<u32> {
    Ok(latest::<R>(tx, name).await?.map_or(0, |r| r.version()) + 1)
}

/// The latest version of every name: two short reads per name (its first key, to
/// learn the name; its last version), never its older versions.
pub async fn list_latest<R: Versioned>(tx: &Tx) -> Result<Vec<R>> {
    let family = R::family();
    let (mut begin, end) = family.range();
    let mut latest = Vec::new();
    loop {
        let first = scan_records::<R>(tx, (begin, end.clone()), 1, false).await?;
        let Some((_, record)) = first.into_iter().next() else {
            return Ok(latest);
        };
        let name = record.name().to_string();
        let newest = scan_records(tx, family.range_of(&name.as_str()), 1, true).await?;
        latest.extend(newest.into_iter().map(|(_, record)| record));
        begin = family.range_of(&name.as_str()).1;
    }
}
