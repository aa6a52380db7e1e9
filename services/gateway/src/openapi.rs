//! The OpenAPI 3.1 document (`GET /openapi.json`), built from the route table
//! itself: every route's method, path and path parameters, its security from the
//! [`Need`] the guard enforces, and its bodies from the Rust types of
//! [`crate::bodies`]. A route cannot be added without appearing here.
//!
//! Every status an operation answers is listed by number, with its body, and no
//! `default` response: a generated client raises on a status it was not told of,
//! and the contract check (schemathesis) fails on one, so the list must be true.
//! Failures the route's shape implies (a token, a path parameter, a body) are
//! derived in [`failures`]; the others are declared beside the route.
use std::collections::BTreeSet;

use axum::http::Method;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Paths,
    Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::Need;
use crate::bodies::ErrorBody;
use crate::routes::Route;

/// A body type of the API: its schema's name and how to add it (and the schemas it
/// refers to) to the document's components.
#[derive(Clone, Copy)]
pub struct Body {
    name: fn() -> String,
    register: fn(ComponentsBuilder) -> ComponentsBuilder,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&(self.name)())
    }
}

pub fn body<T: ToSchema>() -> Body {
    Body {
        name: || T::name().into_owned(),
        register: |components| {
            // The schemas it refers to, e.g. `ErrorDetail` of `ErrorBody`.
            let mut referred = Vec::new();
            T::schemas(&mut referred);
            components.schema_from::<T>().schemas_from_iter(referred)
        },
    }
}

/// What a query parameter holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
}

/// What the document says of one route, beside what the table already knows.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    /// The operation's id (`putConnection`): the name generated clients give it.
    pub id: &'static str,
    pub summary: &'static str,
    pub query: Vec<(&'static str, Kind)>,
    pub request: Option<Body>,
    /// The success statuses (e.g. 200 and 201 of a `PUT` that creates or changes),
    /// all with the one body (none: an empty answer, e.g. 204).
    pub statuses: Vec<u16>,
    pub response: Option<Body>,
    /// Failures beyond those [`failures`] derives from the route (409, 429, ...).
    pub failures: Vec<u16>,
    /// The success answer is text (`/metrics`), not JSON.
    pub text: bool,
    /// The success answer may also be CSV (`format=csv`).
    pub csv: bool,
    /// The success answer is JSON lines (`application/x-ndjson`).
    pub lines: bool,
    /// The success answer is a file of one of these media types (the console's
    /// page and assets).
    pub files: &'static [&'static str],
}

/// Starts a route's documentation:
/// `doc("listJobs", "Lists jobs").query(..).answers::<Jobs>(200)`.
pub fn doc(id: &'static str, summary: &'static str) -> Doc {
    Doc {
        id,
        summary,
        statuses: vec![200],
        ..Doc::default()
    }
}

impl Doc {
    pub fn takes<T: ToSchema>(mut self) -> Self {
        self.request = Some(body::<T>());
        self
    }

    pub fn answers<T: ToSchema>(mut self, status: u16) -> Self {
        self.statuses = vec![status];
        self.response = Some(body::<T>());
        self
    }

    /// The answer may also be CSV, for spreadsheets.
    pub fn or_csv(mut self) -> Self {
        self.csv = true;
        self
    }

    /// JSON lines, one object per line.
    pub fn lines(mut self, status: u16) -> Self {
        self.statuses = vec![status];
        self.lines = true;
        self
    }

    /// A text answer (`text/plain`).
    pub fn text(mut self, status: u16) -> Self {
        self.statuses = vec![status];
        self.text = true;
        self
    }

    /// A file of one of the `media` types, e.g. `text/html`.
    pub fn files(mut self, status: u16, media: &'static [&'static str]) -> Self {
        self.statuses = vec![status];
        self.files = media;
        self
    }

    /// An answer with no body.
    pub fn empty(mut self, status: u16) -> Self {
        self.statuses = vec![status];
        self.response = None;
        self
    }

    /// Another success status with the same body.
    pub fn also(mut self, status: u16) -> Self {
        self.statuses.push(status);
        self
    }

    /// Failures the route answers beyond those its shape implies.
    pub fn fails(mut self, statuses: &[u16]) -> Self {
        self.failures.extend_from_slice(statuses);
        self
    }

    pub fn query(mut self, parameters: &[(&'static str, Kind)]) -> Self {
        self.query = parameters.to_vec();
        self
    }
}

fn reference(body: &Body) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name((body.name)()))
}

fn json_content(body: &Body) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(reference(body))).build()
}

fn method(route: &Route) -> HttpMethod {
    match route.method.as_str() {
        "GET" => HttpMethod::Get,
        "PUT" => HttpMethod::Put,
        "POST" => HttpMethod::Post,
        "DELETE" => HttpMethod::Delete,
        other => unreachable!("no route uses {other}"),
    }
}

/// `{name}` segments of a path, in order.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn parameter_schema(kind: Kind) -> RefOr<Schema> {
    match kind {
        Kind::Text => String::schema(),
        Kind::Integer => u64::schema(),
        Kind::Boolean => bool::schema(),
    }
}

