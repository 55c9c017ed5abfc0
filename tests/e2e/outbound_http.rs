//! Outbound HTTP from bots (`wasi:http`): a Rust bot's request reaches a
//! stand-in upstream on the allowlist; everything else is refused with the
//! standard error and a log line, and the host keeps serving: a host not
//! listed, a listed name that resolves to a loopback or metadata address, a
//! redirect (not followed), a response over the size cap, a slow upstream
//! past the timeout. A bot without `[http]` reaches nothing.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::support::*;

/// The upstream: `/hello`, `/trace` (echoes `traceparent`), `/big`
/// (2 MiB), `/slow` (10 s), `/redirect`. Also the shared language suite's
/// (languages.rs).
pub(crate) async fn upstream() -> (u16, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/hello", get(|| async { "hello from upstream" }))
        .route(
            "/trace",
            get(|headers: axum::http::HeaderMap| async move {
                headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned()
            }),
        )
        .route("/big", get(|| async { "x".repeat(2 << 20) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/redirect",
            get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "http://10.0.0.1/")],
                    "",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (
        port,
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }),
    )
}

/// The bot's reply text to `text` (expectReplies).
pub(crate) async fn say(host: &Host, text: &str) -> String {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{body}");
    body["activities"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn host_allowing(port: u16) -> Host {
    let manifest = format!(
        "[limits]\nmax_concurrent_turns = 128\n[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\", \"http://internal.example:{port}\", \"http://metadata.example\"]\n\
         max_response_bytes_per_turn = 1048576\ntimeout_ms = 1500\n"
    );
    Host::start(
        BotsDir::with_manifest("bot", "rust-echo", &manifest),
        &[
            "--http-resolve",
            "internal.example=127.0.0.1",
            "--http-resolve",
            "metadata.example=169.254.169.254",
        ],
    )
}

#[tokio::test]
async fn a_bot_reaches_an_allowed_upstream_and_nothing_else() {
    let (port, _upstream) = upstream().await;
    let host = host_allowing(port);

    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/hello")).await;
    assert_eq!(reply, "fetched 200: hello from upstream");

    // A W3C traceparent goes upstream: version, 32-hex trace id, 16-hex
    // span id, sampled.
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/trace")).await;
    let traceparent = reply.trim_start_matches("fetched 200: ");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{reply}");
    assert_eq!((parts[0], parts[3]), ("00", "01"), "{reply}");
    assert!(parts[1].len() == 32 && parts[2].len() == 16, "{reply}");
    assert!(
        parts[1..3]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
    );

    // Not on the allowlist: another port, another name, the metadata IP.
    for url in [
        format!("http://127.0.0.1:{}/hello", port + 1),
        format!("http://localhost:{port}/hello"),
        "http://169.254.169.254/latest/meta-data".to_string(),
    ] {
        let reply = say(&host, &format!("fetch {url}")).await;
        assert!(
            reply.starts_with("fetch failed: HttpRequestDenied"),
            "{url}: {reply}"
        );
    }
    assert!(
        host.wait_for_log("outbound HTTP denied").await,
        "{}",
        host.log()
    );

    // Listed names that resolve to a loopback or the metadata address.
    for url in [
        format!("http://internal.example:{port}/hello"),
        "http://metadata.example/latest".to_string(),
    ] {
        let reply = say(&host, &format!("fetch {url}")).await;
        assert!(
            reply.starts_with("fetch failed: DestinationIpProhibited"),
            "{url}: {reply}"
        );
    }
    assert!(
        host.wait_for_log("resolves only to addresses").await,
        "{}",
        host.log()
    );

    // A redirect is handed to the bot, not followed.
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/redirect")).await;
    assert_eq!(reply, "fetched 302: ");

    // Over the response cap; past the timeout.
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/big")).await;
    assert!(
        reply.starts_with("fetch failed:") && reply.contains("body size exceeds limit"),
        "{reply}"
    );
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/slow")).await;
    assert!(
        reply.starts_with("fetch failed: HttpResponseTimeout"),
        "{reply}"
    );

    // Still serving.
    assert_eq!(say(&host, "hi").await, "Echo: hi");
    host.assert_no_panic();

    // Counted by upstream host and class, denials too: /hello, /trace and
    // /big answered 2xx (the cap cut /big's body), /slow timed out.
    let metrics = host.get_text("/metrics").await;
    for needle in [
        r#"turnbox_http_requests_total{bot="bot",host="127.0.0.1",class="2xx"} 3"#,
        r#"turnbox_http_requests_total{bot="bot",host="127.0.0.1",class="3xx"} 1"#,
        r#"turnbox_http_requests_total{bot="bot",host="127.0.0.1",class="error"} 1"#,
        r#"turnbox_http_requests_total{bot="bot",host="localhost",class="denied"} 1"#,
        r#"turnbox_http_requests_total{bot="bot",host="internal.example",class="denied"} 1"#,
        r#"turnbox_http_bytes_total{bot="bot",direction="received"}"#,
        r#"turnbox_http_duration_seconds_count{bot="bot"}"#,
    ] {
        assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    }
}

#[tokio::test]
async fn a_bot_without_an_http_section_reaches_nothing() {
    let (port, _upstream) = upstream().await;
    let host = Host::start(BotsDir::with(&[("bot", "rust-echo")]), &[]);
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/hello")).await;
    assert!(
        reply.starts_with("fetch failed: HttpRequestDenied"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_turns_each_make_a_request() {
    let (port, _upstream) = upstream().await;
    let host = host_allowing(port);
    let url = format!("fetch http://127.0.0.1:{port}/hello");
    let turns: Vec<_> = (0..100)
        .map(|n| {
            let (url, target) = (url.clone(), host.url("/api/bots/bot/messages"));
            tokio::spawn(async move {
                let mut activity = message("http://127.0.0.1:9/", &url);
                activity["conversation"]["id"] = json!(format!("c{n}"));
                activity["deliveryMode"] = json!("expectReplies");
                post_activity(&target, &activity).await
            })
        })
        .collect();
    for turn in turns {
        let (status, body) = turn.await.unwrap();
        assert_eq!(status, axum::http::StatusCode::OK, "{body}");
        assert_eq!(
            body["activities"][0]["text"],
            "fetched 200: hello from upstream"
        );
    }
}

#[tokio::test]
async fn the_turn_deadline_cuts_a_request_still_in_flight() {
    let (port, _upstream) = upstream().await;
    let manifest = format!(
        "[limits]\nturn_deadline_ms = 1000\n[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\ntimeout_ms = 60000\n"
    );
    let host = Host::start(BotsDir::with_manifest("bot", "rust-echo", &manifest), &[]);
    let started = std::time::Instant::now();
    let mut activity = message(
        "http://127.0.0.1:9/",
        &format!("fetch http://127.0.0.1:{port}/slow"),
    );
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
    // Cut at the deadline, well before the upstream's 10 s.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let reply = body["activities"][0]["text"].as_str().unwrap_or_default();
    let cut = (status == axum::http::StatusCode::INTERNAL_SERVER_ERROR
        && body["error"]["code"] == "TurnTimeout")
        || reply.starts_with("fetch failed: HttpResponseTimeout");
    assert!(cut, "{status} {body}");
    assert_eq!(say(&host, "hi").await, "Echo: hi");
}

#[tokio::test]
async fn host_flags_set_the_limits_a_manifest_leaves_unset() {
    let (port, _upstream) = upstream().await;
    let manifest = format!("[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\n");
    let host = Host::start(
        BotsDir::with_manifest("bot", "rust-echo", &manifest),
        &[
            "--http-timeout-ms",
            "500",
            "--http-max-response-bytes-per-turn",
            "10",
        ],
    );
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/slow")).await;
    assert!(
        reply.starts_with("fetch failed: HttpResponseTimeout"),
        "{reply}"
    );
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/hello")).await;
    assert!(
        reply.contains("body size exceeds limit: 10 bytes"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_javascript_bot_fetches_in_an_async_handler() {
    let (port, _upstream) = upstream().await;
    let manifest = format!("[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\n");
    let host = Host::start(BotsDir::with_manifest("bot", "js-echo", &manifest), &[]);
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/hello")).await;
    assert_eq!(reply, "fetched 200: hello from upstream");
    let reply = say(&host, &format!("fetch http://127.0.0.1:{}/hello", port + 1)).await;
    assert!(reply.starts_with("fetch failed"), "{reply}");
    assert!(
        host.wait_for_log("outbound HTTP denied").await,
        "{}",
        host.log()
    );
    // The synchronous handlers still answer as before.
    assert_eq!(say(&host, "hi").await, "Echo: hi");
}

#[tokio::test]
async fn a_python_bot_fetches_through_the_sdk() {
    let (port, _upstream) = upstream().await;
    let manifest = format!(
        "[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\", \"http://internal.example:{port}\"]\n\
         max_response_bytes_per_turn = 1048576\ntimeout_ms = 1500\n"
    );
    let host = Host::start(
        BotsDir::with_manifest("bot", "python-echo", &manifest),
        &["--http-resolve", "internal.example=127.0.0.1"],
    );
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/hello")).await;
    assert_eq!(reply, "fetched 200: hello from upstream");
    // Refused with the wasi:http code, as a Python exception the bot caught.
    let reply = say(&host, &format!("fetch http://127.0.0.1:{}/hello", port + 1)).await;
    assert!(
        reply.starts_with("fetch failed: HttpRequestDenied"),
        "{reply}"
    );
    let reply = say(
        &host,
        &format!("fetch http://internal.example:{port}/hello"),
    )
    .await;
    assert!(
        reply.starts_with("fetch failed: DestinationIpProhibited"),
        "{reply}"
    );
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/redirect")).await;
    assert_eq!(reply, "fetched 302: ");
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/big")).await;
    assert!(
        reply.starts_with("fetch failed:") && reply.contains("body size exceeds limit"),
        "{reply}"
    );
    let reply = say(&host, &format!("fetch http://127.0.0.1:{port}/slow")).await;
    assert!(
        reply.starts_with("fetch failed: HttpResponseTimeout"),
        "{reply}"
    );
    let reply = say(&host, "fetch ftp://127.0.0.1/").await;
    assert!(reply.starts_with("fetch failed: BadRequest"), "{reply}");
    assert_eq!(say(&host, "hi").await, "Echo: hi");
    host.assert_no_panic();
}
