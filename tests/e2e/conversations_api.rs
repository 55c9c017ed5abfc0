//! The conversations API (`/api/v1/conversation/…`) against the real
//! binary: every route, long-polled `receive`, `complete` plain and as
//! server-sent events (plain replies, and a livestreaming bot). Sessions,
//! pagination, deletion and bad input: `conversations_api_sessions.rs`;
//! keys, the loopback rule and the OpenAPI document:
//! `conversations_api_access.rs`; two hosts: `conversations_api_hosts.rs`.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// A request to the API; `auth` is a bearer credential.
pub async fn call(
    host: &Host,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client().request(method, host.url(&format!("/api/v1/conversation{path}")));
    if let Some(auth) = auth {
        request = request.bearer_auth(auth);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.expect("request")).await
}

/// Creates a conversation with `bot`; its id.
pub async fn create(host: &Host, auth: Option<&str>, body: Value) -> String {
    let (status, answer) = call(host, "POST", "/create", auth, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

pub fn texts(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["type"].as_str().unwrap(),
                i["text"].as_str().unwrap()
            )
        })
        .collect()
}

/// The events of a `text/event-stream` answer, as (name, data).
pub fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

/// `complete` as server-sent events: the events.
pub async fn complete_streamed(host: &Host, id: &str, text: &str) -> Vec<(String, Value)> {
    let response = client()
        .post(host.url(&format!("/api/v1/conversation/{id}/complete")))
        .header("accept", "text/event-stream")
        .json(&json!({"text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    events(&response.text().await.unwrap())
}

#[tokio::test]
async fn a_conversation_goes_through_every_route() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let meta = json!({"plan": "pro"});
    let id = create(
        &host,
        None,
        json!({"bot": "echo", "name": "Support", "description": "first", "meta": meta, "userId": "ada"}),
    )
    .await;

    let (status, fetched) = call(&host, "GET", &format!("/{id}/fetch"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["name"], "Support");
    assert_eq!(fetched["meta"], meta);
    assert_eq!(
        (fetched["bot"].as_str(), fetched["userId"].as_str()),
        (Some("echo"), Some("ada"))
    );
    assert!(fetched["createdAt"].as_str().unwrap().ends_with('Z'));

    // send, then receive: the bot's reply, once.
    let (status, sent) = call(
        &host,
        "POST",
        &format!("/{id}/send"),
        None,
        Some(json!({"text": "hello", "meta": {"k": 1}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let (_, received) = call(
        &host,
        "POST",
        &format!("/{id}/receive"),
        None,
        Some(json!({"wait": 5000})),
    )
    .await;
    assert_eq!(texts(&received["items"]), ["bot:Echo: hello"]);
    let reply = &received["items"][0];
    assert!(
        reply["id"].is_string()
            && reply["createdAt"].is_string()
            && reply["attachments"].is_array()
    );
    let (_, again) = call(&host, "POST", &format!("/{id}/receive"), None, None).await;
    assert_eq!(again["items"], json!([]), "handed out once");
    // `after` reads again without moving the cursor.
    let (_, after) = call(
        &host,
        "POST",
        &format!("/{id}/receive"),
        None,
        Some(json!({"after": sent["id"]})),
    )
    .await;
    assert_eq!(texts(&after["items"]), ["bot:Echo: hello"]);

    // complete: the replies to that message.
    let (status, completed) = call(
        &host,
        "POST",
        &format!("/{id}/complete"),
        None,
        Some(json!({"text": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    assert_eq!(texts(&completed["items"]), ["bot:Echo: hi"]);

    let (_, history) = call(&host, "GET", &format!("/{id}/message/list"), None, None).await;
    assert_eq!(
        texts(&history["items"]),
        ["user:hello", "bot:Echo: hello", "user:hi", "bot:Echo: hi"]
    );
    assert_eq!(history["items"][0]["meta"], json!({"k": 1}));
    assert_eq!(history["items"][0]["id"], sent["id"]);

    let (status, _) = call(
        &host,
        "POST",
        &format!("/{id}/update"),
        None,
        Some(json!({"name": "Renamed", "description": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, fetched) = call(&host, "GET", &format!("/{id}/fetch"), None, None).await;
    assert_eq!(fetched["name"], "Renamed");
    assert!(fetched["description"].is_null());
    assert_eq!(fetched["meta"], meta, "unchanged when absent");

    let (_, listed) = call(&host, "GET", "/list?bot=echo", None, None).await;
    assert_eq!(listed["items"][0]["id"], id.as_str());

    let (status, _) = call(&host, "POST", &format!("/{id}/delete"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    for (method, route) in [
        ("GET", "fetch"),
        ("POST", "receive"),
        ("GET", "message/list"),
    ] {
        let (status, body) = call(&host, method, &format!("/{id}/{route}"), None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{route}");
        assert_error(&body, "ConversationNotFound");
    }
    host.assert_no_panic();
}

/// `complete` whose host dies right after logging the user's message
/// (before the turn runs, as `kill -9` would): the caller's request fails,
/// and after a restart the message is answered once. Before, it stayed in
/// the history unanswered.
#[tokio::test]
async fn a_complete_cut_by_a_crash_is_answered_after_the_restart() {
    let bots = BotsDir::with(&[("echo", "rust-echo")]);
    let data = tempfile::tempdir().unwrap();
    let mut host = Host::start_with_env(
        bots.path(),
        data.path(),
        &[],
        &[("TURNBOX_FAULT", "after-log")],
    );
    let id = create(&host, None, json!({"bot": "echo"})).await;
    let cut = client()
        .post(host.url(&format!("/api/v1/conversation/{id}/complete")))
        .json(&json!({"text": "hi"}))
        .send()
        .await;
    assert!(cut.is_err(), "the host died mid-request: {cut:?}");
    assert!(host.wait_exit().await.is_some(), "the fault did not fire");

    let host = Host::start_in(bots.path(), data.path(), &[]);
    let list = format!("/{id}/message/list");
    eventually("the kept turn's reply", || async {
        let (_, history) = call(&host, "GET", &list, None, None).await;
        history["items"].as_array().is_some_and(|i| i.len() >= 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, history) = call(&host, "GET", &list, None, None).await;
    assert_eq!(texts(&history["items"]), ["user:hi", "bot:Echo: hi"]);
}

#[tokio::test]
async fn receive_long_polls_until_the_bot_answers() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let id = create(&host, None, json!({"bot": "echo"})).await;

    // Nothing to hand out: the wait runs out, empty.
    let started = Instant::now();
    let (_, empty) = call(
        &host,
        "POST",
        &format!("/{id}/receive"),
        None,
        Some(json!({"wait": 600})),
    )
    .await;
    assert_eq!(empty["items"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(550));

    // A receive waiting when the message is sent returns with the reply.
    let waiting = {
        let url = host.url(&format!("/api/v1/conversation/{id}/receive"));
        tokio::spawn(async move {
            let started = Instant::now();
            let response = client()
                .post(url)
                .json(&json!({"wait": 20000}))
                .send()
                .await
                .unwrap();
            (started.elapsed(), read(response).await.1)
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _) = call(
        &host,
        "POST",
        &format!("/{id}/send"),
        None,
        Some(json!({"text": "ping"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (took, received) = waiting.await.unwrap();
    assert_eq!(texts(&received["items"]), ["bot:Echo: ping"]);
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(15),
        "{took:?}"
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn complete_streams_server_sent_events() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let id = create(&host, None, json!({"bot": "echo"})).await;
    let events = complete_streamed(&host, &id, "stream me").await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"done"), "{events:?}");
    assert!(names.contains(&"message"), "{events:?}");
    let (_, done) = events.last().unwrap();
    assert_eq!(texts(&done["items"]), ["bot:Echo: stream me"]);
    host.assert_no_panic();
}

#[tokio::test]
async fn complete_streams_a_livestreamed_answer_as_it_grows() {
    let model = crate::llm_chat_rs::StandInModel::start().await;
    let bots = BotsDir::with_manifest("chat", "llm-chat-rs", &model.manifest(10_000, ""));
    let host = Host::start(bots, &[]);
    model.set_delay(Duration::from_millis(100));
    let id = create(&host, None, json!({"bot": "chat"})).await;
    let events = complete_streamed(&host, &id, "tell me").await;
    let updates: Vec<String> = events
        .iter()
        .filter(|(n, d)| n == "update" && d["streamType"] == "streaming")
        .map(|(_, d)| d["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        events
            .iter()
            .any(|(n, d)| n == "update" && d["streamType"] == "informative"),
        "{events:?}"
    );
    assert!(updates.len() >= 2, "several interim updates: {events:?}");
    assert!(
        updates.windows(2).all(|w| w[1].starts_with(&w[0])),
        "the text grows: {updates:?}"
    );
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    assert_eq!(texts(&done["items"]), ["bot:You said: tell me \u{2713}"]);
    // The history keeps the final message only.
    let (_, history) = call(&host, "GET", &format!("/{id}/message/list"), None, None).await;
    assert_eq!(
        texts(&history["items"]),
        ["user:tell me", "bot:You said: tell me \u{2713}"]
    );
    host.assert_no_panic();
}
