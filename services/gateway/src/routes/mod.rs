//! The HTTP API, one module per resource, and the route table: every route is
//! added with the [`Need`] its caller must meet, so one table drives both the guard
//! and the authorization-matrix test. A route cannot be added without one.
mod acl;
mod audit;
mod auth;
mod calls;
mod cluster;
mod connections;
mod console;
mod dataflows;
mod flow_runs;
mod health;
mod history;
mod jobs;
mod logs;
mod metrics;
mod previews;
mod processflows;
mod reports;
mod roles;
mod schedules;
mod secrets;
mod services;
mod settings;
mod tokens;
mod users;

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use prism_auth::{Action, Entity};
use serde_json::Value;

use crate::auth::{Need, guard};
use crate::bodies as b;
use crate::catalog::handlers as entry;
use crate::openapi::{self, Doc, Kind, doc};
use crate::state::AppState;
use prism_schemas::v1::{ConnectionRecord, RoleRecord, ScheduleRecord, ServiceRecord, UserRecord};

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub need: Need,
    /// What the OpenAPI document says of it (`GET /openapi.json`).
    pub doc: Doc,
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
        doc: Doc,
    ) -> Self {
        let guarded = handler.route_layer(from_fn_with_state((self.state.clone(), need), guard));
        self.router = self.router.route(path, guarded);
        self.routes.push(Route {
            method,
            path,
            need,
            doc,
        });
        self
    }

    fn get<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
        doc: Doc,
    ) -> Self {
        self.add(Method::GET, path, need, get(h), doc)
    }

    fn put<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
        doc: Doc,
    ) -> Self {
        self.add(Method::PUT, path, need, put(h), doc)
    }

    fn post<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
        doc: Doc,
    ) -> Self {
        self.add(Method::POST, path, need, post(h), doc)
    }

    fn delete<H: Handler<T, Arc<AppState>>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
        doc: Doc,
    ) -> Self {
        self.add(Method::DELETE, path, need, delete(h), doc)
    }
}

use Action::{Delete, Execute, Modify, View};
use Entity::{
    Audit, Cluster, Connections, Dataflows, Jobs, ProcessFlows, Roles, Schedules, Secrets,
    Services, Users,
};
use Need::{Checked, Named, Public, Signed, Type, Upsert};

/// The router and its route table.
pub fn table(state: Arc<AppState>) -> (Router, Vec<Route>) {
    let t = Table {
        state: state.clone(),
        router: Router::new(),
        routes: Vec::new(),
    };
    let t = [
        console_files,
        sign_in,
        access,
        roles_and_overrides,
        configuration,
        processflow_routes,
        flow_run_routes,
        secret_routes,
        job_routes,
        schedule_routes,
        service_routes,
        audit_routes,
        settings_routes,
        cluster_routes,
        described,
    ]
    .into_iter()
    .fold(t, |t, routes| routes(t));
    // Unknown paths answer 401 to strangers, so the API cannot be mapped without a token.
    let fallback = health::not_found.layer(from_fn_with_state((state.clone(), Signed), guard));
    let router = t
        .router
        .route_layer(axum::middleware::from_fn(trace_request))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(crate::edges::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::edges::edges))
        .with_state(state);
    (router, t.routes)
}

pub fn router(state: Arc<AppState>) -> Router {
    table(state).0
}

/// One span per routed request, so store and bus calls (and the trace context
/// they publish) belong to it. Named by the route's template, never by the path:
/// ids in span names would make every request a name of its own. (Span names
/// cannot change once a span has started, so it starts here, after routing.)
async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("", |matched| matched.as_str());
    let span = tracing::info_span!(
        "http",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    response
}

/// The web console: its page and built files, public (they hold no data).
fn console_files(t: Table) -> Table {
    t.get(
        "/",
        Public,
        console::page,
        doc("getConsole", "The web console's page").files(200, &["text/html"]),
    )
    .get(
        "/assets/{name}",
        Public,
        console::asset,
        doc(
            "getConsoleAsset",
            "A file of the web console (hashed names: cached as immutable)",
        )
        .files(200, prism_console::MEDIA_TYPES),
    )
}

