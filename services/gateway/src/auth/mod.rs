//! Authentication and authorization of every request: the guard middleware puts the
//! [`Caller`] into the request's extensions after checking the [`Need`] its route
//! declared in the route table (`routes::table`); handlers whose permission depends
//! on the body or on a stored record check the rest with [`Caller::require`].
pub mod bootstrap;
pub mod directory;
pub mod session;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prism_auth::policy::Decision;
use prism_auth::{Action, Entity, Permission, secret};
use prism_schemas::v1::{TokenRecord, UserRecord};
use prism_store::records::now_ms;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The longest name a path may carry (entity names are shorter still); longer ones
/// are refused before any lookup.
const MAX_NAME_BYTES: usize = 200;

/// What a route needs of its caller, declared next to it in the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, without a token (health checks, login).
    Public,
    /// Any signed-in user; the handler acts on the caller's own things only, or
    /// checks what depends on the body or a record itself.
    Signed,
    /// The action on the entity type (on some name); handlers narrow it per name.
    Type(Action, Entity),
    /// The action on the entity named by this path parameter.
    Named(Action, Entity, &'static str),
    /// `create` if the entity named by the path parameter does not exist yet,
    /// `modify` if it does.
    Upsert(Entity, &'static str),
    /// The action on an entity the handler learns from the body or a stored record
    /// (a job's dataflow); the guard authenticates, the handler checks, so that an
    /// override on that one entity counts.
    Checked(Action, Entity),
}

/// Jobs are named by their dataflow: `view on jobs/adults` shows the jobs of
/// dataflow `adults`.
pub fn on_job(action: Action, job: &prism_schemas::v1::JobRecord) -> Permission {
    Permission::on(action, Entity::Jobs, &job.dataflow)
}

/// The authenticated caller of a request.
#[derive(Clone)]
pub struct Caller {
    pub user: Arc<UserRecord>,
    pub token: TokenRecord,
    /// The hash the token is stored under, for logout.
    pub token_hash: [u8; 32],
}

impl Caller {
    pub fn name(&self) -> &str {
        &self.user.name
    }

    /// The decision for `wanted`; 403 naming it when refused.
    pub async fn require(&self, state: &AppState, wanted: Permission) -> ApiResult<Decision> {
        let decision = state.directory.decide(&self.user, &wanted).await?;
        if decision.allowed {
            Ok(decision)
        } else {
            Err(ApiError::forbidden(&wanted, &decision.because))
        }
    }

    /// The connections the job `request` asks for would run with, each of which
    /// the caller must be allowed to execute (403 naming the first that is not).
    /// The acceptor refuses the job if the version it finds names any other.
    pub async fn require_connections(
        &self,
        state: &AppState,
        request: &prism_jobs::SubmitRequest,
    ) -> ApiResult<Vec<String>> {
        let cached = match request.version {
            None => state.latest_connections.get(&request.dataflow),
            Some(_) => None,
        };
        let connections = match cached {
            Some(connections) => connections,
            None => {
                let read = state
                    .store
                    .transact(|tx| async move { prism_jobs::connections_of(&tx, request).await })
                    .await??;
                let read = Arc::new(read);
                if request.version.is_none() {
                    state
                        .latest_connections
                        .keep(&request.dataflow, read.clone());
                }
                read
            }
        };
        for connection in connections.iter() {
            let wanted = Permission::on(Action::Execute, Entity::Connections, connection);
            self.require(state, wanted).await?;
        }
        Ok(connections.to_vec())
    }

    /// Whether `wanted` is allowed, without failing (to filter lists).
    pub async fn may(&self, state: &AppState, wanted: Permission) -> ApiResult<bool> {
        Ok(state.directory.decide(&self.user, &wanted).await?.allowed)
    }

    /// The items of `all` the caller may view, each judged by the name `name_of`
    /// gives it. Every list narrows here, so that a grant on `services/pricing-*`
    /// lists those services and no others, whatever the list.
    pub async fn visible<T>(
        &self,
        state: &AppState,
        entity: Entity,
        all: Vec<T>,
        name_of: impl Fn(&T) -> &str,
    ) -> ApiResult<Vec<T>> {
        let mut visible = Vec::with_capacity(all.len());
        for item in all {
            let wanted = Permission::on(Action::View, entity, name_of(&item));
            if self.may(state, wanted).await? {
                visible.push(item);
            }
        }
        Ok(visible)
    }
}

/// The caller behind `authorization` (the header's value): 401 when it is missing,
/// malformed, expired, revoked, or its user is gone or disabled.
pub async fn authenticate(state: &AppState, authorization: Option<&str>) -> ApiResult<Caller> {
    let Some(value) = authorization else {
        return Err(ApiError::unauthenticated("missing bearer token"));
    };
    let token = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| secret::well_formed(t))
        .ok_or_else(|| ApiError::unauthenticated("malformed bearer token"))?;
    let hash = secret::hash(token);
    let invalid = || ApiError::unauthenticated("token expired, revoked or unknown");
    let session = state.directory.session(hash).await?.ok_or_else(invalid)?;
    let expired = session.token.expires_at_ms != 0 && session.token.expires_at_ms <= now_ms();
    if expired || session.user.disabled {
        return Err(invalid());
    }
    Ok(Caller {
        user: session.user,
        token: session.token,
        token_hash: hash,
    })
}