/// Every failure status `route` may answer, each with the one error body.
pub fn failures(route: &Route) -> BTreeSet<u16> {
    // The edge refuses a body that is too large on any route; any route may meet
    // an internal fault, an unavailable store or bus, or the request deadline.
    let mut statuses = BTreeSet::from([413, 500, 503]);
    let doc = &route.doc;
    let has_path_parameters = path_parameters(route.path).next().is_some();
    if has_path_parameters || !doc.query.is_empty() || doc.request.is_some() {
        statuses.insert(400);
    }
    if has_path_parameters {
        statuses.insert(404);
    }
    if route.method == Method::POST || route.method == Method::PUT {
        statuses.insert(415);
    }
    match route.need {
        Need::Public => {}
        // 403 also for any signed route: a change made with the browser's session
        // cookie from another origin is refused (`auth::session`).
        _ => {
            statuses.extend([401, 403]);
        }
    }
    statuses.extend(&doc.failures);
    statuses
}

/// What a failure status means, for the document's readers.
fn failure_description(status: u16) -> &'static str {
    match status {
        400 => "invalid_argument: the request is malformed; `field` names what is wrong",
        401 => "unauthenticated: no valid token (or, signing in, a wrong password)",
        403 => {
            "permission_denied: the message names the permission missing (or a browser session's change came from another origin)"
        }
        404 => "not_found: `field` names what does not exist",
        409 => "conflict: the request contradicts the current state",
        413 => "the body is larger than the server reads",
        415 => "the body is neither JSON nor YAML",
        422 => "unprocessable: the service could not compute an answer",
        429 => "resource_exhausted: too many attempts; see Retry-After",
        500 => "internal: a fault of the server",
        503 => {
            "unavailable: the store or the bus cannot be reached, or the server is busy; see Retry-After"
        }
        504 => "deadline_exceeded: no answer in time",
        _ => "an error",
    }
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let doc = &route.doc;
    let error = body::<ErrorBody>();
    let text = || ContentBuilder::new().schema(Some(String::schema())).build();
    let success = match &doc.response {
        Some(body) if doc.csv => ResponseBuilder::new()
            .description(doc.summary)
            .content("application/json", json_content(body))
            .content("text/csv", text()),
        Some(body) => ResponseBuilder::new()
            .description(doc.summary)
            .content("application/json", json_content(body)),
        None if doc.lines => ResponseBuilder::new()
            .description(doc.summary)
            .content("application/x-ndjson", text()),
        None if !doc.files.is_empty() => doc.files.iter().fold(
            ResponseBuilder::new().description(doc.summary),
            |r, media| r.content(*media, text()),
        ),
        None if doc.text => ResponseBuilder::new()
            .description(doc.summary)
            .content("text/plain", text()),
        None => ResponseBuilder::new().description(doc.summary),
    }
    .build();
    let mut responses = ResponsesBuilder::new();
    for status in &doc.statuses {
        responses = responses.response(status.to_string(), success.clone());
    }
    // Every failure has the one error shape; the status says which failure.
    for status in failures(route) {
        let failure = ResponseBuilder::new()
            .description(failure_description(status))
            .content("application/json", json_content(&error));
        responses = responses.response(status.to_string(), failure.build());
    }
    let mut operation = OperationBuilder::new()
        .summary(Some(doc.summary))
        .operation_id(Some(doc.id))
        .responses(responses.build());
    for name in path_parameters(route.path) {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(String::schema())),
        );
    }
    for (name, kind) in &doc.query {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .schema(Some(parameter_schema(*kind))),
        );
    }
    if let Some(body) = &doc.request {
        operation = operation.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json_content(body))
                .required(Some(Required::True))
                .build(),
        ));
    }
    // The document requires the bearer token everywhere; public operations say
    // explicitly that they need nothing.
    if matches!(route.need, Need::Public) {
        operation = operation.securities(Some(Vec::<SecurityRequirement>::new()));
    }
    operation.build()
}

/// The whole document, from the route table.
pub fn document(routes: &[Route]) -> OpenApi {
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from POST /v1/auth/login, or an API token",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::COOKIE,
                "The console's session from POST /v1/auth/session; a request that changes \
                 something must also carry the header x-prism-console",
            ))),
        );
    components = (body::<ErrorBody>().register)(components);
    let mut paths = Paths::new();
    for route in routes {
        for body in route.doc.request.iter().chain(route.doc.response.iter()) {
            components = (body.register)(components);
        }
        paths.add_path_operation(route.path, vec![method(route)], operation(route));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Prism")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Dataflows as batch jobs and real-time services. Errors answer `{\"error\":{\"code\",\"message\",\"field\"}}`.",
                ))
                .license(Some(
                    LicenseBuilder::new()
                        .name(env!("CARGO_PKG_LICENSE"))
                        .identifier(Some(env!("CARGO_PKG_LICENSE")))
                        .build(),
                ))
                .build(),
        )
        // Relative: the gateway that serves this document (or the load balancer
        // in front of it) answers the operations too.
        .servers(Some([ServerBuilder::new()
            .url("/")
            .description(Some("the gateway serving this document"))
            .build()]))
        .security(Some([
            SecurityRequirement::new::<_, _, &str>("bearer", []),
            SecurityRequirement::new::<_, _, &str>("session", []),
        ]))
        .paths(paths)
        .components(Some(components.build()))
        .build()
}
