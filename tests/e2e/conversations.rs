//! Middleware built-ins (typing, transcripts), the transcript API with its
//! admin protection, and proactive messages.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

fn bots_with(manifest: &str) -> BotsDir {
    let bots = BotsDir::with(&[("bot", "misbehave")]);
    std::fs::write(bots.path().join("bot.toml"), manifest).unwrap();
    bots
}

#[tokio::test]
async fn a_slow_turn_shows_typing() {
    let connector = Connector::start().await;
    let host = Host::start(bots_with("[middleware]\ntyping = true\n"), &[]);
    let (status, _) = post_activity(
        &host.url("/api/bots/bot/messages"),
        &message(&connector.service_url(), "sleep 1500"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let received = connector.received();
    let types: Vec<&str> = received
        .iter()
        .map(|r| r.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"typing"), "{types:?}");
    assert_eq!(types.last(), Some(&"message"));
    assert_eq!(received[0].body["recipient"]["id"], "user-1");

    // A quick turn shows none; nor does a bot without the switch.
    let (status, _) = post_activity(
        &host.url("/api/bots/bot/messages"),
        &message(&connector.service_url(), "quick"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(connector.received().len(), received.len() + 1);
}

async fn get_json(url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn the_transcript_api_lists_what_happened() {
    let connector = Connector::start().await;
    let host = Host::start(
        bots_with("[middleware]\ntranscript = true\n"),
        &["--admin-token", "let-me-in"],
    );
    let service_url = connector.service_url();
    for (conversation, text) in [("older", "first"), ("newer", "edit"), ("newer", "again")] {
        let mut activity = message(&service_url, text);
        activity["conversation"]["id"] = json!(conversation);
        let (status, _) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
        assert_eq!(status, StatusCode::OK);
    }

    let url = host.url("/api/bots/bot/conversations");
    assert_eq!(get_json(&url, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_json(&url, Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = get_json(&url, Some("let-me-in")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["newer", "older"], "newest first");

    let (_, first_page) = get_json(&format!("{url}?limit=1"), Some("let-me-in")).await;
    assert_eq!(first_page["conversations"].as_array().unwrap().len(), 1);
    let token = first_page["continuationToken"]
        .as_str()
        .expect("more pages");
    let (_, second_page) = get_json(
        &format!("{url}?limit=1&continuationToken={token}"),
        Some("let-me-in"),
    )
    .await;
    assert_eq!(second_page["conversations"][0]["id"], "older");

    let (status, body) = get_json(
        &host.url("/api/bots/bot/conversations/newer/activities"),
        Some("let-me-in"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let activities = body["activities"].as_array().unwrap();
    let summary: Vec<String> = activities
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["type"].as_str().unwrap(),
                a["text"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "message edit",
            "message draft",
            "messageUpdate final",
            "messageDelete ",
            "message again",
            "message ok: again"
        ]
    );
    assert!(
        activities.iter().all(|a| a["timestamp"].is_string()),
        "timestamps are stamped"
    );
    // The stand-in numbers ids by request: the older conversation's reply
    // was `sent-1`, the draft `sent-2`.
    assert_eq!(
        activities[3]["id"], "sent-2",
        "the delete names the deleted activity"
    );
}

#[tokio::test]
async fn without_an_admin_token_only_loopback_callers_get_in() {
    let host = Host::start(bots_with("[middleware]\ntranscript = true\n"), &[]);
    let (status, body) = get_json(&host.url("/api/bots/bot/conversations"), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a loopback caller is let in: {body}"
    );
    assert_eq!(body["conversations"], json!([]));
    let (status, body) = get_json(&host.url("/api/bots/nobody/conversations"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "BotNotFound");
}

#[tokio::test]
async fn a_proactive_message_reaches_the_conversation() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("bot", "misbehave")]), &[]);
    let service_url = connector.service_url();
    let (status, _) = post_activity(
        &host.url("/api/bots/bot/messages"),
        &message(&service_url, "hello"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let response = client()
        .post(host.url("/api/bots/bot/proactive"))
        .json(&json!({"conversationId": "a:conv;messageid=7", "value": {"reason": "reminder"}}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = connector.received();
    assert_eq!(received.len(), 2);
    let proactive = &received[1];
    assert_eq!(proactive.method, Method::POST);
    assert!(
        proactive
            .path
            .starts_with("/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities"),
        "{}",
        proactive.path
    );
    assert_eq!(
        proactive.body["text"],
        "event ContinueConversation value={\"reason\":\"reminder\"}"
    );
    assert_eq!(proactive.body["recipient"]["id"], "user-1");
    assert_eq!(proactive.body["from"]["id"], "bot-1");

    let response = client()
        .post(host.url("/api/bots/bot/proactive"))
        .json(&json!({"conversationId": "never-seen"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "ConversationNotFound");
}

/// A graceful shutdown waits, within its grace, for a timer's turn under
/// way: the turn finishes and commits, and the timer does not fire again at
/// the next start.
#[tokio::test]
async fn a_timer_turn_under_way_at_shutdown_finishes_and_does_not_fire_again() {
    let bots = BotsDir::with(&[("bot", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let connector = Connector::start().await;
    let mut host = Host::start_in(bots.path(), data.path(), &[]);
    // The bot naps a second in the `nap` timer's turn.
    let (status, body) = post_activity(
        &host.url("/api/bots/bot/messages"),
        &message(&connector.service_url(), "timer nap 100"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        host.wait_for_log("activity_type=\"timer\"").await,
        "{}",
        host.log()
    );
    let status = host.terminate().await.expect("the host stops");
    assert!(status.success(), "{}", host.log());
    let naps = |connector: &Connector| {
        connector
            .received()
            .iter()
            .filter(|r| r.body["text"] == "event nap value=\"nap\"")
            .count()
    };
    assert_eq!(
        naps(&connector),
        1,
        "the timer's turn finished before the exit"
    );
    drop(host);

    let host = Host::start_in(bots.path(), data.path(), &[]);
    // A second fire would be claimed within 200 ms and nap 1 s.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(naps(&connector), 1, "and did not fire again");
    host.assert_no_panic();
}

#[tokio::test]
async fn a_timer_fires_once_after_a_restart() {
    let connector = Connector::start().await;
    let bots = BotsDir::with(&[("bot", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let host = Host::start_in(bots.path(), data.path(), &[]);
    let service_url = connector.service_url();
    let (status, _) = post_activity(
        &host.url("/api/bots/bot/messages"),
        &message(&service_url, "timer2 wake-up 2500 never 1500"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        connector.received()[0].body["text"],
        "scheduled wake-up, cancelled never: true"
    );
    // The host stops before the timer is due…
    drop(host);

    // …and a new one fires it.
    let host = Host::start_in(bots.path(), data.path(), &[]);
    eventually("the timer fires", || async {
        connector.received().len() >= 2
    })
    .await;
    let fired = &connector.received()[1];
    assert_eq!(fired.body["text"], "event wake-up value=-");
    assert!(
        fired
            .path
            .starts_with("/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities")
    );
    assert!(host.wait_for_log("timer fired").await);
    // The cancelled timer was due earlier and never fired; the fired one
    // does not fire again.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(connector.received().len(), 2, "{:?}", connector.received());
}

fn replay(bot: &std::path::Path, transcript: &std::path::Path) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_turnbox"))
        .arg("test")
        .arg(bot)
        .arg(transcript)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run turnbox test");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn turnbox_test_replays_a_transcript() {
    let bot = guest("rust-echo");
    let good = root().join("guest-examples/rust-echo/echo.transcript");
    let (code, out) = replay(&bot, &good);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("3 turns replayed, 3 replies compared, 0 mismatches"),
        "{out}"
    );

    let wrong = root().join("tests/fixtures/echo-wrong.transcript");
    let (code, out) = replay(&bot, &wrong);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("turn 2, reply 1: text:\n    - Echo: HELLO\n    + Echo: hello"),
        "{out}"
    );
    assert!(
        out.contains("turn 3, reply 2: expected a message \"Echo: one more\", got nothing"),
        "{out}"
    );
    assert!(out.contains("2 mismatches"), "{out}");
}

#[tokio::test]
async fn create_conversation_reaches_the_connector() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("bot", "misbehave")]), &[]);
    let (status, body) = post_activity(
        &host.url("/api/bots/bot/messages"),
        &message(&connector.service_url(), "newconv"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = connector.received();
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!(received[0].method, Method::POST);
    assert_eq!(received[0].path, "/v3/conversations");
    assert_eq!(received[0].body["members"], json!([{"id": "user-1"}]));
    assert_eq!(
        received[0].body["bot"]["id"], "bot-1",
        "the bot defaults to this turn's"
    );
    // The stand-in named the new conversation `sent-1`.
    assert_eq!(received[1].path, "/v3/conversations/sent-1/activities");
    assert_eq!(received[1].body["text"], "hello new");
    assert_eq!(received[1].body["conversation"]["id"], "sent-1");
    assert!(received[1].body.get("replyToId").is_none());
    assert_eq!(received[2].body["text"], "created sent-1");
}
