//! The `connector` WIT interface end to end: the misbehave bot's `conn …`
//! commands call the Bot Connector's member, history and attachment APIs
//! through the real host, against a stand-in connector that serves them and
//! records what it was asked, in dev mode and with the bot's token.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::idp_standin::*;
use crate::support::*;

#[derive(Clone, Debug)]
struct Asked {
    method: Method,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    body: Value,
}

type Log = Arc<Mutex<Vec<Asked>>>;

/// A stand-in connector with members, history and attachments.
struct Channel {
    addr: std::net::SocketAddr,
    log: Log,
}

fn member(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "aadObjectId": format!("aad-{id}"), "userRole": "user"})
}

async fn serve(
    State(log): State<Log>,
    method: Method,
    uri: axum::http::Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    log.lock().unwrap().push(Asked {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let conv = "/v3/conversations/a%3Aconv%3Bmessageid%3D7";
    let rest = path.strip_prefix(conv).unwrap_or(&path);
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": "MemberNotFound", "message": "no such member"}})),
        )
            .into_response()
    };
    match (method.as_str(), rest) {
        ("GET", "/members") => {
            axum::Json(json!([member("user-1", "Ada"), member("user-2", "Grace")])).into_response()
        }
        ("GET", "/pagedmembers") => {
            let second = query
                .as_deref()
                .unwrap_or("")
                .contains("continuationToken=page%2F2");
            if second {
                axum::Json(json!({"members": [member("user-3", "Linus")]})).into_response()
            } else {
                axum::Json(
                    json!({"members": [member("user-1", "Ada"), member("user-2", "Grace")],
                                  "continuationToken": "page/2"}),
                )
                .into_response()
            }
        }
        ("GET", "/members/user-2") => axum::Json(member("user-2", "Grace")).into_response(),
        ("GET", r) if r.starts_with("/members/") => not_found(),
        ("DELETE", "/members/user-2") => StatusCode::OK.into_response(),
        ("GET", r) if r.starts_with("/activities/") && r.ends_with("/members") => {
            axum::Json(json!([member("user-1", "Ada")])).into_response()
        }
        ("POST", "/activities/history") => axum::Json(json!({"id": "history-1"})).into_response(),
        ("POST", "/attachments") => axum::Json(json!({"id": "att-1"})).into_response(),
        ("POST", _) => axum::Json(json!({"id": "reply"})).into_response(),
        ("GET", "/v3/attachments/att-1") => axum::Json(json!({
            "name": "notes.txt", "type": "text/plain",
            "views": [{"viewId": "original", "size": 16}]
        }))
        .into_response(),
        ("GET", "/v3/attachments/att-1/views/original") => {
            // The bytes of the last upload.
            let log = log.lock().unwrap();
            let uploaded = log
                .iter()
                .rev()
                .find(|a| a.path.ends_with("/attachments"))
                .and_then(|a| a.body["originalBase64"].as_str())
                .and_then(|b64| STANDARD.decode(b64).ok())
                .unwrap_or_default();
            ([("content-type", "text/plain")], uploaded).into_response()
        }
        ("GET", "/v3/attachments/huge/views/original") => (
            [("content-type", "application/octet-stream")],
            vec![0u8; 17 << 20],
        )
            .into_response(),
        _ => not_found(),
    }
}

impl Channel {
    async fn start() -> Channel {
        let log: Log = Arc::default();
        let app = Router::new().fallback(serve).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Channel { addr, log }
    }

    fn service_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn asked(&self) -> Vec<Asked> {
        self.log.lock().unwrap().clone()
    }

    /// The text of the bot's last reply.
    fn last_reply(&self) -> String {
        let asked = self.asked();
        let reply = asked
            .iter()
            .rev()
            .find(|a| a.method == Method::POST && a.path.contains("/activities/activity"))
            .expect("a reply");
        reply.body["text"].as_str().unwrap_or_default().to_owned()
    }
}

async fn say(host: &Host, channel: &Channel, text: &str, auth: Option<&str>) -> String {
    say_to(host, "tester", channel, text, auth).await
}

