use prism_schemas::v1::AclRecord;

use super::{get_record, put_record};
use crate::error::Result;
use crate::keys;
use crate::kv::Tx;

pub async fn put(tx: &Tx, record: &AclRecord) -> Result<()> {
    let key = keys::acls().key(&(record.entity.as_str(), record.name.as_str()));
    put_record(tx, &key, record).await
}

pub async fn get(tx: &Tx, entity: &str, name: &str) -> Result<Option<AclRecord>> {
    get_record(tx, &keys::acls().key(&(entity, name))).await
}

pub async fn delete(tx: &Tx, entity: &str, name: &str) -> Result<()> {
    tx.clear(&keys::acls().key(&(entity, name))).await
}
