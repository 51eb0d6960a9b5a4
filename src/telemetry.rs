//! Turns on OTLP trace export from the standard `OTEL_*` environment variables, and holds
//! the tracer that iterations and steps are traced with.
//!
//! Tracing is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_SDK_DISABLED` is not `true`,
//! `OTEL_TRACES_EXPORTER` not `none`). [`init`] is called once by `main`; the runner and
//! the metrics read [`tracer`] once when they are built, so with tracing off a request
//! costs nothing more than a `None` check: no span, no header, no allocation.
//!
//! Two ways into OpenTelemetry are used, each where it is cheapest:
//! - iterations and steps are spans made with the OpenTelemetry API directly
//!   (`runner/spans.rs`): the start time can be set to the arrival's intended instant
//!   (latency is measured from there), the attributes are built once per step and shared
//!   (`Arc<str>`), and the step span's context is at hand to write `traceparent`. A
//!   `tracing` span per request would go through the subscriber's registry and the bridge's
//!   per-span bookkeeping on the hot path, for no gain;
//! - loadprobe's own `tracing` spans (and log events inside them) reach the collector
//!   through the `tracing-opentelemetry` layer that [`TelemetryGuard::layer`] gives `main`.
//!
//! Export is OTLP over HTTP/protobuf, the OpenTelemetry default, by the SDK's batch processor
//! on its own thread with the blocking reqwest client. gRPC is not built in; asking for it
//! is a start-up error rather than a silent switch of protocol. The SDK itself reads
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (always_on, always_off, traceidratio,
//! parentbased_*), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*` and the exporter's
//! `OTEL_EXPORTER_OTLP_*` headers, timeout and compression; the service name defaults to
//! `loadprobe` instead of the SDK's `unknown_service`.

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, Value};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "loadprobe";

/// The only OTLP protocol built in.
const HTTP_PROTOBUF: &str = "http/protobuf";

/// Sampler names the SDK understands (it falls back to `parentbased_always_on` silently).
const SAMPLERS: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// The tracer of this process, set once by [`init`].
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The tracer iterations are traced with, when tracing is on. Read it once when building
/// something that traces, never per request.
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An OTLP protocol other than http/protobuf was asked for.
    #[error(
        "{variable}={protocol} is not supported: loadprobe exports traces over http/protobuf only (port 4318)"
    )]
    UnsupportedProtocol {
        /// The variable that asked for it.
        variable: &'static str,
        /// What it asked for.
        protocol: String,
    },
    /// The exporter rejected its configuration.
    #[error("cannot build the OTLP span exporter")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// [`init`] was called twice.
    #[error("OpenTelemetry tracing is already set up")]
    AlreadySet,
}

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where spans go: the traces endpoint, or the base endpoint (`/v1/traces` is appended).
    pub endpoint: String,
    /// `OTEL_TRACES_SAMPLER` as given, if set.
    pub sampler: Option<String>,
}

impl Settings {
    /// Reads the settings through `var` (the process environment in [`init`]); `None` when
    /// tracing is off.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TelemetryError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let no_exporter = set("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "none");
        let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let Some(endpoint) = endpoint.filter(|_| !disabled && !no_exporter) else {
            return Ok(None);
        };
        for variable in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(protocol) = set(variable) {
                if protocol.trim() != HTTP_PROTOBUF {
                    return Err(TelemetryError::UnsupportedProtocol { variable, protocol });
                }
                break;
            }
        }
        Ok(Some(Settings {
            endpoint,
            sampler: set("OTEL_TRACES_SAMPLER"),
        }))
    }
}

/// Keeps the tracer provider of a process that exports traces; [`Self::shutdown`] flushes
/// what is still queued.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    settings: Settings,
}

/// Sets up trace export when the environment asks for it: `Ok(None)` when tracing is off.
///
/// Call it before the async runtime starts: the blocking HTTP client of the exporter must
/// not be created inside one.
pub fn init() -> Result<Option<TelemetryGuard>, TelemetryError> {
    let Some(settings) = Settings::from_env(|name| std::env::var(name).ok())? else {
        return Ok(None);
    };
    // reqwest is built with rustls but no crypto provider (no aws-lc-rs): https collectors
    // need the process default set to ring. An `Err` means one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The endpoint comes from the same variables the exporter reads, with the same
    // precedence, so it is left to the exporter (which appends `/v1/traces` to the base).
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(TelemetryError::Exporter)?;
    let provider = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)
        .build();
    TRACER
        .set(provider.tracer("loadprobe"))
        .map_err(|_| TelemetryError::AlreadySet)?;
    Ok(Some(TelemetryGuard { provider, settings }))
}

/// The SDK's resource (from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`), named
/// `loadprobe` when those do not name the service.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let unnamed = detected
        .get(&Key::from_static_str("service.name"))
        .is_none_or(|name| match name {
            Value::String(name) => name.as_str().starts_with("unknown_service"),
            _ => false,
        });
    if unnamed {
        Resource::builder()
            .with_service_name(DEFAULT_SERVICE_NAME)
            .build()
    } else {
        detected
    }
}

impl TelemetryGuard {
    /// The layer that sends loadprobe's own `tracing` spans to the collector.
    pub fn layer<S>(&self) -> Option<OpenTelemetryLayer<S, SdkTracer>>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracer().map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer.clone()))
    }

    /// Logs where traces go, and warns about a sampler the SDK would silently replace.
    pub fn log_settings(&self) {
        let sampler = self.settings.sampler.as_deref();
        tracing::info!(
            endpoint = %self.settings.endpoint,
            sampler = sampler.unwrap_or("parentbased_always_on"),
            "exporting traces over OTLP http/protobuf"
        );
        if let Some(sampler) = sampler.filter(|s| !SAMPLERS.contains(s)) {
            tracing::warn!(
                sampler,
                "OTEL_TRACES_SAMPLER is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; sampling every trace (parentbased_always_on)"
            );
        }
    }

    /// Exports what is still queued (the spans of the final drain) and stops the exporter.
    /// Call it outside the async runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "flushing traces at exit failed; the last spans are lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<Settings>, TelemetryError> {
        Settings::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(settings(&[]).ok(), Some(None));
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).ok(),
            Some(None)
        );
        assert_eq!(
            settings(&[("OTEL_TRACES_SAMPLER", "always_on")]).ok(),
            Some(None)
        );
    }

    #[test]
    fn on_with_either_endpoint_unless_disabled() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let traces = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces",
        );
        let on = |vars: &[(&str, &str)]| settings(vars).ok().flatten().map(|s| s.endpoint);
        assert_eq!(on(&[base]).as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(
            on(&[base, traces]).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(on(&[base, ("OTEL_SDK_DISABLED", "true")]), None);
        assert_eq!(on(&[base, ("OTEL_TRACES_EXPORTER", "none")]), None);
    }

    #[test]
    fn refuses_protocols_other_than_http_protobuf() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        let grpc = settings(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert!(
            matches!(grpc, Err(TelemetryError::UnsupportedProtocol { ref protocol, .. }) if protocol == "grpc"),
            "{grpc:?}"
        );
        let json = settings(&[base, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")]);
        assert!(json.is_err());
        // The signal's own variable wins over the generic one.
        let both = settings(&[
            base,
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert!(matches!(both, Ok(Some(_))), "{both:?}");
    }
}
