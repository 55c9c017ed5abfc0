//! The W3C trace context of a span, when spans are exported over OTLP
//! (`telemetry.rs` installs the OpenTelemetry layer): what an outbound
//! request sends upstream as `traceparent`, so the upstream's spans join
//! the turn's trace.

/// The W3C `traceparent` of `span` when spans are exported (its trace and
/// span ids, as the collector gets them); `None` otherwise.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}