/// Health checks, signing in and out, and the caller's own tokens.
fn sign_in(t: Table) -> Table {
    t.get(
        "/healthz",
        Public,
        health::healthz,
        doc("getHealth", "The process is alive").answers::<b::Status>(200),
    )
    .get(
        "/readyz",
        Public,
        health::readyz,
        doc(
            "getReadiness",
            "Store and bus reachable: ready for requests",
        )
        .answers::<b::Status>(200),
    )
    .post(
        "/v1/auth/login",
        Public,
        auth::login,
        doc("login", "Signs in: a session token")
            .takes::<b::Login>()
            .answers::<b::Session>(200)
            .fails(&[401, 429]),
    )
    .post(
        "/v1/auth/session",
        Public,
        auth::start_session,
        doc(
            "startSession",
            "Signs a browser in: the session token in an HttpOnly, SameSite=Strict cookie",
        )
        .takes::<b::Login>()
        .answers::<b::BrowserSession>(200)
        .fails(&[401, 403, 429]),
    )
    .post(
        "/v1/auth/logout",
        Signed,
        auth::logout,
        doc("logout", "Revokes the caller's token").empty(204),
    )
    .get(
        "/v1/me",
        Signed,
        auth::me,
        doc("getMe", "The caller: roles, grants, token").answers::<b::Me>(200),
    )
    .post(
        "/v1/authz/check",
        Signed,
        auth::check,
        doc(
            "checkPermission",
            "Whether a user may do something, and why",
        )
        .takes::<b::AuthzQuestion>()
        .answers::<b::AuthzAnswer>(200)
        .fails(&[403, 404]),
    )
    .post(
        "/v1/tokens",
        Signed,
        tokens::create,
        doc(
            "createToken",
            "A new API token of the caller (its secret shown once)",
        )
        .takes::<b::NewToken>()
        .answers::<b::Token>(201)
        .fails(&[409]),
    )
    .get(
        "/v1/tokens",
        Signed,
        tokens::list,
        doc("listTokens", "The caller's live tokens").answers::<b::Tokens>(200),
    )
    .delete(
        "/v1/tokens/{id}",
        Signed,
        tokens::revoke,
        doc("revokeToken", "Revokes one of the caller's tokens").empty(204),
    )
}

/// Users: who may sign in, with which roles.
fn access(t: Table) -> Table {
    t.get(
        "/v1/users",
        Type(View, Users),
        entry::list::<UserRecord>,
        doc("listUsers", "Users").answers::<b::Users>(200),
    )
    .get(
        "/v1/users/{name}",
        Named(View, Users, "name"),
        entry::get::<UserRecord>,
        doc("getUser", "A user").answers::<b::User>(200),
    )
    // Anyone may change their own password; the handler checks the rest.
    .put(
        "/v1/users/{name}",
        Checked(Modify, Users),
        users::put,
        doc("putUser", "Creates or changes a user")
            .takes::<b::UserChange>()
            .answers::<b::User>(200)
            .also(201)
            .fails(&[409]),
    )
    .delete(
        "/v1/users/{name}",
        Named(Delete, Users, "name"),
        users::delete,
        doc("deleteUser", "Deletes a user and revokes their tokens")
            .empty(204)
            .fails(&[409]),
    )
}

/// Roles and per-entity overrides.
fn roles_and_overrides(t: Table) -> Table {
    t.get(
        "/v1/roles",
        Type(View, Roles),
        entry::list::<RoleRecord>,
        doc("listRoles", "Built-in and custom roles").answers::<b::Roles>(200),
    )
    .get(
        "/v1/roles/{name}",
        Named(View, Roles, "name"),
        entry::get::<RoleRecord>,
        doc("getRole", "A role").answers::<b::Role>(200),
    )
    .put(
        "/v1/roles/{name}",
        Upsert(Roles, "name"),
        roles::put,
        doc("putRole", "Creates or changes a custom role")
            .takes::<b::RoleChange>()
            .answers::<b::Role>(200)
            .also(201)
            .fails(&[409]),
    )
    .delete(
        "/v1/roles/{name}",
        Named(Delete, Roles, "name"),
        roles::delete,
        doc("deleteRole", "Deletes a custom role")
            .empty(204)
            .fails(&[409]),
    )
    .get(
        "/v1/acl/{entity}/{name}",
        Type(View, Roles),
        acl::get,
        doc("getAcl", "The overrides of one object").answers::<b::Acl>(200),
    )
    .put(
        "/v1/acl/{entity}/{name}",
        Type(Modify, Roles),
        acl::put,
        doc("putAcl", "Sets the overrides of one object")
            .takes::<b::AclChange>()
            .answers::<b::Acl>(200),
    )
    .delete(
        "/v1/acl/{entity}/{name}",
        Type(Modify, Roles),
        acl::delete,
        doc("deleteAcl", "Removes the overrides of one object").empty(204),
    )
}

