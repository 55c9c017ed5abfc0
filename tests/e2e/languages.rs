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

/// A warm-instance manifest that also recycles instances mid-suite.
const POOLED: &str = "[instances]\npolicy = \"pooled\"\npool_size = 2\nmax_turns = 5\n";

#[tokio::test]
async fn every_language_behaves_the_same() {
    behaviour_suite(None).await;
}

#[tokio::test]
async fn every_language_behaves_the_same_on_warm_instances() {
    behaviour_suite(Some(POOLED)).await;
}

/// An activity of `kind` from the user, with `fields` set on it.
fn activity(service_url: &str, kind: &str, fields: Value) -> Value {
    let mut activity = message(service_url, "");
    activity["type"] = json!(kind);
    activity.as_object_mut().unwrap().remove("text");
    for (key, value) in fields.as_object().unwrap() {
        activity[key] = value.clone();
    }
    activity
}

/// The spec in guest-examples/README.md, checked against every language
/// (served with `manifest`, when given).
async fn behaviour_suite(manifest: Option<&str>) {
    let connector = Connector::start().await;
    let bots = BotsDir::with(&[
        ("rust-echo", "rust-echo"),
        ("python-echo", "python-echo"),
        ("js-echo", "js-echo"),
    ]);
    if let Some(manifest) = manifest {
        for bot in LANGUAGES {
            std::fs::write(bots.path().join(format!("{bot}.toml")), manifest).unwrap();
        }
    }
    let host = Host::start(bots, &[]);
    let service_url = connector.service_url();

    for bot in LANGUAGES {
        let url = host.url(&format!("/api/bots/{bot}/messages"));
        let ask = |activity: Value| replies(&host, bot, activity);

        // Echo, through the connector, with the routing filled in.
        let incoming = message(&service_url, "hi");
        let before = connector.received().len();
        let (status, _) = post_activity(&url, &incoming).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        let sent = connector.received();
        assert_eq!(sent.len(), before + 1, "{bot}");
        let reply = &sent[before].body;
        assert_eq!(reply["text"], "Echo: hi", "{bot}");
        assert_eq!(reply["recipient"], incoming["from"], "{bot}");
        assert_eq!(reply["replyToId"], incoming["id"], "{bot}");
        assert_eq!(
            sent[before].path,
            format!(
                "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities/{}",
                encoded_id(&incoming)
            )
        );

        // Edit: a draft sent, then replaced through the connector.
        let before = connector.received().len();
        let (status, _) = post_activity(&url, &message(&service_url, "edit")).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        let sent = connector.received();
        assert_eq!(sent.len(), before + 2, "{bot}");
        assert_eq!(sent[before].body["text"], "draft", "{bot}");
        let draft_id = format!("sent-{}", before + 1);
        assert_eq!(sent[before + 1].method, "PUT", "{bot}");
        assert_eq!(
            sent[before + 1].path,
            format!("/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities/{draft_id}"),
            "{bot}"
        );
        assert_eq!(sent[before + 1].body["text"], "final", "{bot}");

        // A welcome and a goodbye for members other than the bot.
        let update = activity(
            &service_url,
            "conversationUpdate",
            json!({"membersAdded": [{"id": "bot-1", "name": "Bot"}, {"id": "u2", "name": "Grace"}]}),
        );
        let (status, list) = ask(update).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        assert_eq!(reply_texts(&list), ["Welcome, Grace!"], "{bot}");
        let update = activity(
            &service_url,
            "conversationUpdate",
            json!({"membersRemoved": [{"id": "u3"}, {"id": "bot-1"}]}),
        );
        assert_eq!(reply_texts(&ask(update).await.1), ["Goodbye, u3!"], "{bot}");
        let only_the_bot = activity(
            &service_url,
            "conversationUpdate",
            json!({"membersAdded": [{"id": "bot-1"}]}),
        );
        let (status, list) = ask(only_the_bot).await;
        assert_eq!((status, list.len()), (StatusCode::OK, 0), "{bot}");

        // A counter in conversation state.
        for expected in ["Count: 1", "Count: 2"] {
            let (status, list) = ask(message(&service_url, "count")).await;
            assert_eq!(status, StatusCode::OK, "{bot}");
            assert_eq!(reply_texts(&list), [expected], "{bot}");
        }
        let mut elsewhere = message(&service_url, "count");
        elsewhere["conversation"]["id"] = json!("another");
        assert_eq!(reply_texts(&ask(elsewhere).await.1), ["Count: 1"], "{bot}");

        // A hero card with suggested actions.
        let (_, list) = ask(message(&service_url, "card")).await;
        let card = &list[0];
        assert_eq!(card["text"], "Here is a card", "{bot}");
        let hero = &card["attachments"][0];
        assert_eq!(
            hero["contentType"], "application/vnd.microsoft.card.hero",
            "{bot}"
        );
        assert_eq!(hero["content"]["title"], "turnbox", "{bot}");
        assert_eq!(hero["content"]["buttons"][0]["type"], "openUrl", "{bot}");
        let actions: Vec<(&str, &str)> = card["suggestedActions"]["actions"]
            .as_array()
            .unwrap_or_else(|| panic!("{bot}: no suggested actions in {card}"))
            .iter()
            .map(|a| (a["type"].as_str().unwrap(), a["value"].as_str().unwrap()))
            .collect();
        assert_eq!(actions, [("imBack", "red"), ("imBack", "blue")], "{bot}");

        // An adaptive card.
        let (_, list) = ask(message(&service_url, "adaptive")).await;
        let adaptive = &list[0]["attachments"][0];
        assert_eq!(
            adaptive["contentType"], "application/vnd.microsoft.card.adaptive",
            "{bot}"
        );
        assert_eq!(adaptive["content"]["type"], "AdaptiveCard", "{bot}");
        assert_eq!(
            adaptive["content"]["body"][0]["text"], "Hello from turnbox",
            "{bot}"
        );

        // A typing indicator, then text.
        let (_, list) = ask(message(&service_url, "typing")).await;
        let kinds: Vec<&str> = list.iter().filter_map(|a| a["type"].as_str()).collect();
        assert_eq!(kinds, ["typing", "message"], "{bot}");
        assert_eq!(reply_texts(&list), ["Done typing"], "{bot}");

        // Reactions, events by name, end of conversation, and the rest.
        let reaction = activity(
            &service_url,
            "messageReaction",
            json!({"reactionsAdded": [{"type": "like"}], "replyToId": "sent-1"}),
        );
        assert_eq!(
            reply_texts(&ask(reaction).await.1),
            ["Thanks for the like"],
            "{bot}"
        );
        let greet = activity(
            &service_url,
            "event",
            json!({"name": "greet", "value": {"name": "Ada"}}),
        );
        assert_eq!(reply_texts(&ask(greet).await.1), ["Hello, Ada!"], "{bot}");
        let other_event = activity(&service_url, "event", json!({"name": "other"}));
        assert_eq!(ask(other_event).await, (StatusCode::OK, vec![]), "{bot}");
        let end = activity(
            &service_url,
            "endOfConversation",
            json!({"code": "completedSuccessfully"}),
        );
        assert_eq!(
            reply_texts(&ask(end).await.1),
            ["Ended: completedSuccessfully"],
            "{bot}"
        );
        let typing = activity(&service_url, "typing", json!({}));
        assert_eq!(ask(typing).await, (StatusCode::OK, vec![]), "{bot}");
        let handoff = activity(&service_url, "handoff", json!({}));
        assert_eq!(
            reply_texts(&ask(handoff).await.1),
            ["Unrecognized: handoff"],
            "{bot}"
        );

        // The invoke, and an invoke it does not know.
        let mut invoke = activity(&service_url, "invoke", json!({"name": "echo/ping"}));
        let (status, body) = post_activity(&url, &invoke).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"pong": true})),
            "{bot}"
        );
        invoke["name"] = json!("echo/other");
        invoke["id"] = json!(format!("{bot}-other-invoke"));
        let (status, _) = post_activity(&url, &invoke).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{bot}");
    }

    // Warm instances served the suite: far fewer instantiations than turns.
    if manifest.is_some() {
        for bot in LANGUAGES {
            let status = host.bot_status(bot).await.unwrap();
            let instances = &status["instances"];
            assert_eq!(instances["policy"], "pooled", "{status}");
            let made = instances["instantiations"].as_u64().unwrap_or(0);
            let recycled = instances["recycled"].as_u64().unwrap_or(0);
            assert!((1..20).contains(&made) && recycled >= 1, "{bot}: {status}");
        }
    }
    host.assert_no_panic();
}

