//! Logging and trace export, set up once at start: log lines (the `fmt`
//! layer, filtered by `RUST_LOG`), and, with an OTLP endpoint, every span
//! at `info` and above exported over OTLP/HTTP (protobuf or JSON) by a
//! batch exporter on its own thread, so a turn, its host calls and its
//! outbound requests appear as one trace in Jaeger, Tempo or Azure Monitor.
//! A turn's span is a root: each turn is its own trace.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter::LevelFilter};

/// Where spans go.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The collector's base URL; spans are posted to `{endpoint}/v1/traces`.
    pub endpoint: String,
    /// JSON instead of protobuf.
    pub json: bool,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up the OTLP exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
    #[error("logging was already set up: {0}")]
    Init(String),
}

/// The exporter, flushed when the host stops.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is still buffered; waits at most the exporter's
    /// timeout.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "the last spans were not exported");
        }
    }
}

/// Sets up logging and, with `otlp`, trace export. Call before any
/// async runtime starts (the exporter's HTTP client is blocking).
pub fn init(otlp: Option<&OtlpSettings>) -> Result<Telemetry, TelemetryError> {
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stdout().is_terminal())
        .with_filter(log_filter);
    let provider = otlp.map(provider).transpose()?;
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("turnbox"))
            .with_filter(LevelFilter::INFO)
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|e| TelemetryError::Init(e.to_string()))?;
    if let Some(settings) = otlp {
        tracing::info!(endpoint = %settings.endpoint, json = settings.json, "exporting spans over OTLP");
    }
    Ok(Telemetry { provider })
}

fn provider(settings: &OtlpSettings) -> Result<SdkTracerProvider, TelemetryError> {
    let endpoint = format!("{}/v1/traces", settings.endpoint.trim_end_matches('/'));
    let protocol = if settings.json {
        Protocol::HttpJson
    } else {
        Protocol::HttpBinary
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError::Exporter {
            endpoint: settings.endpoint.clone(),
            reason: e.to_string(),
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("turnbox").build())
        .build())
}