/// Connections and dataflows.
fn configuration(t: Table) -> Table {
    t.get(
        "/v1/connections",
        Type(View, Connections),
        entry::list::<ConnectionRecord>,
        doc("listConnections", "Connections the caller may view").answers::<b::Connections>(200),
    )
    .get(
        "/v1/connections/{name}",
        Named(View, Connections, "name"),
        entry::get::<ConnectionRecord>,
        doc("getConnection", "A connection").answers::<b::Connection>(200),
    )
    .put(
        "/v1/connections/{name}",
        Upsert(Connections, "name"),
        connections::put,
        doc(
            "putConnection",
            "Creates (201) or changes (200) a connection",
        )
        .takes::<b::ConnectionSpec>()
        .answers::<b::Connection>(200)
        .also(201),
    )
    .post(
        "/v1/connections/{name}/test",
        Named(Modify, Connections, "name"),
        connections::test,
        doc(
            "testConnection",
            "Tries a connection (at most 15 s); audited",
        )
        .answers::<b::ConnectionTest>(200),
    )
    .get(
        "/v1/dataflows",
        Type(View, Dataflows),
        dataflows::list,
        doc(
            "listDataflows",
            "Dataflows the caller may view, latest versions",
        )
        .answers::<b::Dataflows>(200),
    )
    .get(
        "/v1/dataflows/{name}",
        Named(View, Dataflows, "name"),
        dataflows::get_latest,
        doc("getDataflow", "A dataflow's latest version").answers::<b::DataflowVersion>(200),
    )
    .put(
        "/v1/dataflows/{name}",
        Upsert(Dataflows, "name"),
        dataflows::put,
        doc(
            "putDataflow",
            "Saves a new version (201), or none when unchanged (200)",
        )
        .takes::<b::DataflowDocument>()
        .answers::<b::DataflowSaved>(201)
        .also(200),
    )
    .post(
        "/v1/dataflows/{name}/validate",
        Named(View, Dataflows, "name"),
        dataflows::validate,
        doc(
            "validateDataflow",
            "Checks a document as a save would, saving nothing: its problems by stage and field",
        )
        .takes::<b::DataflowDocument>()
        .answers::<b::DataflowCheck>(200),
    )
    .post(
        "/v1/dataflows/{name}/preview",
        Named(Execute, Dataflows, "name"),
        previews::preview,
        doc(
            "previewDataflow",
            "Runs a document up to one stage on its real inputs, every write left out: the first rows (at most 1,000) and each stage's rows",
        )
        .takes::<b::PreviewAsk>()
        .answers::<b::Preview>(200)
        .fails(&[422, 504]),
    )
    .get(
        "/v1/dataflows/{name}/versions/{version}",
        Named(View, Dataflows, "name"),
        dataflows::get_version,
        doc("getDataflowVersion", "One version of a dataflow").answers::<b::DataflowVersion>(200),
    )
}

/// Process flows: versioned documents of activities and transitions.
fn processflow_routes(t: Table) -> Table {
    t.get(
        "/v1/processflows",
        Type(View, ProcessFlows),
        processflows::list,
        doc(
            "listProcessFlows",
            "Process flows the caller may view, latest versions",
        )
        .answers::<b::ProcessFlows>(200),
    )
    .get(
        "/v1/processflows/{name}",
        Named(View, ProcessFlows, "name"),
        processflows::get_latest,
        doc("getProcessFlow", "A process flow's latest version")
            .answers::<b::ProcessFlowVersion>(200),
    )
    .put(
        "/v1/processflows/{name}",
        Upsert(ProcessFlows, "name"),
        processflows::put,
        doc(
            "putProcessFlow",
            "Saves a new version (201), or none when unchanged (200); problems named by activity and field",
        )
        .takes::<b::ProcessFlowDocument>()
        .answers::<b::DataflowSaved>(201)
        .also(200),
    )
    .get(
        "/v1/processflows/{name}/versions/{version}",
        Named(View, ProcessFlows, "name"),
        processflows::get_version,
        doc("getProcessFlowVersion", "One version of a process flow")
            .answers::<b::ProcessFlowVersion>(200),
    )
}

