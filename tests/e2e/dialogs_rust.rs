//! The Rust SDK's dialogs and Teams layer through the real host: the
//! dialog test bot `dialogs-rs` replays botbuilder-dotnet's dialog
//! transcripts (`tests/fixtures/dialogs/`) with `turnbox test`, and
//! `rust-echo` plays guest-examples/README.md's dialog and Teams scenarios.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[test]
fn the_rust_sdk_replays_botbuilders_dialog_transcripts() {
    crate::dialog_transcripts::replay_all("dialogs-rs");
}

/// Posts `activity` to `bot` under `expectReplies`: the status and replies.
async fn replies(host: &Host, bot: &str, activity: &Value) -> (StatusCode, Vec<Value>) {
    let mut activity = activity.clone();
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) =
        post_activity(&host.url(&format!("/api/bots/{bot}/messages")), &activity).await;
    (
        status,
        body["activities"].as_array().cloned().unwrap_or_default(),
    )
}

/// A user of `conversation` saying `text` in `locale`: the reply texts.
async fn say(host: &Host, conversation: &str, locale: &str, text: &str) -> Vec<String> {
    let (status, list) = replies(host, "echo", &said(conversation, locale, text)).await;
    assert_eq!(status, StatusCode::OK, "{text}: {list:?}");
    list.iter()
        .filter_map(|a| a["text"].as_str().map(str::to_owned))
        .collect()
}

fn said(conversation: &str, locale: &str, text: &str) -> Value {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["conversation"]["id"] = json!(conversation);
    activity["locale"] = json!(locale);
    activity
}

#[tokio::test]
async fn rust_echo_runs_the_form_dialog() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let c = "form-1";
    assert_eq!(say(&host, c, "en-US", "form").await, ["What is your name?"]);
    assert_eq!(say(&host, c, "en-US", "Ada").await, ["How old are you?"]);
    let retry = "Please enter your age as a number between 0 and 150.";
    assert_eq!(say(&host, c, "en-US", "old enough").await, [retry]);
    assert_eq!(say(&host, c, "en-US", "151").await, [retry]);
    assert_eq!(say(&host, c, "en-US", "4.5").await, [retry]);
    // While the form runs, commands of the echo table are answers.
    assert_eq!(say(&host, c, "en-US", "count").await, [retry]);
    let (_, list) = replies(&host, "echo", &said(c, "en-US", "I am 42")).await;
    assert_eq!(reply_texts(&list), ["Is this right: Ada, 42?"]);
    let actions = &list[0]["suggestedActions"]["actions"];
    assert_eq!(actions[0]["title"], "Yes");
    assert_eq!(actions[0]["type"], "imBack");
    assert_eq!(actions[1]["value"], "No");
    assert_eq!(say(&host, c, "en-US", "yes").await, ["Saved: Ada, 42."]);
    // The form is over: the echo table again.
    assert_eq!(say(&host, c, "en-US", "hello").await, ["Echo: hello"]);

    // "No", and a German age: "1.000" is a thousand in de-DE (retried),
    // "1.000" in en-US is one.
    let c = "form-2";
    say(&host, c, "de-DE", "form").await;
    say(&host, c, "de-DE", "Bo").await;
    assert_eq!(say(&host, c, "de-DE", "1.000").await, [retry]);
    assert_eq!(
        say(&host, c, "en-US", "1.000").await,
        ["Is this right: Bo, 1?"]
    );
    assert_eq!(say(&host, c, "en-US", "nope").await, ["Not saved."]);

    // "cancel" at any step.
    let c = "form-3";
    say(&host, c, "en-US", "form").await;
    assert_eq!(say(&host, c, "en-US", "Cy").await, ["How old are you?"]);
    assert_eq!(say(&host, c, "en-US", "cancel").await, ["Cancelled."]);
    assert_eq!(say(&host, c, "en-US", "count").await, ["Count: 1"]);
    host.assert_no_panic();
}

/// Two answers to the same prompt at once in one conversation, on one
/// host: it runs the two turns one after the other, so the second finds the
/// confirm step and asks it again. No answer is applied twice, and the
/// saved age is the first turn's. One host never lets them conflict: turns
/// re-run after a real state conflict, on two hosts sharing PostgreSQL, are
/// `dialog_conflicts.rs`'s.
#[tokio::test]
async fn concurrent_answers_to_one_step_end_at_the_committed_step() {
    let host = std::sync::Arc::new(Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]));
    let c = "form-conflict";
    say(&host, c, "en-US", "form").await;
    say(&host, c, "en-US", "Di").await;
    let mut turns = Vec::new();
    for age in ["30", "40"] {
        let host = host.clone();
        turns.push(tokio::spawn(async move {
            replies(&host, "echo", &said(c, "en-US", age)).await
        }));
    }
    let mut answers = Vec::new();
    for turn in turns {
        let (status, list) = turn.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{list:?}");
        answers.push(reply_texts(&list).join("|"));
    }
    // Both turns end at the confirm step, for the age that was committed
    // first: the later turn saw the confirm prompt and asked again.
    assert_eq!(answers[0], answers[1], "{answers:?}");
    let age = if answers[0] == "Is this right: Di, 30?" {
        30
    } else {
        40
    };
    assert_eq!(answers[0], format!("Is this right: Di, {age}?"));
    assert_eq!(
        say(&host, c, "en-US", "yes").await,
        [format!("Saved: Di, {age}.")]
    );
}

