//! Bot state through real bots: scopes, durability, isolation, quotas, and
//! concurrent writers that never lose an update.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

/// Posts `text` from `user` in `conversation`, under expectReplies; returns
/// the status and the first reply's text.
async fn say(
    host: &Host,
    bot: &str,
    conversation: &str,
    user: &str,
    text: &str,
) -> (StatusCode, Option<String>) {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["deliveryMode"] = json!("expectReplies");
    activity["conversation"]["id"] = json!(conversation);
    activity["from"]["id"] = json!(user);
    let (status, body) =
        post_activity(&host.url(&format!("/api/bots/{bot}/messages")), &activity).await;
    (
        status,
        body["activities"][0]["text"].as_str().map(str::to_owned),
    )
}

fn ok(text: &str) -> (StatusCode, Option<String>) {
    (StatusCode::OK, Some(text.to_owned()))
}

#[tokio::test]
async fn scopes_hold_what_a_bot_sets() {
    let host = Host::start(BotsDir::with(&[("s", "misbehave")]), &[]);
    // (conversation, user, what is said, the bot's answer), in order.
    let script = [
        (
            "c1",
            "u1",
            "state set conversation topic \"tea\"",
            "set topic",
        ),
        (
            "c1",
            "u1",
            "state set user name {\"first\":\"Ada\"}",
            "set name",
        ),
        ("c1", "u1", "state set private note [1,2]", "set note"),
        // Conversation state: every user of c1, no one in c2.
        ("c1", "u2", "state get conversation topic", "\"tea\""),
        ("c2", "u1", "state get conversation topic", "-"),
        // User state: u1 in any conversation.
        ("c2", "u1", "state get user name", "{\"first\":\"Ada\"}"),
        // Private state: u1 in c1 only.
        ("c1", "u1", "state get private note", "[1,2]"),
        ("c2", "u1", "state get private note", "-"),
        ("c1", "u2", "state get private note", "-"),
        ("c1", "u1", "state del conversation topic", "deleted topic"),
        ("c1", "u1", "state get conversation topic", "-"),
    ];
    for (conversation, user, text, answer) in script {
        assert_eq!(
            say(&host, "s", conversation, user, text).await,
            ok(answer),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_failed_turn_saves_nothing() {
    let host = Host::start(BotsDir::with(&[("s", "misbehave")]), &[]);
    let (status, _) = say(&host, "s", "c", "u", "state setfail conversation k 1").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        say(&host, "s", "c", "u", "state get conversation k").await,
        ok("-")
    );
    assert_eq!(
        say(&host, "s", "c", "u", "state set conversation bad {oops")
            .await
            .0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn state_survives_a_restart_and_bots_never_share_it() {
    let bots = BotsDir::with(&[("a", "misbehave"), ("b", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let host = Host::start_in(bots.path(), data.path(), &[]);
    assert_eq!(
        say(&host, "a", "c", "u", "state set user secret \"mine\"").await,
        ok("set secret")
    );
    assert_eq!(
        say(&host, "b", "c", "u", "state get user secret").await,
        ok("-")
    );
    drop(host);

    let host = Host::start_in(bots.path(), data.path(), &[]);
    assert_eq!(
        say(&host, "a", "c", "u", "state get user secret").await,
        ok("\"mine\"")
    );
    assert_eq!(
        say(&host, "b", "c", "u", "state get user secret").await,
        ok("-")
    );
}

#[tokio::test]
async fn quotas_give_the_bot_a_clear_error() {
    let bots = BotsDir::with(&[("q", "misbehave")]);
    std::fs::write(
        bots.path().join("q.toml"),
        "[state]\nmax_value_bytes = 40\nmax_total_bytes = 60\n",
    )
    .unwrap();
    let host = Host::start(bots, &[]);
    let mut activity = message(
        "http://127.0.0.1:9/",
        &format!("state set user big \"{}\"", "x".repeat(60)),
    );
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/q/messages"), &activity).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "BotError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("StateQuotaExceeded"),
        "{body}"
    );

    assert_eq!(
        say(
            &host,
            "q",
            "c",
            "u",
            &format!("state set user a \"{}\"", "1".repeat(30))
        )
        .await,
        ok("set a")
    );
    // Another scope's item pushes the bot's total over 60 bytes.
    let (status, _) = say(
        &host,
        "q",
        "c",
        "u",
        &format!("state set conversation b \"{}\"", "2".repeat(30)),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        say(&host, "q", "c", "u", "state get user a").await,
        ok(&format!("\"{}\"", "1".repeat(30)))
    );
}

#[tokio::test]
async fn concurrent_increments_lose_no_update() {
    let connector = Connector::start().await;
    let host = std::sync::Arc::new(Host::start(BotsDir::with(&[("count", "misbehave")]), &[]));
    let service_url = connector.service_url();
    let mut turns = Vec::new();
    for n in 0..20 {
        let mut activity = message(&service_url, "incr user counter 20");
        activity["conversation"]["id"] = json!(format!("conversation-{n}"));
        activity["from"]["id"] = json!("the-user");
        let url = host.url("/api/bots/count/messages");
        turns.push(tokio::spawn(
            async move { post_activity(&url, &activity).await },
        ));
    }
    let mut succeeded = 0;
    for turn in turns {
        let (status, body) = turn.await.unwrap();
        match status {
            StatusCode::OK => succeeded += 1,
            _ => {
                assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
                assert_error(&body, "StateConflict");
            }
        }
    }
    assert!(succeeded > 0);
    assert_eq!(
        say(&host, "count", "any", "the-user", "state get user counter").await,
        ok(&succeeded.to_string()),
        "the counter equals the turns answered 200"
    );
    // Only the committed attempts' replies were posted: one per success,
    // each with a distinct value.
    let mut replies: Vec<String> = connector
        .received()
        .iter()
        .map(|r| r.body["text"].as_str().unwrap().to_owned())
        .collect();
    replies.sort_by_key(|r| r.trim_start_matches("counter=").parse::<u32>().unwrap());
    let expected: Vec<String> = (1..=succeeded).map(|n| format!("counter={n}")).collect();
    assert_eq!(replies, expected);
    assert!(
        host.wait_for_log("state conflict; running the turn again")
            .await,
        "conflicts happened and were retried"
    );
}
