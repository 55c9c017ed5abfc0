//! The JavaScript SDK's dialogs and Teams layer (issue #24), through the
//! real host: botbuilder-dotnet's dialog transcripts replayed against the
//! `dialogs-js` test bot, and js-echo's dialog and Teams scenarios
//! (guest-examples/README.md). Its turns re-run after a state conflict:
//! `dialog_conflicts.rs`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[test]
fn dialogs_js_replays_botbuilder_dotnets_dialog_transcripts() {
    crate::dialog_transcripts::replay_all("dialogs-js");
}

/// The bot's replies to `text` in `conversation` (under `expectReplies`).
async fn say(host: &Host, conversation: &str, locale: &str, text: &str) -> Vec<Value> {
    let mut activity = message("http://127.0.0.1:9", text);
    activity["conversation"]["id"] = json!(conversation);
    activity["locale"] = json!(locale);
    activity["deliveryMode"] = json!("expectReplies");
    let url = host.url("/api/bots/js-echo/messages");
    let (status, body) = post_activity(&url, &activity).await;
    assert_eq!(status, StatusCode::OK, "{text}: {body}");
    body["activities"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_form_dialog_asks_retries_confirms_and_cancels() {
    let host = Host::start(BotsDir::with(&[("js-echo", "js-echo")]), &[]);
    let ask = |conversation: &'static str, locale: &'static str, text: &'static str| {
        let host = &host;
        async move { say(host, conversation, locale, text).await }
    };

    assert_eq!(
        reply_texts(&ask("f1", "en-US", "form").await),
        ["What is your name?"]
    );
    assert_eq!(
        reply_texts(&ask("f1", "en-US", "Ada").await),
        ["How old are you?"]
    );
    let retry = "Please enter your age as a number between 0 and 150.";
    for wrong in ["old", "151", "36.5", "1,000", "-1"] {
        assert_eq!(
            reply_texts(&ask("f1", "en-US", wrong).await),
            [retry],
            "{wrong}"
        );
    }
    let confirm = ask("f1", "en-US", "36").await;
    assert_eq!(reply_texts(&confirm), ["Is this right: Ada, 36?"]);
    let actions: Vec<(&str, &str)> = confirm[0]["suggestedActions"]["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("no suggested actions: {}", confirm[0]))
        .iter()
        .map(|a| (a["title"].as_str().unwrap(), a["value"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("Yes", "Yes"), ("No", "No")]);
    assert_eq!(
        reply_texts(&ask("f1", "en-US", "Yes").await),
        ["Saved: Ada, 36."]
    );
    // The dialog is over: the echo table answers again.
    assert_eq!(reply_texts(&ask("f1", "en-US", "hi").await), ["Echo: hi"]);

    // "no", and a German "1,000": one.
    ask("f2", "de-DE", "form").await;
    ask("f2", "de-DE", "Grace").await;
    assert_eq!(
        reply_texts(&ask("f2", "de-DE", "1,000").await),
        ["Is this right: Grace, 1?"]
    );
    assert_eq!(
        reply_texts(&ask("f2", "de-DE", "nein").await),
        ["Not saved."]
    );

    // cancel at any step empties the stack.
    for steps in [&["form"][..], &["form", "Lin"], &["form", "Lin", "40"]] {
        for step in steps {
            ask("f3", "en-US", step).await;
        }
        assert_eq!(
            reply_texts(&ask("f3", "en-US", "cancel").await),
            ["Cancelled."]
        );
        assert_eq!(
            reply_texts(&ask("f3", "en-US", "cancel").await),
            ["Echo: cancel"]
        );
    }
    host.assert_no_panic();
}

/// Warm instances serve turns of different conversations one after
/// another: two forms interleaved turn by turn each keep their own step and
/// answers, so nothing per-turn survives in the instance, only in state.
#[tokio::test]
async fn interleaved_forms_on_warm_instances_keep_their_own_steps() {
    let pooled = "[instances]\npolicy = \"pooled\"\npool_size = 1\nmax_turns = 7\n";
    let host = Host::start(BotsDir::with_manifest("js-echo", "js-echo", pooled), &[]);
    let script = [
        ("a", "form", "What is your name?"),
        ("b", "form", "What is your name?"),
        ("a", "Ada", "How old are you?"),
        ("b", "Grace", "How old are you?"),
        (
            "b",
            "x",
            "Please enter your age as a number between 0 and 150.",
        ),
        ("a", "36", "Is this right: Ada, 36?"),
        ("b", "45", "Is this right: Grace, 45?"),
        ("a", "no", "Not saved."),
        ("b", "yes", "Saved: Grace, 45."),
        ("a", "form", "What is your name?"),
        ("b", "form", "What is your name?"),
        ("a", "cancel", "Cancelled."),
        ("b", "Lin", "How old are you?"),
    ];
    for (conversation, text, expected) in script {
        assert_eq!(
            reply_texts(&say(&host, conversation, "en-US", text).await),
            [expected],
            "{conversation}: {text}"
        );
    }
    host.assert_no_panic();
}

/// A Teams activity of `kind` in a team channel, shaped as the Teams
/// service sends it (Bot Framework Teams samples), with `fields` set.
fn teams(service_url: &str, kind: &str, fields: Value) -> Value {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut activity = json!({
        "type": kind,
        "id": format!("f:teams-{n}"),
        "timestamp": "2026-11-21T10:00:00.000Z",
        "localTimestamp": "2026-11-21T11:00:00.000+01:00",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:1a-user", "name": "Ada Lovelace", "aadObjectId": "6b5c-aad"},
        "recipient": {"id": "28:bot-app-id", "name": "Echo"},
        "conversation": {
            "isGroup": true,
            "conversationType": "channel",
            "tenantId": "72f9-tenant",
            "id": "19:channel@thread.tacv2;messageid=1700000000000"
        },
        "channelData": {
            "tenant": {"id": "72f9-tenant"},
            "team": {"id": "19:team@thread.tacv2", "name": "Engineering", "aadGroupId": "02ce-group"},
            "channel": {"id": "19:channel@thread.tacv2", "name": "General"},
            "source": {"name": "compose"}
        },
        "locale": "en-US"
    });
    for (key, value) in fields.as_object().unwrap() {
        if key == "channelData" {
            for (k, v) in value.as_object().unwrap() {
                activity["channelData"][k] = v.clone();
            }
        } else {
            activity[key] = value.clone();
        }
    }
    activity
}

#[tokio::test]
async fn js_echo_answers_teams_invokes_and_channel_events() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("js-echo", "js-echo")]), &[]);
    let url = host.url("/api/bots/js-echo/messages");
    let service_url = connector.service_url();
    let invoke = |name: &str, value: Value| {
        teams(
            &service_url,
            "invoke",
            json!({"name": name, "value": value}),
        )
    };

    // Universal actions: a refresh gets a new card.
    let refresh = invoke(
        "adaptiveCard/action",
        json!({"action": {"type": "Action.Execute", "verb": "refresh", "data": {}}, "trigger": "automatic"}),
    );
    let (status, body) = post_activity(&url, &refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(body["value"]["type"], "AdaptiveCard");
    assert_eq!(
        body["value"]["body"][0],
        json!({"type": "TextBlock", "text": "Refreshed by Ada Lovelace"})
    );
    // Not an Action.Execute: botbuilder's 400.
    let submit = invoke(
        "adaptiveCard/action",
        json!({"action": {"type": "Action.Submit", "verb": "refresh"}}),
    );
    let (status, body) = post_activity(&url, &submit).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["value"]["code"], "BadRequest");

    // Task modules.
    let fetch = invoke(
        "task/fetch",
        json!({"data": {"type": "task/fetch"}, "context": {"theme": "default"}}),
    );
    let (status, body) = post_activity(&url, &fetch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let task = &body["task"];
    assert_eq!(task["type"], "continue");
    assert_eq!(
        (
            &task["value"]["title"],
            &task["value"]["height"],
            &task["value"]["width"]
        ),
        (&json!("Form"), &json!(200), &json!(400))
    );
    assert_eq!(
        task["value"]["card"]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let submit = invoke(
        "task/submit",
        json!({"data": {"name": "Grace"}, "context": {"theme": "dark"}}),
    );
    let (status, body) = post_activity(&url, &submit).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"task": {"type": "message", "value": "Thanks, Grace"}})
        )
    );

    // Messaging extensions.
    let query = invoke(
        "composeExtension/query",
        json!({"commandId": "search", "parameters": [{"name": "query", "value": "wasm"}],
               "queryOptions": {"skip": 0, "count": 25}}),
    );
    let (status, body) = post_activity(&url, &query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = &body["composeExtension"];
    assert_eq!(
        (&result["type"], &result["attachmentLayout"]),
        (&json!("result"), &json!("list"))
    );
    let item = &result["attachments"][0];
    assert_eq!(item["contentType"], "application/vnd.microsoft.card.hero");
    assert_eq!(item["content"]["title"], "wasm");
    assert_eq!(item["preview"]["content"]["title"], "wasm");
    let action = invoke(
        "composeExtension/submitAction",
        json!({"commandId": "create", "commandContext": "compose", "data": {"title": "Launch"}}),
    );
    let (status, body) = post_activity(&url, &action).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["composeExtension"]["type"], "result");
    assert_eq!(body["composeExtension"]["attachmentLayout"], "list");
    assert_eq!(
        body["composeExtension"]["attachments"][0]["content"]["title"],
        "Launch"
    );

    // File consent: a reply through the connector, and 200.
    let before = connector.received().len();
    let accept = invoke(
        "fileConsent/invoke",
        json!({"type": "fileUpload", "action": "accept", "context": {"filename": "report.txt"},
               "uploadInfo": {"name": "report.txt", "uploadUrl": "https://upload.example/1",
                              "contentUrl": "https://files.example/report.txt", "uniqueId": "1", "fileType": "txt"}}),
    );
    assert_eq!(post_activity(&url, &accept).await.0, StatusCode::OK);
    let decline = invoke(
        "fileConsent/invoke",
        json!({"type": "fileUpload", "action": "decline", "context": {"filename": "notes.txt"}}),
    );
    assert_eq!(post_activity(&url, &decline).await.0, StatusCode::OK);
    let bogus = invoke(
        "fileConsent/invoke",
        json!({"type": "fileUpload", "action": "maybe"}),
    );
    assert_eq!(post_activity(&url, &bogus).await.0, StatusCode::BAD_REQUEST);

    // Channel and team events, and a message in the channel.
    for (event, channel, team) in [
        ("channelCreated", "Design", "Engineering"),
        ("channelRenamed", "Design Crit", "Engineering"),
        ("channelDeleted", "Design Crit", "Engineering"),
        ("teamRenamed", "General", "Platform"),
    ] {
        let update = teams(
            &service_url,
            "conversationUpdate",
            json!({"channelData": {"eventType": event,
                    "channel": {"id": "19:new@thread.tacv2", "name": channel},
                    "team": {"id": "19:team@thread.tacv2", "name": team}}}),
        );
        assert_eq!(
            post_activity(&url, &update).await.0,
            StatusCode::OK,
            "{event}"
        );
    }
    let hello = teams(&service_url, "message", json!({"text": "hi"}));
    assert_eq!(post_activity(&url, &hello).await.0, StatusCode::OK);

    let sent: Vec<String> = connector.received()[before..]
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        sent,
        [
            "File accepted: report.txt",
            "File declined: notes.txt",
            "Channel created: Design",
            "Channel renamed: Design Crit",
            "Channel deleted: Design Crit",
            "Team renamed: Platform",
            "Echo: hi",
        ]
    );
    host.assert_no_panic();
}
