//! Logging and tracing set-up shared by every process, and the W3C trace context
//! carried in NATS headers so that one trace follows a job from the HTTP request
//! through the executor to the audit record.
#![forbid(unsafe_code)]
use async_nats::HeaderMap;
use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

/// The filter's handle, to change log levels while the process runs.
static FILTER: OnceLock<Reload> = OnceLock::new();
type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;
/// `PRISM_LOG` as the process started with it: what `reset` goes back to.
static STARTED_WITH: OnceLock<String> = OnceLock::new();

/// Replaces the log filter, e.g. `warn,[job{dataflow=adults}]=debug` (`EnvFilter`
/// directives). Refused when the directives do not parse.
pub fn set_log_filter(directives: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
    match FILTER.get() {
        Some(reload) => reload(filter),
        None => Err("logging is not initialised in this process".into()),
    }
}

/// The filter the process started with (`PRISM_LOG`, default `info`).
pub fn initial_log_filter() -> &'static str {
    STARTED_WITH.get().map_or("info", String::as_str)
}

/// The tracer provider, kept to flush the spans still queued when the process stops.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the global subscriber once per process: human-readable logs on stderr
/// (JSON with `PRISM_LOG_FORMAT=json`), filtered by `PRISM_LOG` (default `info`),
/// and an OpenTelemetry layer so spans carry W3C trace ids. With
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, the
/// spans are exported over OTLP/HTTP in protobuf, batched on a thread of their own;
/// the standard `OTEL_*` variables (service name, sampler, batch sizes, headers)
/// apply. Later calls do nothing, which lets tests compose several services in one
/// process. Call from outside any async runtime: the exporter's HTTP client is a
/// blocking one.
pub fn init(service_name: &str) {
    let directives = std::env::var("PRISM_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let provider = tracer_provider(service_name);
    // One filter, global, for spans and logs alike: spans exist at the log level
    // (keep `info` for traces). Per-layer filters (spans apart from logs) beside
    // the reloadable log filter lost events and spans now and then (a warning, a
    // stage's span), so they are not used. Spans are entered at every poll of
    // their future, so what the layer does on entry is off: busy/idle timing,
    // thread attributes, and activating an OpenTelemetry context nothing here
    // reads (trace context is taken from the span itself).
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("prism"))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_context_activation(false);
    let logs = if std::env::var("PRISM_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed()
    };
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(spans)
        .with(logs)
        .try_init();
    if result.is_ok() {
        opentelemetry::global::set_tracer_provider(provider.clone());
        let _ = PROVIDER.set(provider);
        let reload: Reload =
            Box::new(move |filter| handle.reload(filter).map_err(|e| e.to_string()));
        let _ = FILTER.set(reload);
        let _ = STARTED_WITH.set(directives);
    }
}

/// Exports the spans still queued (at most 5 s): call before the process exits.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown_with_timeout(std::time::Duration::from_secs(5));
    }
}

/// Whether spans leave the process: the OTLP endpoint variables are set.
pub fn exporting() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()))
}

/// Spans always get real trace ids (jobs record theirs); they are exported only
/// when an endpoint is configured. A bad exporter setting is logged and the process
/// runs without export rather than not at all.
fn tracer_provider(service_name: &str) -> SdkTracerProvider {
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(service_name.to_string());
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if !exporting() {
        return builder.build();
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => builder.with_batch_exporter(exporter).build(),
        Err(error) => {
            eprintln!("prism: traces not exported: {error}");
            builder.build()
        }
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// Writes the current span's context as `traceparent` (and `tracestate`).
pub fn inject_trace_context(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// Makes `span` a child of the trace context found in `headers`, if any.
pub fn adopt_trace_context(span: &tracing::Span, headers: Option<&HeaderMap>) {
    if let Some(headers) = headers {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let _ = span.set_parent(parent);
    }
}

/// The W3C trace id of the current span (32 hex digits), if it has one.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
