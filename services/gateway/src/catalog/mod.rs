//! The catalog: the one way the gateway reads, lists, saves and deletes a
//! configuration entity and announces each change. A handler says what is
//! particular to its entity (how a record is made from the request and the stored
//! one, what else a save must refuse or publish); the catalog does the rest, the
//! same way for every entity: the transaction, the 404, narrowing lists per name,
//! the change event and outbox entry committed with the change, the auth generation
//! for entities that grant, and the answer (201 for a new one, 200 for a change).
mod entries;
pub mod handlers;

use std::future::Future;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prism_auth::Entity;
use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_schemas::v1::OutboxMessage;
use prism_store::Tx;
use prism_store::records::auth_generation;
use serde::Serialize;
use serde_json::Value;

pub use prism_outbox::change::{Change, stage};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A configuration entity kept by name, and how the catalog reaches it.
pub trait Entry: Clone + Send + Sync + Sized + 'static {
    /// Its family in the permission model (`connections`).
    const ENTITY: Entity;
    /// Its name in change events and messages (`connection`).
    const KIND: ConfigEntity;
    /// Changing it may change what someone may do (users, roles): the auth
    /// generation moves in the same transaction, and caches are dropped.
    const GRANTS: bool = false;
    /// What the API answers for it, and for a list of them.
    type Body: Serialize + Send;
    type List: Serialize + Send;

    fn name(&self) -> &str;
    fn body(&self) -> Self::Body;
    fn listed(items: Vec<Self::Body>) -> Self::List;
    fn get(tx: &Tx, name: &str) -> impl Future<Output = prism_store::Result<Option<Self>>> + Send;
    fn list(tx: &Tx) -> impl Future<Output = prism_store::Result<Vec<Self>>> + Send;
    fn put(tx: &Tx, record: &Self) -> impl Future<Output = prism_store::Result<()>> + Send;
    fn delete(tx: &Tx, name: &str) -> impl Future<Output = prism_store::Result<()>> + Send;
}

/// 404 for `name` of `E`'s kind.
pub fn missing<E: Entry>(name: &str) -> ApiError {
    ApiError::not_found("name", format!("no {} named {name:?}", E::KIND.as_str()))
}

/// One entity by name, or 404.
pub async fn read<E: Entry>(state: &AppState, name: &str) -> ApiResult<E> {
    let found = state
        .store
        .transact(|tx| async move { E::get(&tx, name).await })
        .await?;
    found.ok_or_else(|| missing::<E>(name))
}

/// One job by id, or 404 (jobs are records of runs, not configuration, but are
/// read by id the same way).
pub async fn job(state: &AppState, id: &str) -> ApiResult<prism_schemas::v1::JobRecord> {
    let found = state
        .store
        .transact(|tx| async move { prism_store::records::jobs::get(&tx, id).await })
        .await?;
    found.ok_or_else(|| ApiError::not_found("id", format!("no job {id:?}")))
}

/// The entities the caller may view, as the API shows them.
pub async fn visible<E: Entry>(state: &AppState, caller: &Caller) -> ApiResult<Vec<E::Body>> {
    let all = state
        .store
        .transact(|tx| async move { E::list(&tx).await })
        .await?;
    let visible = caller.visible(state, E::ENTITY, all, |e| e.name()).await?;
    Ok(visible.iter().map(E::body).collect())
}

/// What a save makes of the request and the stored record: the record to keep and
/// what else the change publishes with its event.
pub struct Draft<E> {
    pub record: E,
    /// The change event's details, when they are not the record's body (a user's
    /// say whether the password changed, and never hold its hash).
    pub details: Option<Value>,
    /// More messages of the same outbox entry (a service's bucket entry).
    pub also: Vec<OutboxMessage>,
}

impl<E> Draft<E> {
    pub fn of(record: E) -> Self {
        Draft {
            record,
            details: None,
            also: Vec::new(),
        }
    }
}