/// Runs of process flows, their approvals, resumes and cancels.
fn flow_run_routes(t: Table) -> Table {
    t.post(
        "/v1/processflows/{name}/runs",
        Named(Execute, ProcessFlows, "name"),
        flow_runs::start,
        doc(
            "startProcessFlowRun",
            "Starts a run of the latest version (201); header Idempotency-Key makes a retry the same run (200)",
        )
        .takes::<b::FlowRunRequest>()
        .answers::<b::FlowRun>(201)
        .also(200),
    )
    .get(
        "/v1/processflows/{name}/runs",
        Named(View, ProcessFlows, "name"),
        flow_runs::list,
        doc("listProcessFlowRuns", "A flow's runs, newest first, one page")
            .query(&[("limit", Kind::Integer), ("cursor", Kind::Text)])
            .answers::<b::FlowRuns>(200),
    )
    .get(
        "/v1/approvals",
        Signed,
        flow_runs::approvals,
        doc(
            "listWaitingApprovals",
            "Approvals waiting for a decision the caller may make (holds the role, may view the flow)",
        )
        .answers::<b::WaitingApprovals>(200),
    )
    .get(
        "/v1/processflow-runs/{id}",
        Checked(View, ProcessFlows),
        flow_runs::get,
        doc(
            "getProcessFlowRun",
            "A run: each activity's state and job, each transition decided and why",
        )
        .answers::<b::FlowRun>(200),
    )
    .post(
        "/v1/processflow-runs/{id}/resume",
        Checked(Execute, ProcessFlows),
        flow_runs::resume,
        doc(
            "resumeProcessFlowRun",
            "The plan of resuming a run (dry_run, the default: 200), or the new run it starts (201): what failed and what follows it run again",
        )
        .takes::<b::ResumeRequest>()
        .answers::<b::ResumePlan>(200)
        .also(201)
        .fails(&[409]),
    )
    .post(
        "/v1/processflow-runs/{id}/cancel",
        Checked(Modify, ProcessFlows),
        flow_runs::cancel,
        doc(
            "cancelProcessFlowRun",
            "Cancels a running run: its running jobs are cancelled, nothing more starts",
        )
        .answers::<b::FlowRun>(200)
        .fails(&[409]),
    )
    .post(
        "/v1/processflow-runs/{id}/approvals/{activity}",
        Signed,
        flow_runs::approve,
        doc(
            "decideApproval",
            "Approves or rejects a waiting approval; only users holding its role, once; audited",
        )
        .takes::<b::ApprovalDecision>()
        .answers::<b::FlowRun>(200)
        .fails(&[409]),
    )
}

/// Secrets (write-only values, sealed) and the master key's rotation.
fn secret_routes(t: Table) -> Table {
    t.get(
        "/v1/secrets",
        Type(View, Secrets),
        secrets::list,
        doc(
            "listSecrets",
            "Secrets the caller may view: metadata, never values",
        )
        .answers::<b::Secrets>(200),
    )
    .get(
        "/v1/secrets/{name}",
        Named(View, Secrets, "name"),
        secrets::get,
        doc(
            "getSecret",
            "A secret's metadata and the connections naming it",
        )
        .answers::<b::Secret>(200),
    )
    .put(
        "/v1/secrets/{name}",
        Upsert(Secrets, "name"),
        secrets::put,
        doc(
            "putSecret",
            "Sets a secret's value: a new version (201 for a new secret, 200 for a change)",
        )
        .takes::<b::SecretValue>()
        .answers::<b::Secret>(200)
        .also(201),
    )
    .post(
        "/v1/master-key/rotate",
        Type(Modify, Cluster),
        secrets::rotate_master_key,
        doc(
            "rotateMasterKey",
            "Re-wraps every secret's data key under the key file's first key",
        )
        .answers::<b::KeyRotation>(200),
    )
}

