//! The turn path: an activity in over HTTP, the echo bot takes the turn,
//! replies leave through the connector, the HTTP response or the invoke
//! response.

use axum::http::{Method, StatusCode};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

fn echo_host() -> Host {
    Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[])
}

/// A bot whose plain messages touch no state (misbehave: `ok: {text}`), so
/// its reply goes to the connector during the turn and a failed send fails
/// it. The echo example reads its dialog stack on every message, which
/// holds its sends back for the commit (the outbox posts them after).
fn plain_host(args: &[&str]) -> Host {
    Host::start(BotsDir::with(&[("echo", "misbehave")]), args)
}

#[tokio::test]
async fn echo_reply_is_posted_to_the_connector() {
    let connector = Connector::start().await;
    let host = plain_host(&[]);
    let incoming = message(&connector.service_url(), "hi");

    let (status, body) = post_activity(&host.url("/api/bots/echo/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::Null, "a normal turn answers with no body");

    let received = connector.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let reply = &received[0];
    assert_eq!(reply.method, Method::POST);
    assert_eq!(
        reply.path,
        format!(
            "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities/{}",
            encoded_id(&incoming)
        )
    );
    let body = &reply.body;
    assert_eq!(body["type"], "message");
    assert_eq!(body["text"], "ok: hi");
    assert_eq!(body["from"], incoming["recipient"]);
    assert_eq!(body["recipient"], incoming["from"]);
    assert_eq!(body["conversation"], incoming["conversation"]);
    assert_eq!(body["replyToId"], incoming["id"]);
    assert_eq!(body["channelId"], incoming["channelId"]);
    assert_eq!(body["serviceUrl"], incoming["serviceUrl"]);
    assert_eq!(body["locale"], incoming["locale"]);
    assert!(
        body.get("id").is_none(),
        "the reply must carry no id: {body}"
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn api_messages_serves_the_only_bot() {
    let connector = Connector::start().await;
    let host = echo_host();
    let (status, _) = post_activity(
        &host.url("/api/messages"),
        &message(&connector.service_url(), "x"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(connector.received()[0].body["text"], "Echo: x");
}

#[tokio::test]
async fn api_messages_needs_a_default_when_several_bots_are_loaded() {
    let connector = Connector::start().await;
    let bots = || BotsDir::with(&[("echo", "rust-echo"), ("other", "misbehave")]);
    let incoming = message(&connector.service_url(), "x");

    let host = Host::start(bots(), &[]);
    let (status, body) = post_activity(&host.url("/api/messages"), &incoming).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "BotNotFound");

    let host = Host::start(bots(), &["--default-bot", "other"]);
    let (status, _) = post_activity(&host.url("/api/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(connector.received()[0].body["text"], "ok: x");
}

#[tokio::test]
async fn expect_replies_returns_the_replies_and_posts_nothing() {
    let connector = Connector::start().await;
    let host = echo_host();
    let mut incoming = message(&connector.service_url(), "hello");
    incoming["deliveryMode"] = json!("expectReplies");

    let (status, body) = post_activity(&host.url("/api/bots/echo/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK);
    let activities = body["activities"].as_array().expect("activities array");
    assert_eq!(activities.len(), 1, "{body}");
    assert_eq!(activities[0]["text"], "Echo: hello");
    assert_eq!(activities[0]["recipient"], incoming["from"]);
    assert_eq!(activities[0]["replyToId"], incoming["id"]);
    assert!(connector.received().is_empty());
}

#[tokio::test]
async fn invoke_returns_the_bots_response_or_501() {
    let connector = Connector::start().await;
    let host = echo_host();
    let mut invoke = message(&connector.service_url(), "");
    invoke["type"] = json!("invoke");
    invoke["name"] = json!("echo/ping");

    let (status, body) = post_activity(&host.url("/api/bots/echo/messages"), &invoke).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"pong": true}));

    invoke["name"] = json!("echo/unknown");
    invoke["id"] = json!("another-invoke");
    let (status, body) = post_activity(&host.url("/api/bots/echo/messages"), &invoke).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_error(&body, "NotImplemented");
    assert!(connector.received().is_empty());
}

#[tokio::test]
async fn members_added_are_welcomed_but_not_the_bot() {
    let connector = Connector::start().await;
    let host = echo_host();
    let mut update = message(&connector.service_url(), "");
    update["type"] = json!("conversationUpdate");
    update.as_object_mut().unwrap().remove("text");
    update["membersAdded"] =
        json!([{"id": "bot-1", "name": "Echo"}, {"id": "user-2", "name": "Grace"}]);

    let (status, _) = post_activity(&host.url("/api/bots/echo/messages"), &update).await;
    assert_eq!(status, StatusCode::OK);
    let received = connector.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].body["text"], "Welcome, Grace!");

    update["membersAdded"] = json!([{"id": "bot-1", "name": "Echo"}]);
    let (status, _) = post_activity(&host.url("/api/bots/echo/messages"), &update).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        connector.received().len(),
        1,
        "no welcome for the bot itself"
    );
}

#[tokio::test]
async fn unknown_fields_survive_both_ways() {
    let connector = Connector::start().await;
    let host = echo_host();
    let mut incoming = message(&connector.service_url(), "fields");
    // Read by the bot from the unmodelled fields and put on its reply.
    incoming["echoExtra"] = json!({"nested": [1, "two", null, {"three": 3.5}]});
    // Unmodelled fields of a modelled object, carried into the reply's
    // recipient by the host.
    incoming["from"]["x-tenant-hint"] = json!({"region": "emea"});
    incoming["conversation"]["x-thread"] = json!(["t1"]);

    let (status, _) = post_activity(&host.url("/api/bots/echo/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK);
    let reply = &connector.received()[0].body;
    assert_eq!(reply["echoExtra"], incoming["echoExtra"]);
    assert_eq!(
        reply["recipient"]["x-tenant-hint"],
        json!({"region": "emea"})
    );
    assert_eq!(reply["conversation"]["x-thread"], json!(["t1"]));
}

#[tokio::test]
async fn unknown_activity_types_are_accepted() {
    let connector = Connector::start().await;
    let host = echo_host();
    let mut incoming = message(&connector.service_url(), "");
    incoming["type"] = json!("somethingNew");

    let (status, body) = post_activity(&host.url("/api/bots/echo/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::Null);
    // The host passes the type through; the bot's `on_unrecognized` answers.
    let received = connector.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["text"], "Unrecognized: somethingNew");
}

#[tokio::test]
async fn unknown_bot_is_404() {
    let host = echo_host();
    let (status, body) = post_activity(
        &host.url("/api/bots/nobody/messages"),
        &message("http://127.0.0.1:9/", "x"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "BotNotFound");
}

#[tokio::test]
async fn service_url_outside_the_allowlist_is_never_contacted() {
    let connector = Connector::start().await;
    // Only some other loopback port is allowed: the stand-in is not.
    let host = Host::start(
        BotsDir::with(&[("echo", "misbehave")]),
        &["--allowed-service-urls", "http://127.0.0.1:1/"],
    );
    let (status, body) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "hi"),
    )
    .await;
    // The bot fails its turn when it cannot reply.
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_error(&body, "BotError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ServiceUrlNotAllowed")
    );
    assert!(
        connector.received().is_empty(),
        "the connector was contacted"
    );
    assert!(
        host.wait_for_log("ServiceUrlNotAllowed").await,
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn transient_connector_failures_are_retried() {
    let connector = Connector::start().await;
    let host = plain_host(&[]);
    connector.fail_next(&[
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
    ]);

    let (status, _) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "again"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let received = connector.received();
    assert_eq!(
        received.len(),
        4,
        "three failures and one success: {received:?}"
    );
    assert!(received.iter().all(|r| r.body["text"] == "ok: again"));

    // Past the retries the bot sees the error, and its turn fails.
    connector.fail_next(&[StatusCode::BAD_GATEWAY; 4]);
    let (status, body) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "lost"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("502"),
        "{body}"
    );
    assert_eq!(connector.received().len(), 8, "bounded: four attempts");
}

#[tokio::test]
async fn retry_after_is_honoured_and_bounded() {
    let connector = Connector::start().await;
    // The retries take past the default 5 s early answer: this request
    // waits for its turn's end (long turns: tests/e2e/long_turns.rs).
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo")]),
        &["--ack-after-ms", "600000"],
    );
    connector.fail_next_with(vec![
        Failure::RetryAfter(StatusCode::TOO_MANY_REQUESTS, "1"),
        Failure::RetryAfterDate(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(2)),
        // An hour: more than a turn may wait; the client waits its bound.
        Failure::RetryAfter(StatusCode::TOO_MANY_REQUESTS, "3600"),
    ]);
    let (status, body) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "later"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = connector.received();
    assert_eq!(received.len(), 4, "three refusals, then the send");
    let gap = |i: usize| received[i + 1].at - received[i].at;
    // Lower bounds only: the backoff without Retry-After starts at 200 ms.
    assert!(
        gap(0) >= Duration::from_millis(950),
        "Retry-After: 1 → {:?}",
        gap(0)
    );
    // An HTTP date two seconds ahead, to the second: more than one second.
    assert!(
        gap(1) >= Duration::from_millis(950),
        "Retry-After date → {:?}",
        gap(1)
    );
    assert!(
        gap(2) >= Duration::from_millis(1950),
        "Retry-After: 3600 → {:?}",
        gap(2)
    );
    assert!(received.iter().all(|r| r.body["text"] == "Echo: later"));
}

#[tokio::test]
async fn a_reset_is_retried_and_a_hanging_connector_is_cut_by_the_turn_deadline() {
    let connector = Connector::start().await;
    let host = Host::start(
        BotsDir::with(&[("echo", "misbehave")]),
        &["--turn-deadline-ms", "2000"],
    );
    connector.fail_next_with(vec![Failure::Reset]);
    let (status, body) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "reset"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(connector.received().len(), 2, "the reset send was retried");

    connector.fail_next_with(vec![Failure::Hang; 4]);
    let (status, body) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "hang"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_error(&body, "TurnTimeout");

    // The host goes on serving once the connector answers again.
    connector.fail_next_with(Vec::new());
    let (status, _) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "back"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    host.assert_no_panic();
}

#[tokio::test]
async fn connector_errors_reach_the_bot() {
    let connector = Connector::start().await;
    let host = plain_host(&[]);
    connector.fail_next(&[StatusCode::FORBIDDEN]);
    let (status, body) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "x"),
    )
    .await;
    // Not retried: a 403 is not transient. The bot fails its turn.
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ServiceUnavailable"),
        "{body}"
    );
    assert_eq!(connector.received().len(), 1);
}

#[tokio::test]
async fn healthz_lists_the_bots() {
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo"), ("bad", "misbehave")]),
        &[],
    );
    let (status, body) = read(client().get(host.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["bots"], json!(["bad", "echo"]));
}

#[tokio::test]
async fn a_broken_wasm_file_is_skipped_and_the_host_still_serves() {
    let connector = Connector::start().await;
    let bots = BotsDir::with(&[("echo", "rust-echo")]);
    std::fs::write(bots.path().join("broken.wasm"), b"\0asm not really").unwrap();
    std::fs::write(bots.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let host = Host::start(bots, &["--default-bot", "echo"]);
    assert!(host.wait_for_log("bot skipped").await, "{}", host.log());
    let log = host.log();
    assert!(log.contains("broken") && log.contains("core"), "{log}");

    let (status, body) = post_activity(
        &host.url("/api/bots/broken/messages"),
        &message(&connector.service_url(), "x"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "BotNotFound");
    let (status, _) = post_activity(
        &host.url("/api/messages"),
        &message(&connector.service_url(), "x"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn update_and_delete_reach_the_connector() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("tester", "misbehave")]), &[]);
    let incoming = message(&connector.service_url(), "edit");
    let (status, body) = post_activity(&host.url("/api/bots/tester/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let received = connector.received();
    assert_eq!(received.len(), 3, "{received:?}");
    let conversation = "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities";
    // The stand-in answered the send with id `sent-1`.
    assert_eq!(received[0].method, Method::POST);
    assert_eq!(received[0].body["text"], "draft");
    assert_eq!(received[1].method, Method::PUT);
    assert_eq!(received[1].path, format!("{conversation}/sent-1"));
    assert_eq!(received[1].body["id"], "sent-1");
    assert_eq!(received[1].body["text"], "final");
    assert_eq!(received[1].body["recipient"], incoming["from"]);
    assert_eq!(received[2].method, Method::DELETE);
    assert_eq!(received[2].path, format!("{conversation}/sent-1"));
}