async fn say_to(
    host: &Host,
    bot: &str,
    channel: &Channel,
    text: &str,
    auth: Option<&str>,
) -> String {
    let mut request = client()
        .post(host.url(&format!("/api/bots/{bot}/messages")))
        .json(&message(&channel.service_url(), text));
    if let Some(token) = auth {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let status = request.send().await.unwrap().status();
    assert_eq!(status, StatusCode::OK, "{text}");
    channel.last_reply()
}

#[tokio::test]
async fn members_history_and_attachments_reach_the_channel() {
    let channel = Channel::start().await;
    let host = Host::start(BotsDir::with(&[("tester", "misbehave")]), &[]);

    assert_eq!(
        say(&host, &channel, "conn members", None).await,
        "members=user-1,user-2"
    );
    assert_eq!(
        say(&host, &channel, "conn paged 2", None).await,
        "pages=2 members=user-1,user-2,user-3"
    );
    let paged: Vec<_> = channel
        .asked()
        .into_iter()
        .filter(|a| a.path.ends_with("/pagedmembers"))
        .collect();
    assert_eq!(paged[0].query.as_deref(), Some("pageSize=2"));
    assert_eq!(
        paged[1].query.as_deref(),
        Some("pageSize=2&continuationToken=page%2F2")
    );
    assert_eq!(
        say(&host, &channel, "conn member user-2", None).await,
        "member user-2 name=Grace"
    );
    assert_eq!(
        say(&host, &channel, "conn member nobody", None).await,
        "error MemberNotFound 404"
    );
    assert_eq!(
        say(&host, &channel, "conn activitymembers", None).await,
        "activity members=user-1"
    );
    assert!(channel.asked().iter().any(|a| a.method == Method::GET
        && a.path.contains("/activities/activity%2F")
        && a.path.ends_with("/members")));
    assert_eq!(
        say(&host, &channel, "conn delmember user-2", None).await,
        "deleted user-2"
    );
    assert!(
        channel
            .asked()
            .iter()
            .any(|a| a.method == Method::DELETE && a.path.ends_with("/members/user-2"))
    );

    assert_eq!(
        say(&host, &channel, "conn history", None).await,
        "history id=history-1"
    );
    let history = channel
        .asked()
        .into_iter()
        .find(|a| a.path.ends_with("/activities/history"))
        .unwrap();
    let texts: Vec<_> = history.body["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["old one", "old two"]);

    assert_eq!(
        say(&host, &channel, "conn upload notes.txt", None).await,
        "uploaded id=att-1"
    );
    let upload = channel
        .asked()
        .into_iter()
        .find(|a| a.path.ends_with("/attachments"))
        .unwrap();
    assert_eq!(upload.body["type"], "text/plain");
    assert_eq!(upload.body["name"], "notes.txt");
    assert_eq!(upload.body["originalBase64"], "aGVsbG8gYXR0YWNobWVudA==");

    assert_eq!(
        say(&host, &channel, "conn info att-1", None).await,
        "info notes.txt text/plain views=original:16"
    );
    assert_eq!(
        say(&host, &channel, "conn get att-1 original", None).await,
        "got 16 bytes text/plain hello attachment"
    );
    assert_eq!(
        say(&host, &channel, "conn get huge original", None).await,
        "error BadArgument -",
        "a download over 16 MiB is refused"
    );
    assert_eq!(
        say(&host, &channel, "conn get missing original", None).await,
        "error MemberNotFound 404"
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn calls_carry_the_bot_token_and_dev_mode_keeps_the_allowlist() {
    // With an app id, every call carries the bot's token.
    let idp = Idp::start(3600).await;
    let channel = Channel::start().await;
    let bots = BotsDir::with_manifest(
        "tester",
        "misbehave",
        r#"
[credentials]
MicrosoftAppId = "9a1b2c3d-0000-4000-8000-000000000001"
MicrosoftAppPassword = "bot-secret"
"#,
    );
    let args = idp.host_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(bots, &args);
    let token = keys().channel.sign(&channel_claims(&channel.service_url()));
    assert_eq!(
        say(&host, &channel, "conn members", Some(&token)).await,
        "members=user-1,user-2"
    );
    assert_eq!(
        say(&host, &channel, "conn upload notes.txt", Some(&token)).await,
        "uploaded id=att-1"
    );
    assert_eq!(
        say(&host, &channel, "conn get att-1 original", Some(&token)).await,
        "got 16 bytes text/plain hello attachment"
    );
    let calls = channel.asked();
    assert_eq!(calls.len(), 6, "three calls and three replies");
    assert!(
        calls
            .iter()
            .all(|a| a.authorization.as_deref() == Some("Bearer connector-token-1"))
    );

    // In dev mode a service URL off the allowlist is never contacted.
    let dev = Host::start(BotsDir::with(&[("tester", "misbehave")]), &[]);
    let outsider = json!({
        "type": "message", "id": "x-1", "channelId": "test",
        "serviceUrl": "http://203.0.113.9/", "from": {"id": "u"},
        "recipient": {"id": "b"}, "conversation": {"id": "c"},
        "text": "conn members", "deliveryMode": "expectReplies"
    });
    let (status, body) = post_activity(&dev.url("/api/bots/tester/messages"), &outsider).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["activities"][0]["text"], "error ServiceUrlNotAllowed -",
        "{body}"
    );
}

#[tokio::test]
async fn every_language_sdk_lists_members_and_moves_attachments() {
    let channel = Channel::start().await;
    let host = Host::start(
        BotsDir::with(&[
            ("rust", "rust-echo"),
            ("js", "js-echo"),
            ("python", "python-echo"),
        ]),
        &[],
    );
    for bot in ["rust", "js", "python"] {
        assert_eq!(
            say_to(&host, bot, &channel, "members", None).await,
            "Members: Ada, Grace",
            "{bot}"
        );
        assert_eq!(
            say_to(&host, bot, &channel, "upload", None).await,
            "Uploaded att-1: hello",
            "{bot}"
        );
        let upload = channel
            .asked()
            .into_iter()
            .rev()
            .find(|a| a.path.ends_with("/attachments"))
            .unwrap();
        assert_eq!(upload.body["name"], "hello.txt", "{bot}");
        assert_eq!(upload.body["type"], "text/plain", "{bot}");
    }
}
