//! The conversations API's sessions (bound to one conversation, expiring,
//! refreshed, usable cross-origin), pagination and deletion, and bad input,
//! against the real binary.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::conversations_api::{call, create, texts};
use crate::support::*;

#[tokio::test]
async fn sessions_are_bound_to_one_conversation_expire_and_refresh() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let a = create(&host, None, json!({"bot": "echo"})).await;
    let b = create(&host, None, json!({"bot": "echo"})).await;
    let (status, session) = call(
        &host,
        "POST",
        &format!("/{a}/session/create"),
        None,
        Some(json!({"expiresIn": 600})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert!(session["expiresAt"].as_str().unwrap().ends_with('Z'));

    let (status, done) = call(
        &host,
        "POST",
        &format!("/{a}/complete"),
        Some(&token),
        Some(json!({"text": "yo"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(texts(&done["items"]), ["bot:Echo: yo"]);
    for (method, route, body) in [
        ("POST", "send", Some(json!({"text": "x"}))),
        ("POST", "receive", None),
        ("GET", "message/list", None),
    ] {
        let (status, _) = call(
            &host,
            method,
            &format!("/{a}/{route}"),
            Some(&token),
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{route} on A");
        let (status, body) =
            call(&host, method, &format!("/{b}/{route}"), Some(&token), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{route} on B");
        assert_error(&body, "Forbidden");
    }
    // Only what a session may do.
    for (method, route) in [
        ("GET", "fetch"),
        ("POST", "delete"),
        ("POST", "session/create"),
    ] {
        let (status, _) = call(&host, method, &format!("/{a}/{route}"), Some(&token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{route}");
    }
    let (status, _) = call(&host, "GET", "/list", Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Refreshed: a new token, which works.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, refreshed) = call(
        &host,
        "POST",
        &format!("/{a}/session/refresh"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let fresh = refreshed["token"].as_str().unwrap();
    assert_ne!(fresh, token);
    assert!(refreshed["expiresAt"].as_str().unwrap() > session["expiresAt"].as_str().unwrap());
    let (status, _) = call(&host, "POST", &format!("/{a}/receive"), Some(fresh), None).await;
    assert_eq!(status, StatusCode::OK);

    // Expired: refused, and cannot be refreshed.
    let (_, short) = call(
        &host,
        "POST",
        &format!("/{a}/session/create"),
        None,
        Some(json!({"expiresIn": 1})),
    )
    .await;
    let short = short["token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for route in ["receive", "session/refresh"] {
        let (status, body) =
            call(&host, "POST", &format!("/{a}/{route}"), Some(&short), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{route}");
        assert_error(&body, "TokenExpired");
    }
    let (status, _) = call(
        &host,
        "POST",
        &format!("/{a}/session/create"),
        None,
        Some(json!({"expiresIn": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A browser page elsewhere may call with the token: the preflight.
    let preflight = client()
        .request(
            reqwest::Method::OPTIONS,
            host.url(&format!("/api/v1/conversation/{a}/send")),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let cross = client()
        .post(host.url(&format!("/api/v1/conversation/{a}/receive")))
        .header("origin", "https://app.example")
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status().as_u16(), 200);
    assert_eq!(cross.headers()["access-control-allow-origin"], "*");
    host.assert_no_panic();
}

#[tokio::test]
async fn lists_page_newest_first_and_deleted_conversations_are_gone() {
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo"), ("other", "rust-echo")]),
        &[],
    );
    let mut ids = Vec::new();
    for n in 0..5 {
        let bot = if n == 2 { "other" } else { "echo" };
        ids.push(create(&host, None, json!({"bot": bot, "name": format!("c{n}")})).await);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/list?take=2&cursor={c}"),
            None => "/list?take=2".into(),
        };
        let (status, page) = call(&host, "GET", &path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let (_, others) = call(&host, "GET", "/list?bot=other", None, None).await;
    assert_eq!(others["items"].as_array().unwrap().len(), 1);
    assert_eq!(others["items"][0]["id"], ids[2].as_str());

    // Messages page oldest first.
    let id = &ids[0];
    for text in ["one", "two"] {
        call(
            &host,
            "POST",
            &format!("/{id}/complete"),
            None,
            Some(json!({"text": text})),
        )
        .await;
    }
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = call(
            &host,
            "GET",
            &format!("/{id}/message/list?take=3&cursor={cursor}"),
            None,
            None,
        )
        .await;
        all.extend(texts(&page["items"]));
        match page["cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        all,
        ["user:one", "bot:Echo: one", "user:two", "bot:Echo: two"]
    );

    call(&host, "POST", &format!("/{}/delete", ids[4]), None, None).await;
    let (_, page) = call(&host, "GET", "/list", None, None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    assert_eq!(page["items"][0]["id"], ids[3].as_str());
    let (status, body) = call(&host, "POST", &format!("/{}/delete", ids[4]), None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "ConversationNotFound");
    host.assert_no_panic();
}

#[tokio::test]
async fn bad_input_gets_a_json_error() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let id = create(&host, None, json!({"bot": "echo"})).await;
    for (method, route) in [
        ("POST", "send"),
        ("POST", "receive"),
        ("POST", "complete"),
        ("GET", "fetch"),
        ("POST", "update"),
        ("POST", "session/create"),
    ] {
        let body = (method == "POST").then(|| json!({"text": "x"}));
        let (status, answer) = call(&host, method, &format!("/nope/{route}"), None, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{route}");
        assert_error(&answer, "ConversationNotFound");
    }
    let (status, body) = call(
        &host,
        "POST",
        "/create",
        None,
        Some(json!({"bot": "ghost"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "BotNotFound");

    let raw = |path: String, body: Vec<u8>| {
        let url = host.url(&format!("/api/v1/conversation{path}"));
        async move {
            read(
                client()
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    // A query string that does not parse gets the same JSON error.
    for path in [
        "/list?take=abc".to_owned(),
        format!("/{id}/message/list?take=-1"),
    ] {
        let (status, answer) = call(&host, "GET", &path, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_error(&answer, "BadArgument");
    }
    let (status, body) = raw(format!("/{id}/send"), b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "BadArgument");
    let (status, _) = raw(format!("/{id}/send"), br#"{"text": 5}"#.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = raw(
        "/create".into(),
        br#"{"bot": "echo", "meta": [1]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = raw(
        format!("/{id}/receive"),
        br#"{"after": "unknown"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let oversize = serde_json::to_vec(&json!({"text": "x".repeat(300 << 10)})).unwrap();
    let (status, body) = raw(format!("/{id}/send"), oversize).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "PayloadTooLarge");
    let (status, _) = call(&host, "GET", "/list?cursor=garbage", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(&host, "GET", &format!("/{id}/send"), None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "MethodNotAllowed");
    host.assert_no_panic();
}
