//! The Python SDK's dialogs and Teams layer (issue #24), through the real
//! host: botbuilder-dotnet's dialog transcripts replayed against
//! `dialogs-py` with `turnbox test`; guest-examples/README.md's dialog
//! scenario (the `form`) and Teams scenario against `python-echo`; and the
//! SDK's recogniser unit tests (tests/python/test_recognizers.py).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[test]
fn the_python_dialogs_replay_botbuilder_dotnets_transcripts() {
    crate::dialog_transcripts::replay_all("dialogs-py");
}

/// A host serving `python-echo` as `echo`, and a stand-in connector.
struct Chat {
    host: Host,
    connector: Connector,
}

impl Chat {
    async fn start(bots: BotsDir) -> Chat {
        let connector = Connector::start().await;
        Chat {
            host: Host::start(bots, &[]),
            connector,
        }
    }

    /// The texts the bot answers `text` with, in `conversation` (and
    /// `locale`), under `expectReplies`; and the replies themselves.
    async fn say(&self, conversation: &str, locale: &str, text: &str) -> (Vec<String>, Vec<Value>) {
        let mut activity = message(&self.connector.service_url(), text);
        activity["conversation"]["id"] = json!(conversation);
        activity["locale"] = json!(locale);
        activity["deliveryMode"] = json!("expectReplies");
        let (status, body) =
            post_activity(&self.host.url("/api/bots/echo/messages"), &activity).await;
        assert_eq!(status, StatusCode::OK, "{text}: {body}");
        let list = body["activities"].as_array().cloned().unwrap_or_default();
        let texts = list
            .iter()
            .filter_map(|a| a["text"].as_str().map(str::to_owned))
            .collect();
        (texts, list)
    }

    async fn texts(&self, conversation: &str, text: &str) -> Vec<String> {
        self.say(conversation, "en-US", text).await.0
    }
}

const AGE_RETRY: &str = "Please enter your age as a number between 0 and 150.";

/// The form, with two conversations interleaved on warm, recycled
/// instances: each keeps its own step, so nothing of a dialog lives in the
/// instance.
#[tokio::test]
async fn the_python_form_asks_validates_confirms_and_cancels() {
    let pooled = "[instances]\npolicy = \"pooled\"\npool_size = 1\nmax_turns = 3\n";
    let chat = Chat::start(BotsDir::with_manifest("echo", "python-echo", pooled)).await;
    assert_eq!(chat.texts("a", "form").await, ["What is your name?"]);
    assert_eq!(chat.texts("b", "form").await, ["What is your name?"]);
    assert_eq!(chat.texts("a", "Ada Lovelace").await, ["How old are you?"]);
    assert_eq!(chat.texts("b", "Grace").await, ["How old are you?"]);
    for not_an_age in ["old", "200", "-1", "36.5", "a hundred and fifty one"] {
        assert_eq!(
            chat.texts("a", not_an_age).await,
            [AGE_RETRY],
            "{not_an_age}"
        );
    }
    // "cancel" at the age: the stack is empty afterwards, the echo answers.
    assert_eq!(chat.texts("b", "cancel").await, ["Cancelled."]);
    assert_eq!(chat.texts("b", "how old?").await, ["Echo: how old?"]);

    let (texts, replies) = chat.say("a", "en-US", "36").await;
    assert_eq!(texts, ["Is this right: Ada Lovelace, 36?"]);
    assert_eq!(
        replies[0]["suggestedActions"]["actions"],
        json!([
            {"type": "imBack", "title": "Yes", "value": "Yes"},
            {"type": "imBack", "title": "No", "value": "No"}
        ])
    );
    assert_eq!(chat.texts("a", "Yes").await, ["Saved: Ada Lovelace, 36."]);
    assert_eq!(
        chat.texts("a", "count").await,
        ["Count: 1"],
        "the form has ended"
    );

    // No; cancel at the confirmation; cancel at the name.
    for (conversation, last, answer) in [("c", "no", "Not saved."), ("d", "cancel", "Cancelled.")] {
        assert_eq!(
            chat.texts(conversation, "form").await,
            ["What is your name?"]
        );
        assert_eq!(chat.texts(conversation, "Jo").await, ["How old are you?"]);
        assert_eq!(
            chat.texts(conversation, "twelve").await,
            ["Is this right: Jo, 12?"]
        );
        assert_eq!(
            chat.texts(conversation, "maybe").await,
            ["Is this right: Jo, 12?"]
        );
        assert_eq!(chat.texts(conversation, last).await, [answer]);
        assert_eq!(chat.texts(conversation, "hi").await, ["Echo: hi"]);
    }
    assert_eq!(chat.texts("e", "form").await, ["What is your name?"]);
    assert_eq!(chat.texts("e", "Cancel").await, ["Cancelled."]);
    assert_eq!(chat.texts("e", "Jo").await, ["Echo: Jo"]);
}