/// The middleware of every route: authenticates, checks the route's [`Need`], and
/// hands the caller to the handler.
pub async fn guard(
    State((state, need)): State<(Arc<AppState>, Need)>,
    request: Request,
    next: Next,
) -> Response {
    match admit(&state, need, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

async fn admit(state: &AppState, need: Need, request: Request) -> ApiResult<Request> {
    if need == Need::Public {
        return Ok(request);
    }
    let headers = request.headers();
    let caller = match headers.get(header::AUTHORIZATION) {
        Some(value) => authenticate(state, Some(value.to_str().unwrap_or(""))).await?,
        None => match session::token(headers) {
            Some(token) => {
                session::check_same_origin(request.method(), headers)?;
                authenticate(state, Some(&format!("Bearer {token}"))).await?
            }
            None => authenticate(state, None).await?,
        },
    };
    let (mut parts, body) = request.into_parts();
    let params: Vec<(String, String)> =
        match RawPathParams::from_request_parts(&mut parts, &()).await {
            Ok(params) => params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            Err(_) => Vec::new(),
        };
    if let Some((name, _)) = params.iter().find(|(_, v)| v.len() > MAX_NAME_BYTES) {
        return Err(ApiError::invalid(
            name,
            format!("at most {MAX_NAME_BYTES} bytes"),
        ));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let wanted = match need {
        Need::Public | Need::Signed | Need::Checked(..) => None,
        Need::Type(action, entity) => Some(Permission::on_type(action, entity)),
        Need::Named(action, entity, name) => Some(Permission::on(action, entity, param(name))),
        Need::Upsert(entity, name) => {
            let name = param(name);
            let action = if exists(state, entity, &name).await? {
                Action::Modify
            } else {
                Action::Create
            };
            Some(Permission::on(action, entity, name))
        }
    };
    if let Some(wanted) = wanted {
        caller.require(state, wanted).await?;
    }
    parts.extensions.insert(caller);
    Ok(Request::from_parts(parts, body))
}

/// Whether the entity a `PUT` names exists already.
async fn exists(state: &AppState, entity: Entity, name: &str) -> ApiResult<bool> {
    use prism_store::records::{connections, dataflows, processflows, roles, schedules, users};
    let name = name.to_string();
    let found = state
        .store
        .transact(|tx| {
            let name = name.clone();
            async move {
                Ok(match entity {
                    Entity::Connections => connections::get(&tx, &name).await?.is_some(),
                    Entity::Dataflows => dataflows::latest(&tx, &name).await?.is_some(),
                    Entity::ProcessFlows => processflows::latest(&tx, &name).await?.is_some(),
                    Entity::Schedules => schedules::get(&tx, &name).await?.is_some(),
                    Entity::Users => users::get(&tx, &name).await?.is_some(),
                    Entity::Roles => roles::get(&tx, &name).await?.is_some(),
                    _ => false,
                })
            }
        })
        .await?;
    Ok(found)
}
