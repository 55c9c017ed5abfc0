//! botbuilder's echo sample on turnbox's SDK in each language
//! (guest-examples/sample-echo-*), the bots the benchmarks set beside the
//! Bot Framework SDK's own: they echo text and speak, welcome members other
//! than the bot, and keep no state (`count` is echoed, not counted).
//! `sample-echo-qjs` is sample-echo-js built with componentize-qjs
//! (QuickJS), which exports the `bot-owned` world's `owned-handler`.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

const SAMPLES: [&str; 4] = [
    "sample-echo-rs",
    "sample-echo-js",
    "sample-echo-qjs",
    "sample-echo-py",
];

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

/// The QuickJS build takes its turn's context as its own (`owned-handler`):
/// the host loads it, and a warm instance serves turn after turn with a new
/// context each time, the SDK dropping each when its turn is done; an async
/// handler, which QuickJS's synchronous runtime cannot wait for, fails its
/// turn with a clear error.
#[tokio::test]
async fn a_quickjs_bot_owns_its_context_and_a_warm_instance_serves_turn_after_turn() {
    let bots = BotsDir::with(&[
        ("qjs", "sample-echo-qjs"),
        ("qjs-pooled", "sample-echo-qjs"),
        ("js", "sample-echo-js"),
        ("async-qjs", "js-echo-qjs"),
    ]);
    std::fs::write(
        bots.path().join("qjs-pooled.toml"),
        "[instances]\npolicy = \"pooled\"\npool_size = 1\n",
    )
    .expect("write manifest");
    let host = Host::start(bots, &[]);

    for (bot, exports) in [
        ("qjs", "owned-handler"),
        ("qjs-pooled", "owned-handler"),
        ("js", "handler"),
    ] {
        let status = host.bot_status(bot).await.expect("status");
        assert_eq!(status["exports"], exports, "{status}");
    }
    for n in 0..6 {
        for bot in ["qjs", "qjs-pooled"] {
            let text = format!("turn {n}");
            let (status, reply) = host.ask(bot, &text).await;
            assert_eq!(status, StatusCode::OK, "{bot}: {}", host.log());
            assert_eq!(reply.as_deref(), Some(format!("Echo: {text}").as_str()));
        }
    }
    // One instance served the pooled bot's six turns: none trapped.
    let status = host.bot_status("qjs-pooled").await.expect("status");
    assert_eq!(status["instances"]["instantiations"], 1, "{status}");

    // QuickJS's synchronous runtime cannot wait for a promise: an async
    // handler (js-echo's) fails its turn with the SDK's error, not a trap.
    let mut activity = message("http://127.0.0.1:9/", "hello");
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/async-qjs/messages"), &activity).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "BotError", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("AsyncHandlerUnsupported"), "{body}");
}
