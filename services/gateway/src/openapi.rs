//! The OpenAPI 3.1 document (`GET /openapi.json`), built from the route table
//! itself: every route's method, path and path parameters, its security from the
//! [`Need`] the guard enforces, and its bodies from the Rust types of
//! [`crate::bodies`]. A route cannot be added without appearing here.
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr,
    Required, ResponseBuilder, ResponsesBuilder, Schema,
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
    pub summary: &'static str,
    pub query: Vec<(&'static str, Kind)>,
    pub request: Option<Body>,
    /// The success status and its body (none: an empty answer, e.g. 204).
    pub status: u16,
    pub response: Option<Body>,
    /// The success answer is text (`/metrics`), not JSON.
    pub text: bool,
    /// The success answer may also be CSV (`format=csv`).
    pub csv: bool,
    /// The success answer is JSON lines (`application/x-ndjson`).
    pub lines: bool,
}

/// Starts a route's documentation: `doc("Lists jobs").query(..).answers::<Jobs>(200)`.
pub fn doc(summary: &'static str) -> Doc {
    Doc {
        summary,
        status: 200,
        ..Doc::default()
    }
}

impl Doc {
    pub fn takes<T: ToSchema>(mut self) -> Self {
        self.request = Some(body::<T>());
        self
    }

    pub fn answers<T: ToSchema>(mut self, status: u16) -> Self {
        self.status = status;
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
        self.status = status;
        self.lines = true;
        self
    }

    /// A text answer (`text/plain`).
    pub fn text(mut self, status: u16) -> Self {
        self.status = status;
        self.text = true;
        self
    }

    /// An answer with no body.
    pub fn empty(mut self, status: u16) -> Self {
        self.status = status;
        self.response = None;
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
        None if doc.text => ResponseBuilder::new()
            .description(doc.summary)
            .content("text/plain", text()),
        None => ResponseBuilder::new().description(doc.summary),
    };
    // Every failure has the one error shape; the status says which failure.
    let failure = ResponseBuilder::new()
        .description("`{\"error\":{\"code\",\"message\",\"field\"}}`")
        .content("application/json", json_content(&error));
    let responses = ResponsesBuilder::new()
        .response(doc.status.to_string(), success.build())
        .response("default", failure.build());
    let mut operation = OperationBuilder::new()
        .summary(Some(doc.summary))
        .operation_id(Some(format!(
            "{} {}",
            route.method.as_str().to_lowercase(),
            route.path
        )))
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
    if !matches!(route.need, Need::Public) {
        operation = operation.security(SecurityRequirement::new::<_, _, &str>("bearer", []));
    }
    operation.build()
}

/// The whole document, from the route table.
pub fn document(routes: &[Route]) -> OpenApi {
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A session token from POST /v1/auth/login, or an API token",
                ))
                .build(),
        ),
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
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}