/// Outbound HTTP in every language (`fetch URL`, each through its SDK's
/// client): a round trip to a stand-in upstream on the manifest's
/// allowlist, and the standard refusal for a host not on it.
#[tokio::test]
async fn every_language_fetches_from_an_allowed_upstream() {
    let (port, _upstream) = crate::outbound_http::upstream().await;
    let manifest = format!("[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\n");
    let bots = BotsDir::with(&[
        ("rust-echo", "rust-echo"),
        ("python-echo", "python-echo"),
        ("js-echo", "js-echo"),
    ]);
    for bot in LANGUAGES {
        std::fs::write(bots.path().join(format!("{bot}.toml")), &manifest).unwrap();
    }
    let host = Host::start(bots, &[]);
    let service_url = "http://127.0.0.1:9/";
    for bot in LANGUAGES {
        let fetch = format!("fetch http://127.0.0.1:{port}/hello");
        let (status, list) = replies(&host, bot, message(service_url, &fetch)).await;
        assert_eq!(status, StatusCode::OK, "{bot}");
        assert_eq!(
            reply_texts(&list),
            ["fetched 200: hello from upstream"],
            "{bot}"
        );

        let fetch = format!("fetch http://127.0.0.1:{}/hello", port + 1);
        let (_, list) = replies(&host, bot, message(service_url, &fetch)).await;
        let reply = reply_texts(&list)
            .first()
            .copied()
            .unwrap_or_default()
            .to_owned();
        assert!(reply.starts_with("fetch failed"), "{bot}: {reply}");
    }
    assert!(
        host.wait_for_log("outbound HTTP denied").await,
        "{}",
        host.log()
    );
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

#[test]
fn building_the_examples_leaves_their_lock_files_as_committed() {
    guest_dir();
    let root = root();
    if !root.join(".git").exists() {
        return; // not a checkout: nothing committed to compare with
    }
    let locks = [
        "guest-examples/js-echo/package-lock.json",
        "guest-examples/Cargo.lock",
    ];
    let diff = std::process::Command::new("git")
        .args(["diff", "--stat", "HEAD", "--"])
        .args(locks)
        .current_dir(&root)
        .output()
        .expect("git runs");
    let changed = String::from_utf8_lossy(&diff.stdout);
    assert!(
        changed.trim().is_empty(),
        "the example builds rewrote a committed lock file (or it is not committed yet):\n{changed}"
    );
}
