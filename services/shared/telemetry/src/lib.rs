//! Logging and tracing set-up shared by every process, and the W3C trace context
//! carried in NATS headers so that one trace follows a job from the HTTP request
//! through the executor to the audit record.
use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber once per process: human-readable logs on stderr
/// (JSON with `PRISM_LOG_FORMAT=json`), filtered by `PRISM_LOG` (default `info`),
/// and an OpenTelemetry layer so spans carry W3C trace ids. Later calls do nothing,
/// which lets tests compose several services in one process.
pub fn init(service_name: &'static str) {
    let filter = EnvFilter::try_from_env("PRISM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
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