/// Jobs, their logs and reports. Jobs are named by their dataflow: the handlers
/// check per job.
fn job_routes(t: Table) -> Table {
    t.get(
        "/v1/jobs",
            Type(View, Jobs),
            jobs::list,
            doc("listJobs", "Jobs, newest first, one page")
                .query(&[
                    ("status", Kind::Text),
                    ("dataflow", Kind::Text),
                    ("created_before", Kind::Text),
                    ("limit", Kind::Integer),
                    ("cursor", Kind::Text),
                ])
                .answers::<b::Jobs>(200),
        )
        .post(
        "/v1/jobs",
            Checked(Execute, Dataflows),
            jobs::submit,
            doc("submitJob", "Submits a job (header Idempotency-Key makes retries safe)")
                .takes::<b::JobRequest>()
                .answers::<b::JobAccepted>(202).fails(&[404, 409]),
        )
        .get(
        "/v1/jobs/{id}",
            Checked(View, Jobs),
            jobs::get,
            doc("getJob", "A job").answers::<b::Job>(200),
        )
        .get(
        "/v1/jobs/{id}/logs",
            Checked(View, Jobs),
            logs::logs,
            doc("getJobLogs", "The job's own log lines, JSON lines; follow=true streams until the job ends")
                .query(&[("follow", Kind::Boolean)])
                .lines(200),
        )
        .get(
        "/v1/reports/jobs",
            Type(View, Jobs),
            reports::jobs,
            doc("getJobReport", "Jobs created in a window, grouped: counts by status, success rate, p50/p95 run time, rows")
                .query(&[
                    ("from", Kind::Text),
                    ("to", Kind::Text),
                    ("group_by", Kind::Text),
                    ("format", Kind::Text),
                ])
                .answers::<b::JobReport>(200)
                .or_csv(),
        )
        .post(
        "/v1/jobs/{id}/cancel",
            Checked(Modify, Jobs),
            jobs::cancel,
            doc("cancelJob", "Cancels a job").answers::<b::Job>(202).fails(&[409]),
        )
}

/// Schedules and switching them on and off.
fn schedule_routes(t: Table) -> Table {
    t.get(
        "/v1/schedules",
        Type(View, Schedules),
        entry::list::<ScheduleRecord>,
        doc("listSchedules", "Schedules the caller may view").answers::<b::Schedules>(200),
    )
    .get(
        "/v1/schedules/{name}",
        Named(View, Schedules, "name"),
        entry::get::<ScheduleRecord>,
        doc("getSchedule", "A schedule").answers::<b::Schedule>(200),
    )
    .put(
        "/v1/schedules/{name}",
        Upsert(Schedules, "name"),
        schedules::put,
        doc(
            "putSchedule",
            "Creates (201) or changes (200) a schedule owned by the caller",
        )
        .takes::<b::ScheduleSpec>()
        .answers::<b::Schedule>(200)
        .also(201),
    )
    .delete(
        "/v1/schedules/{name}",
        Named(Delete, Schedules, "name"),
        schedules::delete,
        doc("deleteSchedule", "Deletes a schedule").empty(204),
    )
    .post(
        "/v1/schedules/{name}/enable",
        Named(Execute, Schedules, "name"),
        schedules::enable,
        doc("enableSchedule", "Enables a schedule").answers::<b::Schedule>(200),
    )
    .post(
        "/v1/schedules/{name}/disable",
        Named(Execute, Schedules, "name"),
        schedules::disable,
        doc("disableSchedule", "Disables a schedule").answers::<b::Schedule>(200),
    )
}

/// Exposing, calling and watching services.
fn service_routes(t: Table) -> Table {
    t.get(
        "/v1/services",
        Type(View, Services),
        entry::list::<ServiceRecord>,
        doc("listServices", "Services").answers::<b::Services>(200),
    )
    .get(
        "/v1/services/{name}",
        Named(View, Services, "name"),
        entry::get::<ServiceRecord>,
        doc("getService", "A service").answers::<b::Service>(200),
    )
    .put(
        "/v1/services/{name}",
        Named(Modify, Services, "name"),
        services::put,
        doc("putService", "Exposes (201) or changes (200) a service")
            .takes::<b::ServiceSpec>()
            .answers::<b::Service>(200)
            .also(201),
    )
    .delete(
        "/v1/services/{name}",
        Named(Delete, Services, "name"),
        services::delete,
        doc("deleteService", "Stops exposing a service").empty(204),
    )
    .post(
        "/v1/services/{name}/invoke",
        Named(Execute, Services, "name"),
        calls::invoke,
        doc("invokeService", "Calls a service with rows")
            .takes::<b::ServiceRequest>()
            .answers::<b::ServiceAnswer>(200)
            .fails(&[422, 504]),
    )
    .get(
        "/v1/services/{name}/stats",
        Named(View, Services, "name"),
        history::stats,
        doc("getServiceStats", "Calls, errors and latency over a window")
            .query(&[("window", Kind::Integer)])
            .answers::<b::ServiceStats>(200),
    )
    // The shape the platform's existing callers use.
    .get(
        "/rest/{name}/results.json",
        Named(Execute, Services, "name"),
        calls::rest_get,
        doc(
            "restGetResults",
            "Calls a service with one row from the query (Data.<field>, Option.<parameter>)",
        )
        .answers::<b::RestAnswer>(200)
        .fails(&[422, 504]),
    )
    .post(
        "/rest/{name}/results.json",
        Named(Execute, Services, "name"),
        calls::rest_post,
        doc("restPostResults", "Calls a service, compatibility shape")
            .takes::<b::RestRequest>()
            .answers::<b::RestAnswer>(200)
            .fails(&[422, 504]),
    )
}

