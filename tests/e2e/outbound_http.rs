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

/// The upstream: `/hello`, `/big` (2 MiB), `/slow` (10 s), `/redirect`.
async fn upstream() -> (u16, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/hello", get(|| async { "hello from upstream" }))
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
async fn say(host: &Host, text: &str) -> String {
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
        host.log().contains("outbound HTTP denied"),
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
        host.log().contains("resolves only to addresses"),
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