#[tokio::test]
async fn the_python_form_reads_numbers_in_the_activitys_locale() {
    let chat = Chat::start(BotsDir::with(&[("echo", "python-echo")])).await;
    for (conversation, locale, age, answer) in [
        ("de", "de-DE", "42,0", "Is this right: Jo, 42?"),
        ("us", "en-US", "42,0", AGE_RETRY),
        ("us2", "en-US", "1,234", AGE_RETRY),
        ("us3", "en-US", "forty-two", "Is this right: Jo, 42?"),
    ] {
        let say = |text: &'static str| chat.say(conversation, locale, text);
        assert_eq!(say("form").await.0, ["What is your name?"]);
        assert_eq!(say("Jo").await.0, ["How old are you?"]);
        assert_eq!(say(age).await.0, [answer], "{locale} {age}");
        assert_eq!(say("cancel").await.0, ["Cancelled."]);
    }
}

/// Two answers to the same step at once, on one host: it runs the two
/// turns one after the other, so the second meets the next step. (Turns
/// re-run after a real state conflict, on two hosts sharing PostgreSQL:
/// `dialog_conflicts.rs`.)
#[tokio::test]
async fn concurrent_answers_to_one_step_meet_the_committed_step() {
    let chat = std::sync::Arc::new(Chat::start(BotsDir::with(&[("echo", "python-echo")])).await);
    assert_eq!(chat.texts("race", "form").await, ["What is your name?"]);
    let spawn = |name: &'static str| {
        let chat = chat.clone();
        tokio::spawn(async move { (name, chat.texts("race", name).await) })
    };
    let (first, second) = (spawn("Ann"), spawn("Bob"));
    let answers = [first.await.unwrap(), second.await.unwrap()];
    let named: Vec<_> = answers
        .iter()
        .filter(|(_, texts)| texts == &["How old are you?"])
        .collect();
    let retried = answers
        .iter()
        .filter(|(_, texts)| texts == &[AGE_RETRY])
        .count();
    assert_eq!((named.len(), retried), (1, 1), "{answers:?}");
    let winner = named[0].0;
    assert_eq!(
        chat.texts("race", "30").await,
        [format!("Is this right: {winner}, 30?")]
    );
}

/// An activity from Teams (shaped as the service sends them, after
/// botbuilder-python's tests and the Teams samples) in a team channel.
fn teams(service_url: &str, kind: &str, fields: Value) -> Value {
    let mut activity = message(service_url, "");
    activity.as_object_mut().unwrap().remove("text");
    activity["type"] = json!(kind);
    activity["channelId"] = json!("msteams");
    activity["from"] = json!({"id": "29:1Ab", "name": "Megan Bowen", "aadObjectId": "6b7f-aad"});
    activity["recipient"] = json!({"id": "28:bot-app-id", "name": "Echo"});
    activity["conversation"] = json!({
        "isGroup": true, "conversationType": "channel", "tenantId": "tenant-1",
        "id": "19:general@thread.tacv2;messageid=1700000000000"
    });
    activity["channelData"] = json!({
        "teamsChannelId": "19:general@thread.tacv2", "teamsTeamId": "19:team@thread.tacv2",
        "channel": {"id": "19:general@thread.tacv2"},
        "team": {"id": "19:team@thread.tacv2"},
        "tenant": {"id": "tenant-1"}
    });
    for (key, value) in fields.as_object().unwrap() {
        activity[key] = value.clone();
    }
    activity
}

