//! The HTTP API, one module per resource, and the route table: every route is
//! added with the [`Need`] its caller must meet, so one table drives both the guard
//! and the authorization-matrix test. A route cannot be added without one.
mod acl;
mod audit;
mod auth;
mod calls;
mod cluster;
mod connections;
mod dataflows;
mod health;
mod history;
mod jobs;
mod roles;
mod schedules;
mod services;
mod tokens;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, post, put};
use prism_auth::{Action, Entity};

use crate::auth::{Need, guard};
use crate::state::AppState;

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub need: Need,
}

struct Table {
    state: Arc<AppState>,
    router: Router<Arc<AppState>>,
    routes: Vec<Route>,
}

impl Table {
    fn add(
        mut self,
        method: Method,
        path: &'static str,
        need: Need,
        handler: MethodRouter<Arc<AppState>>,
    ) -> Self {
        let guarded = handler.route_layer(from_fn_with_state((self.state.clone(), need), guard));
        self.router = self.router.route(path, guarded);
        self.routes.push(Route { method, path, need });
        self
    }

    fn get<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
    ) -> Self {
        self.add(Method::GET, path, need, get(h))
    }

    fn put<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
    ) -> Self {
        self.add(Method::PUT, path, need, put(h))
    }

    fn post<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
    ) -> Self {
        self.add(Method::POST, path, need, post(h))
    }

    fn delete<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
    ) -> Self {
        self.add(Method::DELETE, path, need, delete(h))
    }
}

use Action::{Delete, Execute, Modify, View};
use Entity::{Audit, Cluster, Connections, Dataflows, Jobs, Roles, Schedules, Services, Users};
use Need::{Checked, Named, Public, Signed, Type, Upsert};

/// The router and its route table.
pub fn table(state: Arc<AppState>) -> (Router, Vec<Route>) {
    let t = Table {
        state: state.clone(),
        router: Router::new(),
        routes: Vec::new(),
    };
    let t = [
        sign_in,
        access,
        configuration,
        work,
        service_routes,
        operations,
    ]
    .into_iter()
    .fold(t, |t, routes| routes(t));
    // Unknown paths answer 401 to strangers, so the API cannot be mapped without a token.
    let fallback = health::not_found.layer(from_fn_with_state((state.clone(), Signed), guard));
    let router = t
        .router
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(crate::edges::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::edges::edges))
        .with_state(state);
    (router, t.routes)
}

pub fn router(state: Arc<AppState>) -> Router {
    table(state).0
}

/// Health checks, signing in and out, and the caller's own tokens.
fn sign_in(t: Table) -> Table {
    t.get("/healthz", Public, health::healthz)
        .get("/readyz", Public, health::readyz)
        .post("/v1/auth/login", Public, auth::login)
        .post("/v1/auth/logout", Signed, auth::logout)
        .get("/v1/me", Signed, auth::me)
        .post("/v1/authz/check", Signed, auth::check)
        .post("/v1/tokens", Signed, tokens::create)
        .get("/v1/tokens", Signed, tokens::list)
        .delete("/v1/tokens/{id}", Signed, tokens::revoke)
}

/// Users, roles and overrides: who may do what.
fn access(t: Table) -> Table {
    t.get("/v1/users", Type(View, Users), users::list)
        .get("/v1/users/{name}", Named(View, Users, "name"), users::get)
        // Anyone may change their own password; the handler checks the rest.
        .put("/v1/users/{name}", Checked(Modify, Users), users::put)
        .delete(
            "/v1/users/{name}",
            Named(Delete, Users, "name"),
            users::delete,
        )
        .get("/v1/roles", Type(View, Roles), roles::list)
        .get("/v1/roles/{name}", Named(View, Roles, "name"), roles::get)
        .put("/v1/roles/{name}", Upsert(Roles, "name"), roles::put)
        .delete(
            "/v1/roles/{name}",
            Named(Delete, Roles, "name"),
            roles::delete,
        )
        .get("/v1/acl/{entity}/{name}", Type(View, Roles), acl::get)
        .put("/v1/acl/{entity}/{name}", Type(Modify, Roles), acl::put)
        .delete("/v1/acl/{entity}/{name}", Type(Modify, Roles), acl::delete)
}

