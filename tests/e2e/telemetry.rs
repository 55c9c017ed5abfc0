//! Trace export over OTLP (`--otlp-endpoint`): a turn, and the outbound
//! request it makes, reach a stand-in collector as spans of one trace, and
//! the `traceparent` the upstream got carries that trace's id and the
//! request span's id; the next turn is another trace.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use serde_json::Value;

use crate::outbound_http::{say, upstream};
use crate::support::*;

/// A stand-in OpenTelemetry collector (OTLP/HTTP JSON): the spans it got.
async fn collector() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let spans: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = spans.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let export: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut kept = kept.lock().unwrap();
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        kept.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                    }
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, spans)
}

/// The (trace id, span id) of a `traceparent`.
fn ids(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn a_turn_and_its_outbound_request_are_one_exported_trace() {
    let (collector_port, spans) = collector().await;
    let (port, _upstream) = upstream().await;
    let manifest = format!("[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\n");
    let endpoint = format!("http://127.0.0.1:{collector_port}");
    let host = Host::start_with(
        BotsDir::with_manifest("bot", "rust-echo", &manifest),
        &["--otlp-endpoint", &endpoint, "--otlp-protocol", "http/json"],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let fetch = format!("fetch http://127.0.0.1:{port}/trace");
    let first = say(&host, &fetch).await;
    let (trace, span) = ids(first.trim_start_matches("fetched 200: "));
    let second = say(&host, &fetch).await;
    let (other_trace, _) = ids(second.trim_start_matches("fetched 200: "));
    assert_ne!(trace, other_trace, "each turn is its own trace");

    let of_trace = |trace: &str| -> Vec<Value> {
        spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["traceId"] == trace)
            .cloned()
            .collect()
    };
    eventually("the first turn's spans reach the collector", || {
        let found = of_trace(&trace);
        async move {
            found.iter().any(|s| s["name"] == "turn")
                && found.iter().any(|s| s["name"] == "http_request")
        }
    })
    .await;
    let found = of_trace(&trace);
    let request = found.iter().find(|s| s["name"] == "http_request").unwrap();
    assert_eq!(
        request["spanId"],
        span.as_str(),
        "the upstream got the request span's id"
    );
    // The request span descends from the turn's, the trace's root.
    let turn = found.iter().find(|s| s["name"] == "turn").unwrap();
    assert!(
        turn["parentSpanId"].as_str().unwrap_or("").is_empty(),
        "{turn}"
    );
    let mut parent = request["parentSpanId"].as_str().unwrap_or("").to_owned();
    let mut hops = 0;
    while parent != turn["spanId"].as_str().unwrap_or("?") {
        let up = found
            .iter()
            .find(|s| s["spanId"] == parent.as_str())
            .unwrap_or_else(|| {
                panic!("span {parent} of the request's ancestry is missing: {found:?}")
            });
        parent = up["parentSpanId"].as_str().unwrap_or("").to_owned();
        hops += 1;
        assert!(hops < 10, "{found:?}");
    }
    host.assert_no_panic();
}
