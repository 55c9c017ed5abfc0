//! One behaviour, every language: the Rust, Python and JavaScript example
//! bots, built from source, held to the same checks on the real host.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const LANGUAGES: [&str; 3] = ["rust-echo", "python-echo", "js-echo"];

async fn replies(host: &Host, bot: &str, activity: Value) -> (StatusCode, Vec<Value>) {
    let mut activity = activity;
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) =
        post_activity(&host.url(&format!("/api/bots/{bot}/messages")), &activity).await;
    let list = body["activities"].as_array().cloned().unwrap_or_default();
    (status, list)
}

fn texts(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(|a| a["text"].as_str()).collect()
}

#[tokio::test]
async fn every_language_behaves_the_same() {
    let connector = Connector::start().await;
    let bots = BotsDir::with(&[
        ("rust-echo", "rust-echo"),
        ("python-echo", "python-echo"),
        ("js-echo", "js-echo"),
    ]);
    let host = Host::start(bots, &[]);
    let service_url = connector.service_url();

    for (n, bot) in LANGUAGES.into_iter().enumerate() {
        // Echo, through the connector, with the routing filled in.
        let incoming = message(&service_url, "hi");
        let (status, _) =
            post_activity(&host.url(&format!("/api/bots/{bot}/messages")), &incoming).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        let sent = connector.received();
        let reply = &sent[n].body;
        assert_eq!(reply["text"], "Echo: hi", "{bot}");
        assert_eq!(reply["recipient"], incoming["from"], "{bot}");
        assert_eq!(reply["replyToId"], incoming["id"], "{bot}");
        assert_eq!(
            sent[n].path,
            "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities/activity%2F1"
        );

        // A welcome for members other than the bot.
        let mut update = message(&service_url, "");
        update["type"] = json!("conversationUpdate");
        update["membersAdded"] =
            json!([{"id": "bot-1", "name": "Bot"}, {"id": "u2", "name": "Grace"}]);
        let (status, list) = replies(&host, bot, update).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        assert_eq!(texts(&list), ["Welcome, Grace!"], "{bot}");

        // A counter in conversation state.
        for expected in ["Count: 1", "Count: 2"] {
            let (status, list) = replies(&host, bot, message(&service_url, "count")).await;
            assert_eq!(status, StatusCode::OK, "{bot}");
            assert_eq!(texts(&list), [expected], "{bot}");
        }
        let mut elsewhere = message(&service_url, "count");
        elsewhere["conversation"]["id"] = json!("another");
        assert_eq!(
            texts(&replies(&host, bot, elsewhere).await.1),
            ["Count: 1"],
            "{bot}"
        );

        // A hero card with suggested actions.
        let (_, list) = replies(&host, bot, message(&service_url, "card")).await;
        let card = &list[0];
        assert_eq!(card["text"], "Here is a card", "{bot}");
        assert_eq!(
            card["attachments"][0]["contentType"], "application/vnd.microsoft.card.hero",
            "{bot}"
        );
        assert_eq!(
            card["attachments"][0]["content"]["title"], "turnbox",
            "{bot}"
        );
        let actions: Vec<&str> = card["suggestedActions"]["actions"]
            .as_array()
            .unwrap_or_else(|| panic!("{bot}: no suggested actions in {card}"))
            .iter()
            .map(|a| a["value"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["red", "blue"], "{bot}");

        // The invoke, and an invoke it does not know.
        let mut invoke = message(&service_url, "");
        invoke["type"] = json!("invoke");
        invoke["name"] = json!("echo/ping");
        let (status, body) =
            post_activity(&host.url(&format!("/api/bots/{bot}/messages")), &invoke).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"pong": true})),
            "{bot}"
        );
        invoke["name"] = json!("echo/other");
        let (status, _) =
            post_activity(&host.url(&format!("/api/bots/{bot}/messages")), &invoke).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{bot}");
    }
    host.assert_no_panic();
}

#[tokio::test]
async fn every_language_passes_the_echo_transcript() {
    let transcript = root().join("guest-examples/rust-echo/echo.transcript");
    for bot in LANGUAGES {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_turnbox"))
            .arg("test")
            .arg(guest(bot))
            .arg(&transcript)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run turnbox test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{bot}: {stdout}");
        assert!(stdout.contains("0 mismatches"), "{bot}: {stdout}");
    }
}
