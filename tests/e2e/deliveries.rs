//! Duplicate deliveries: a channel re-sends an activity it got no answer to
//! in time. The duplicate gets the first answer and the turn does not run
//! again; a failed turn is not remembered, so its retry runs.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// `text` under `expectReplies` in conversation `conversation`, with `id`.
fn delivery(id: &str, conversation: &str, text: &str) -> Value {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["id"] = json!(id);
    activity["conversation"]["id"] = json!(conversation);
    activity["deliveryMode"] = json!("expectReplies");
    activity
}

async fn post(host: &Host, bot: &str, activity: &Value) -> (StatusCode, Value) {
    post_activity(&host.url(&format!("/api/bots/{bot}/messages")), activity).await
}

fn first_text(body: &Value) -> &str {
    body["activities"][0]["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_duplicate_gets_the_first_answer_without_a_second_turn() {
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let first = post(&host, "echo", &delivery("d1", "c1", "count")).await;
    assert_eq!(
        (first.0, first_text(&first.1)),
        (StatusCode::OK, "Count: 1")
    );
    let again = post(&host, "echo", &delivery("d1", "c1", "count")).await;
    assert_eq!(again, first, "the duplicate gets the first answer");
    assert!(
        host.wait_for_log("duplicate delivery").await,
        "{}",
        host.log()
    );
    // The state moved once: the next new activity counts 2.
    let next = post(&host, "echo", &delivery("d2", "c1", "count")).await;
    assert_eq!(first_text(&next.1), "Count: 2");
    // The same id in another conversation is another activity.
    let elsewhere = post(&host, "echo", &delivery("d1", "c2", "count")).await;
    assert_eq!(first_text(&elsewhere.1), "Count: 1");
    let status = host.bot_status("echo").await.unwrap();
    assert_eq!(status["turns"]["ok"], 3, "{status}");
}

#[tokio::test]
async fn concurrent_duplicates_run_one_turn() {
    let host = Host::start(BotsDir::with(&[("bad", "misbehave")]), &[]);
    // The original takes a while; the re-delivery arrives meanwhile and
    // waits its turn behind it.
    let original = delivery("slow-1", "c1", "incr conversation n 400");
    let (a, b) = tokio::join!(post(&host, "bad", &original), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        post(&host, "bad", &original).await
    });
    assert_eq!(a.0, StatusCode::OK, "{}", host.log());
    assert_eq!(first_text(&a.1), "n=1");
    assert_eq!(b, a);
    let next = post(
        &host,
        "bad",
        &delivery("slow-2", "c1", "incr conversation n"),
    )
    .await;
    assert_eq!(first_text(&next.1), "n=2");
}

#[tokio::test]
async fn a_duplicate_in_normal_mode_posts_no_second_reply() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let incoming = message(&connector.service_url(), "hi");
    for _ in 0..3 {
        let (status, _) = post(&host, "echo", &incoming).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        connector.received().len(),
        1,
        "one reply for three deliveries"
    );
}

#[tokio::test]
async fn a_failed_turn_is_not_remembered() {
    let host = Host::start(BotsDir::with(&[("bad", "misbehave")]), &[]);
    let failing = delivery("f1", "c1", "fail");
    for _ in 0..2 {
        let (status, body) = post(&host, "bad", &failing).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_error(&body, "BotError");
    }
    let status = host.bot_status("bad").await.unwrap();
    assert_eq!(status["turns"]["failed"], 2, "the retry ran: {status}");
}

#[tokio::test]
async fn a_zero_window_turns_de_duplication_off() {
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo")]),
        &["--dedup-window-secs", "0"],
    );
    for expected in ["Count: 1", "Count: 2"] {
        let (_, body) = post(&host, "echo", &delivery("same", "c1", "count")).await;
        assert_eq!(first_text(&body), expected);
    }
}