/// Connections and dataflows.
fn configuration(t: Table) -> Table {
    t.get(
        "/v1/connections",
        Type(View, Connections),
        connections::list,
    )
    .get(
        "/v1/connections/{name}",
        Named(View, Connections, "name"),
        connections::get,
    )
    .put(
        "/v1/connections/{name}",
        Upsert(Connections, "name"),
        connections::put,
    )
    .get("/v1/dataflows", Type(View, Dataflows), dataflows::list)
    .get(
        "/v1/dataflows/{name}",
        Named(View, Dataflows, "name"),
        dataflows::get_latest,
    )
    .put(
        "/v1/dataflows/{name}",
        Upsert(Dataflows, "name"),
        dataflows::put,
    )
    .get(
        "/v1/dataflows/{name}/versions/{version}",
        Named(View, Dataflows, "name"),
        dataflows::get_version,
    )
}

/// Jobs and schedules.
fn work(t: Table) -> Table {
    t
        // Jobs are named by their dataflow: the handlers check per job.
        .get("/v1/jobs", Type(View, Jobs), jobs::list)
        .post("/v1/jobs", Checked(Execute, Dataflows), jobs::submit)
        .get("/v1/jobs/{id}", Checked(View, Jobs), jobs::get)
        .post("/v1/jobs/{id}/cancel", Checked(Modify, Jobs), jobs::cancel)
        .get("/v1/schedules", Type(View, Schedules), schedules::list)
        .get(
            "/v1/schedules/{name}",
            Named(View, Schedules, "name"),
            schedules::get,
        )
        .put(
            "/v1/schedules/{name}",
            Upsert(Schedules, "name"),
            schedules::put,
        )
        .delete(
            "/v1/schedules/{name}",
            Named(Delete, Schedules, "name"),
            schedules::delete,
        )
        .post(
            "/v1/schedules/{name}/enable",
            Named(Execute, Schedules, "name"),
            schedules::enable,
        )
        .post(
            "/v1/schedules/{name}/disable",
            Named(Execute, Schedules, "name"),
            schedules::disable,
        )
}

/// Exposing, calling and watching services.
fn service_routes(t: Table) -> Table {
    t.get("/v1/services", Type(View, Services), services::list)
        .get(
            "/v1/services/{name}",
            Named(View, Services, "name"),
            services::get,
        )
        .put(
            "/v1/services/{name}",
            Named(Modify, Services, "name"),
            services::put,
        )
        .delete(
            "/v1/services/{name}",
            Named(Delete, Services, "name"),
            services::delete,
        )
        .post(
            "/v1/services/{name}/invoke",
            Named(Execute, Services, "name"),
            calls::invoke,
        )
        .get(
            "/v1/services/{name}/stats",
            Named(View, Services, "name"),
            history::stats,
        )
        // The shape the platform's existing callers use.
        .get(
            "/rest/{name}/results.json",
            Named(Execute, Services, "name"),
            calls::rest_get,
        )
        .post(
            "/rest/{name}/results.json",
            Named(Execute, Services, "name"),
            calls::rest_post,
        )
}

/// The audit log and the cluster.
fn operations(t: Table) -> Table {
    t.get("/v1/audit", Type(View, Audit), audit::list)
        .get(
            "/v1/audit/dead-letters",
            Type(View, Audit),
            audit::dead_letters,
        )
        .get("/v1/cluster/nodes", Type(View, Cluster), cluster::list)
        .post(
            "/v1/cluster/nodes/{id}/drain",
            Named(Modify, Cluster, "id"),
            cluster::drain,
        )
}