#[tokio::test]
async fn the_python_teams_handler_answers_teams_invokes_and_events() {
    let chat = Chat::start(BotsDir::with(&[("echo", "python-echo")])).await;
    let service_url = chat.connector.service_url();
    let url = chat.host.url("/api/bots/echo/messages");
    let invoke = |name: &str, value: Value| {
        teams(
            &service_url,
            "invoke",
            json!({"name": name, "value": value}),
        )
    };

    let (status, body) = post_activity(
        &url,
        &invoke(
            "adaptiveCard/action",
            json!({
                "action": {"type": "Action.Execute", "verb": "refresh", "data": {}},
                "trigger": "automatic"
            }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(body["value"]["type"], "AdaptiveCard");
    assert_eq!(body["value"]["body"][0]["text"], "Refreshed by Megan Bowen");

    let (status, body) = post_activity(
        &url,
        &invoke(
            "task/fetch",
            json!({
                "data": {"type": "task/fetch"}, "context": {"theme": "default"}
            }),
        ),
    )
    .await;
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
    assert_eq!(task["value"]["card"]["content"]["type"], "AdaptiveCard");

    let (status, body) = post_activity(
        &url,
        &invoke(
            "task/submit",
            json!({
                "data": {"name": "Megan"}, "context": {"theme": "dark"}
            }),
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"task": {"type": "message", "value": "Thanks, Megan"}})
        )
    );

    let (status, body) = post_activity(
        &url,
        &invoke(
            "composeExtension/query",
            json!({
                "commandId": "search",
                "parameters": [{"name": "query", "value": "turnbox"}],
                "queryOptions": {"skip": 0, "count": 25}
            }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = &body["composeExtension"];
    assert_eq!(
        (&result["type"], &result["attachmentLayout"]),
        (&json!("result"), &json!("list"))
    );
    let found = result["attachments"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]["contentType"],
        "application/vnd.microsoft.card.hero"
    );
    assert_eq!(found[0]["content"]["title"], "turnbox");
    assert_eq!(found[0]["preview"]["content"]["title"], "turnbox");

    let (status, body) = post_activity(
        &url,
        &invoke(
            "composeExtension/submitAction",
            json!({
                "commandId": "create", "commandContext": "compose",
                "data": {"title": "Plan"}, "context": {"theme": "default"}
            }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["composeExtension"]["type"], "result");
    assert_eq!(body["composeExtension"]["attachmentLayout"], "list");
    assert_eq!(
        body["composeExtension"]["attachments"][0]["content"]["title"],
        "Plan"
    );

    for (action, said) in [
        ("accept", "File accepted: report.txt"),
        ("decline", "File declined: report.txt"),
    ] {
        let before = chat.connector.received().len();
        let (status, _) = post_activity(&url, &invoke("fileConsent/invoke", json!({
            "type": "fileUpload", "action": action,
            "uploadInfo": {
                "contentUrl": "https://contoso.sharepoint.com/report.txt", "name": "report.txt",
                "uploadUrl": "https://upload.example/session", "uniqueId": "1150D938", "fileType": "txt"
            },
            "context": {"filename": "report.txt"}
        }))).await;
        assert_eq!(status, StatusCode::OK, "{action}");
        let sent = chat.connector.received();
        assert_eq!(sent.len(), before + 1, "{action}");
        assert_eq!(sent[before].body["text"], said);
    }

    // A Teams invoke the bot does not handle, and the echo bot's own.
    let (status, _) = post_activity(
        &url,
        &invoke("composeExtension/query", json!({"commandId": "other"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    let (status, body) = post_activity(&url, &invoke("echo/ping", json!({}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"pong": true})));

    // Channel and team events from channelData.eventType.
    let update = |data: Value| {
        let mut activity = teams(&service_url, "conversationUpdate", json!({}));
        for (key, value) in data.as_object().unwrap() {
            activity["channelData"][key] = value.clone();
        }
        activity["deliveryMode"] = json!("expectReplies");
        activity
    };
    for (event, data, said) in [
        (
            "channelCreated",
            json!({"channel": {"id": "19:new@thread.tacv2", "name": "Design"}}),
            "Channel created: Design",
        ),
        (
            "channelRenamed",
            json!({"channel": {"id": "19:new@thread.tacv2", "name": "Design 2"}}),
            "Channel renamed: Design 2",
        ),
        (
            "channelDeleted",
            json!({"channel": {"id": "19:new@thread.tacv2", "name": "Design 2"}}),
            "Channel deleted: Design 2",
        ),
        (
            "teamRenamed",
            json!({"team": {"id": "19:team@thread.tacv2", "name": "Turnbox crew"}}),
            "Team renamed: Turnbox crew",
        ),
    ] {
        let mut data = data;
        data["eventType"] = json!(event);
        let (status, body) = post_activity(&url, &update(data)).await;
        assert_eq!(status, StatusCode::OK, "{event}: {body}");
        assert_eq!(body["activities"][0]["text"], said, "{event}: {body}");
        assert_eq!(
            body["activities"].as_array().unwrap().len(),
            1,
            "{event}: {body}"
        );
    }

    // A message in the team channel: as anywhere else.
    let mut hello = teams(
        &service_url,
        "message",
        json!({"text": "hi", "deliveryMode": "expectReplies"}),
    );
    hello["id"] = json!("1700000000001");
    let (status, body) = post_activity(&url, &hello).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activities"][0]["text"], "Echo: hi");
}

#[test]
fn the_python_recognizer_unit_tests_pass() {
    let output = std::process::Command::new("python3")
        .arg("-B") // no __pycache__ in sdk/python: it would look like a source change
        .arg(root().join("tests/python/test_recognizers.py"))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