/// The audit log and the events it could not record.
fn audit_routes(t: Table) -> Table {
    t.get(
        "/v1/audit",
        Type(View, Audit),
        audit::list,
        doc(
            "listAudit",
            "The audit log, one page: oldest first, or newest first with newest=true",
        )
        .query(&[
            ("limit", Kind::Integer),
            ("cursor", Kind::Text),
            ("newest", Kind::Boolean),
        ])
        .answers::<b::AuditPage>(200),
    )
    .get(
        "/v1/audit/dead-letters",
        Type(View, Audit),
        audit::dead_letters,
        doc(
            "listDeadLetters",
            "Events that could never be recorded, newest first",
        )
        .query(&[("limit", Kind::Integer)])
        .answers::<b::DeadLetters>(200),
    )
}

/// Metrics and the settings every process follows.
fn settings_routes(t: Table) -> Table {
    t.get(
        "/metrics",
        Type(View, Cluster),
        metrics::metrics,
        doc(
            "getMetrics",
            "Prometheus metrics of this process, in the text exposition format",
        )
        .text(200),
    )
    .get(
        "/v1/settings/logging",
        Type(View, Cluster),
        settings::get_logging,
        doc(
            "getLoggingSettings",
            "Log levels set for every process (level null: as each was started)",
        )
        .answers::<b::LoggingSettings>(200),
    )
    .put(
        "/v1/settings/logging",
        Type(Modify, Cluster),
        settings::put_logging,
        doc(
            "putLoggingSettings",
            "Sets log levels on every process, global and per dataflow, within seconds",
        )
        .takes::<b::LoggingSettings>()
        .answers::<b::LoggingSettings>(200),
    )
    .get(
        "/v1/settings/retention",
        Type(View, Cluster),
        settings::get_retention,
        doc(
            "getRetention",
            "Days of finished jobs' history kept (null: all)",
        )
        .answers::<b::Retention>(200),
    )
    .put(
        "/v1/settings/retention",
        Type(Modify, Cluster),
        settings::put_retention,
        doc(
            "putRetention",
            "Keeps this many days of finished jobs' history; purges older ones now and hourly",
        )
        .takes::<b::Retention>()
        .answers::<b::RetentionSet>(200),
    )
}

/// The cluster's nodes.
fn cluster_routes(t: Table) -> Table {
    t.get(
        "/v1/cluster/nodes",
        Type(View, Cluster),
        cluster::list,
        doc("listNodes", "The cluster's processes and their health").answers::<b::Nodes>(200),
    )
    .post(
        "/v1/cluster/nodes/{id}/drain",
        Named(Modify, Cluster, "id"),
        cluster::drain,
        doc(
            "drainNode",
            "Drains an executor: it finishes its jobs and exits",
        )
        .answers::<b::Node>(202),
    )
}

/// The API's own description, built from every route above and this one.
fn described(t: Table) -> Table {
    let published: Arc<OnceLock<Value>> = Arc::default();
    let served = published.clone();
    let t = t.get(
        "/openapi.json",
        Public,
        move || async move { Json(served.get().cloned().unwrap_or(Value::Null)) },
        doc("getOpenApi", "This OpenAPI document").answers::<b::AnyObject>(200),
    );
    let document = serde_json::to_value(openapi::document(&t.routes)).expect("openapi json");
    published.set(document).expect("published once");
    t
}