/// A saved entity and whether the save made it.
pub struct Saved<E> {
    pub record: E,
    pub created: bool,
}

impl<E: Entry> IntoResponse for Saved<E> {
    fn into_response(self) -> Response {
        let status = if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, Json(self.record.body())).into_response()
    }
}

/// Saves `name` as `draft` makes it from the stored record (none for a new one),
/// with its change event (`op`) in the same transaction; `draft` may refuse.
pub async fn save<E, F, Fut>(
    state: &AppState,
    actor: &str,
    name: &str,
    op: ConfigOp,
    draft: F,
) -> ApiResult<Saved<E>>
where
    E: Entry,
    F: Fn(Tx, Option<E>) -> Fut,
    Fut: Future<Output = prism_store::Result<ApiResult<Draft<E>>>>,
{
    let committed = state
        .store
        .transact(|tx| {
            let draft = &draft;
            async move {
                let existing = E::get(&tx, name).await?;
                let created = existing.is_none();
                let plan = match draft(tx.clone(), existing).await? {
                    Ok(plan) => plan,
                    Err(refused) => return Ok(Err(refused)),
                };
                E::put(&tx, &plan.record).await?;
                let details = plan.details.unwrap_or_else(|| body_json(&plan.record));
                let change = Change::new(actor, E::KIND, op, name, details);
                let committed = commit::<E>(&tx, change, plan.also).await?;
                Ok(Ok((plan.record, created, committed)))
            }
        })
        .await??;
    let (record, created, committed) = committed;
    committed.announce::<E>(state).await;
    Ok(Saved { record, created })
}

/// Deletes `name` (404 if it is not there) with its change event (`op`);
/// `before` may refuse, given the stored record, or add messages (a service's
/// bucket entry saying it is gone).
pub async fn delete<E, F, Fut>(
    state: &AppState,
    actor: &str,
    name: &str,
    op: ConfigOp,
    before: F,
) -> ApiResult<StatusCode>
where
    E: Entry,
    F: Fn(Tx, E) -> Fut,
    Fut: Future<Output = prism_store::Result<ApiResult<Vec<OutboxMessage>>>>,
{
    let committed = state
        .store
        .transact(|tx| {
            let before = &before;
            async move {
                let Some(existing) = E::get(&tx, name).await? else {
                    return Ok(Err(missing::<E>(name)));
                };
                let also = match before(tx.clone(), existing).await? {
                    Ok(also) => also,
                    Err(refused) => return Ok(Err(refused)),
                };
                E::delete(&tx, name).await?;
                let change =
                    Change::new(actor, E::KIND, op, name, Value::Object(Default::default()));
                Ok(Ok(commit::<E>(&tx, change, also).await?))
            }
        })
        .await??;
    committed.announce::<E>(state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A `before` for deletes that need nothing else.
pub async fn nothing_else<E>(_: Tx, _: E) -> prism_store::Result<ApiResult<Vec<OutboxMessage>>> {
    Ok(Ok(Vec::new()))
}

fn body_json<E: Entry>(record: &E) -> Value {
    serde_json::to_value(record.body()).unwrap_or(Value::Null)
}

/// A change staged in its transaction, to announce once committed.
struct Committed {
    generation: u64,
    staged: prism_outbox::Staged,
}

async fn commit<E: Entry>(
    tx: &Tx,
    change: Change<'_>,
    also: Vec<OutboxMessage>,
) -> prism_store::Result<Committed> {
    let generation = if E::GRANTS {
        auth_generation::bump(tx).await?
    } else {
        0
    };
    let mut messages = vec![change.message()];
    messages.extend(also);
    let staged = stage(tx, messages).await?;
    Ok(Committed { generation, staged })
}

impl Committed {
    async fn announce<E: Entry>(&self, state: &AppState) {
        if E::GRANTS {
            state.auth_committed(self.generation, &self.staged).await;
        } else {
            state.announce(&self.staged).await;
        }
    }
}
