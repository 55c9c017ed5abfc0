//! botbuilder's echo sample on turnbox's SDK in each language
//! (guest-examples/sample-echo-*), the bots the benchmarks set beside the
//! Bot Framework SDK's own: they echo text and speak, welcome members other
//! than the bot, and keep no state (`count` is echoed, not counted).

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

const SAMPLES: [&str; 3] = ["sample-echo-rs", "sample-echo-js", "sample-echo-py"];

#[tokio::test]
async fn the_echo_samples_echo_and_welcome_in_every_language() {
    let connector = Connector::start().await;
    let bots = BotsDir::with(&SAMPLES.map(|bot| (bot, bot)));
    let host = Host::start(bots, &[]);
    let service_url = connector.service_url();

    for bot in SAMPLES {
        let url = host.url(&format!("/api/bots/{bot}/messages"));

        // Normal mode: the echo reaches the connector, text and speak.
        let incoming = message(&service_url, "hi");
        let before = connector.received().len();
        let (status, _) = post_activity(&url, &incoming).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        let sent = connector.received();
        assert_eq!(sent.len(), before + 1, "{bot}");
        let reply = &sent[before].body;
        assert_eq!(reply["text"], "Echo: hi", "{bot}");
        assert_eq!(reply["speak"], "Echo: hi", "{bot}");
        assert_eq!(reply["replyToId"], incoming["id"], "{bot}");

        // expectReplies: no state, so `count` is only echoed, every time.
        for _ in 0..2 {
            let mut ask = message(&service_url, "count");
            ask["deliveryMode"] = json!("expectReplies");
            let (status, body) = post_activity(&url, &ask).await;
            assert_eq!(status, StatusCode::OK, "{bot}");
            let list = body["activities"].as_array().cloned().unwrap_or_default();
            assert_eq!(reply_texts(&list), ["Echo: count"], "{bot}");
        }

        // A welcome for each member who joined, but not for the bot.
        let mut update = message(&service_url, "");
        update["type"] = json!("conversationUpdate");
        update["deliveryMode"] = json!("expectReplies");
        update["membersAdded"] = json!([{"id": "bot-1"}, {"id": "u2"}, {"id": "u3"}]);
        let (status, body) = post_activity(&url, &update).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        let list = body["activities"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            reply_texts(&list),
            ["Hello and welcome!", "Hello and welcome!"],
            "{bot}"
        );
    }
}
