//! Who reaches the conversations API: the host-wide key, a bot's own keys,
//! local callers only with no key, and never through a proxy's forwarding
//! header (the admin API and Direct Line's dev mode keep the same rule);
//! the host refuses to serve dev mode on a non-loopback address; and the
//! OpenAPI document matches the routes the binary serves.

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::conversations_api::{call, create};
use crate::support::*;

const HOST_KEY: &str = "host-key-0123456789";
const BOT_KEY: &str = "bot-key-0123456789ab";

#[tokio::test]
async fn keys_open_their_bots_only() {
    let bots = BotsDir::with(&[("echo", "rust-echo"), ("other", "rust-echo")]);
    std::fs::write(
        bots.path().join("echo.toml"),
        format!("[api]\nkeys = [\"{BOT_KEY}\"]\n"),
    )
    .unwrap();
    let host = Host::start(bots, &["--api-key", HOST_KEY]);

    // With a host key, nobody gets in without one, local callers neither.
    let (status, body) = call(&host, "GET", "/list", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "Unauthorized");
    let (status, body) = call(&host, "GET", "/list", Some("wrong-key-0123456789"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "Forbidden");

    let theirs = create(&host, Some(HOST_KEY), json!({"bot": "other"})).await;
    let ours = create(&host, Some(BOT_KEY), json!({"bot": "echo"})).await;
    let (status, _) = call(
        &host,
        "POST",
        "/create",
        Some(BOT_KEY),
        Some(json!({"bot": "other"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, done) = call(
        &host,
        "POST",
        &format!("/{ours}/complete"),
        Some(BOT_KEY),
        Some(json!({"text": "k"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let (status, _) = call(
        &host,
        "GET",
        &format!("/{theirs}/fetch"),
        Some(BOT_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bot's key lists that bot's conversations only; the host key, all.
    let (_, listed) = call(&host, "GET", "/list", Some(BOT_KEY), None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (status, _) = call(&host, "GET", "/list?bot=other", Some(BOT_KEY), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, listed) = call(&host, "GET", "/list", Some(HOST_KEY), None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    // Keys are never logged.
    let log = host.log();
    assert!(!log.contains(HOST_KEY) && !log.contains(BOT_KEY));
    host.assert_no_panic();
}

/// A request with one extra header.
async fn with_header(url: String, method: &str, name: &str, value: &str) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client()
        .request(method, url)
        .header(name, value)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    read(response).await
}

#[tokio::test]
async fn loopback_is_trusted_only_without_a_proxy_or_another_origin() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let id = create(&host, None, json!({"bot": "echo"})).await;
    let api = host.url(&format!("/api/v1/conversation/{id}/fetch"));
    let admin = host.url("/api/bots/echo/conversations");
    let directline = host.url("/v3/directline/conversations");
    let (status, _) = with_header(api.clone(), "GET", "x-test", "1").await;
    assert_eq!(status, StatusCode::OK, "a plain local caller is trusted");
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.7"),
        ("forwarded", "for=203.0.113.7;proto=https"),
    ] {
        let (status, body) = with_header(api.clone(), "GET", name, value).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "API with {name}");
        assert_error(&body, "Unauthorized");
        let (status, _) = with_header(admin.clone(), "GET", name, value).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "admin with {name}");
        let (status, _) = with_header(directline.clone(), "POST", name, value).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "Direct Line with {name}");
    }
    // A page of another origin cannot make a local browser call the host.
    let (status, _) = with_header(api.clone(), "GET", "origin", "https://evil.example").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = with_header(admin, "GET", "origin", "https://evil.example").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let same = format!("http://{}", host.addr);
    let (status, _) = with_header(api, "GET", "origin", &same).await;
    assert_eq!(status, StatusCode::OK, "the host's own origin");
    host.assert_no_panic();
}

/// Runs `turnbox serve` with `args` on a free port; its exit status if it
/// ended within `wait`, and what it printed.
fn serve_briefly(args: &[&str], wait: Duration) -> (Option<std::process::ExitStatus>, String) {
    let data = tempfile::tempdir().unwrap();
    let bots = BotsDir::with(&[("echo", "rust-echo")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_turnbox"))
        .arg("serve")
        .arg("--bots")
        .arg(bots.path())
        .arg("--data")
        .arg(data.path())
        .args(["--port", "0"])
        .args(args)
        .env_remove("MicrosoftAppId")
        .env_remove("TURNBOX_API_KEY")
        .env_remove("TURNBOX_ADMIN_TOKEN")
        .env_remove("TURNBOX_DIRECTLINE_SECRET")
        .env_remove("TURNBOX_INSECURE_DEV")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + wait;
    let mut status = None;
    while std::time::Instant::now() < until {
        if let Ok(Some(done)) = child.try_wait() {
            status = Some(done);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (status, text)
}

#[test]
fn dev_mode_on_a_public_address_needs_a_secret_or_insecure_dev() {
    let (status, text) = serve_briefly(&["--bind", "0.0.0.0"], Duration::from_secs(20));
    let status = status.expect("the host refused to start");
    assert!(!status.success());
    assert!(
        text.contains("--insecure-dev") && text.contains("no secret"),
        "{text}"
    );
    for extra in [
        &["--insecure-dev"][..],
        &["--api-key", HOST_KEY],
        &["--admin-token", "admin"],
    ] {
        let mut args = vec!["--bind", "0.0.0.0"];
        args.extend_from_slice(extra);
        let (status, text) = serve_briefly(&args, Duration::from_secs(3));
        assert!(status.is_none(), "{extra:?}: it should serve\n{text}");
    }
    let (status, text) = serve_briefly(&["--api-key", "short"], Duration::from_secs(20));
    assert!(status.is_some_and(|s| !s.success()), "{text}");
}

/// The path with every `{param}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| if part.starts_with('{') { "x" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let (status, doc) = read(
        client()
            .get(host.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/conversation/{id}/complete"));
    assert!(paths.contains_key("/api/messages") && paths.contains_key("/api/bots/{bot}/proactive"));
    for (path, item) in paths {
        let url = host.url(&concrete(path));
        let methods: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in &methods {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = client()
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            assert_ne!(status, 405, "{method} {path} is documented but not served");
            assert!(
                !text.contains("no such route"),
                "{method} {path} is documented but not routed"
            );
        }
        // A method it does not document is not served either.
        let response = client().patch(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 405, "PATCH {path}");
    }
    // And a route not documented is not served.
    let (status, body) = read(
        client()
            .get(host.url("/api/v1/conversation/x/unknown"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NotFound");
}