/// A Teams activity of `kind` in a team channel, shaped as the Teams
/// service sends it (botbuilder-js's teamsActivityHandler tests).
fn teams(kind: &str, fields: Value) -> Value {
    let mut activity = message("http://127.0.0.1:9/", "");
    activity["type"] = json!(kind);
    activity["channelId"] = json!("msteams");
    activity["from"] = json!({"id": "29:user-1", "name": "Ada", "aadObjectId": "aad-1"});
    activity["recipient"] = json!({"id": "28:bot-1", "name": "Echo"});
    activity["conversation"] = json!({"id": "19:general@thread.skype", "conversationType": "channel", "tenantId": "tenant-1", "isGroup": true});
    activity["channelData"] = json!({
        "tenant": {"id": "tenant-1"},
        "team": {"id": "19:team@thread.skype", "name": "Team A"},
        "channel": {"id": "19:general@thread.skype", "name": "General"},
    });
    activity.as_object_mut().unwrap().remove("text");
    for (key, value) in fields.as_object().unwrap() {
        activity[key] = value.clone();
    }
    activity
}

async fn invoke(host: &Host, name: &str, value: Value) -> (StatusCode, Value) {
    let activity = teams("invoke", json!({"name": name, "value": value}));
    post_activity(&host.url("/api/bots/echo/messages"), &activity).await
}

#[tokio::test]
async fn rust_echo_plays_the_teams_scenario() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let (status, body) = invoke(
        &host,
        "adaptiveCard/action",
        json!({
            "action": {"type": "Action.Execute", "verb": "refresh", "data": {}},
            "trigger": "automatic",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(body["value"]["body"][0]["text"], "Refreshed by Ada");

    let (status, body) = invoke(
        &host,
        "task/fetch",
        json!({"data": {"type": "task/fetch"}, "context": {"theme": "default"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
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
    assert_eq!(task["value"]["card"]["content"]["type"], "AdaptiveCard");

    let (status, body) = invoke(&host, "task/submit", json!({"data": {"name": "Grace"}})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"task": {"type": "message", "value": "Thanks, Grace"}})
        )
    );

    let (status, body) = invoke(
        &host,
        "composeExtension/query",
        json!({
            "commandId": "search",
            "parameters": [{"name": "query", "value": "turnbox"}],
            "queryOptions": {"skip": 0, "count": 25},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let result = &body["composeExtension"];
    assert_eq!(
        (&result["type"], &result["attachmentLayout"]),
        (&json!("result"), &json!("list"))
    );
    assert_eq!(
        result["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.hero"
    );
    assert_eq!(result["attachments"][0]["content"]["title"], "turnbox");
    assert_eq!(
        result["attachments"][0]["preview"]["content"]["title"],
        "turnbox"
    );

    let (status, body) = invoke(
        &host,
        "composeExtension/submitAction",
        json!({
            "commandId": "create", "commandContext": "compose", "data": {"title": "New item"},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["composeExtension"]["attachments"][0]["content"]["title"],
        "New item"
    );

    // A command the bot does not have: 501; a malformed value: 400.
    let (status, _) = invoke(
        &host,
        "composeExtension/submitAction",
        json!({"commandId": "other"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    let (status, _) = invoke(&host, "task/submit", json!("not an object")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    for (action, value, expected) in [
        (
            "accept",
            json!({"action": "accept", "context": {"filename": "a.txt"}, "uploadInfo": {"name": "a.txt", "uploadUrl": "https://upload.example/a", "contentUrl": "https://content.example/a", "uniqueId": "u1", "fileType": "txt"}}),
            "File accepted: a.txt",
        ),
        (
            "decline",
            json!({"action": "decline", "context": {"filename": "b.txt"}}),
            "File declined: b.txt",
        ),
    ] {
        let mut activity = teams(
            "invoke",
            json!({"name": "fileConsent/invoke", "value": value}),
        );
        activity["deliveryMode"] = json!("expectReplies");
        let (status, body) = post_activity(&host.url("/api/bots/echo/messages"), &activity).await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
        assert_eq!(
            reply_texts(body["activities"].as_array().unwrap()),
            [expected],
            "{action}"
        );
    }

    for (event, expected) in [
        ("channelCreated", "Channel created: General"),
        ("channelRenamed", "Channel renamed: General"),
        ("channelDeleted", "Channel deleted: General"),
        ("teamRenamed", "Team renamed: Team A"),
    ] {
        let mut activity = teams("conversationUpdate", json!({}));
        activity["channelData"]["eventType"] = json!(event);
        let (_, list) = replies(&host, "echo", &activity).await;
        assert_eq!(reply_texts(&list), [expected], "{event}");
    }

    // A message in a team channel: the echo table.
    let (_, list) = replies(&host, "echo", &teams("message", json!({"text": "hello"}))).await;
    assert_eq!(reply_texts(&list), ["Echo: hello"]);
    host.assert_no_panic();
}
