//! Logging and tracing set-up shared by every process, and the W3C trace context
//! carried in NATS headers so that one trace follows a job from the HTTP request
//! through the executor to the audit record.
use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Installs the global subscriber once per process: human-readable logs on stderr
/// (JSON with `PRISM_LOG_FORMAT=json`), filtered by `PRISM_LOG` (default `info`),
/// and an OpenTelemetry layer so spans carry W3C trace ids. Later calls do nothing,
/// which lets tests compose several services in one process.
/// The filter's handle, to change log levels while the process runs.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();
/// `PRISM_LOG` as the process started with it: what `reset` goes back to.
static STARTED_WITH: OnceLock<String> = OnceLock::new();

/// Replaces the log filter, e.g. `warn,[job{dataflow=adults}]=debug` (`EnvFilter`
/// directives). Refused when the directives do not parse.
pub fn set_log_filter(directives: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
    match FILTER.get() {
        Some(handle) => handle.reload(filter).map_err(|e| e.to_string()),
        None => Err("logging is not initialised in this process".into()),
    }
}

/// The filter the process started with (`PRISM_LOG`, default `info`).
pub fn initial_log_filter() -> &'static str {
    STARTED_WITH.get().map_or("info", String::as_str)
}

pub fn init(service_name: &'static str) {
    let directives = std::env::var("PRISM_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    // Spans get real trace ids even without an exporter; an OTLP exporter is a
    // follow-up (see README, "Observability").
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer(service_name);
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let json = std::env::var("PRISM_LOG_FORMAT").is_ok_and(|f| f == "json");
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
    if result.is_ok() {
        opentelemetry::global::set_tracer_provider(provider);
        let _ = FILTER.set(handle);
        let _ = STARTED_WITH.set(directives);
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
