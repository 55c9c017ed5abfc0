//! The turn context's JSON-text forms, `activity-json`, `send-json` and
//! `update-json` (what the JavaScript SDK uses): the incoming activity
//! arrives whole, sends are completed as record sends are, and text that is
//! not an activity is refused with `BadArgument` while the turn goes on.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

fn json_host() -> Host {
    Host::start(BotsDir::with(&[("json", "misbehave")]), &[])
}

/// Posts `text` to the bot under `expectReplies`; returns the replies.
async fn ask(host: &Host, service_url: &str, text: &str) -> Vec<Value> {
    let mut incoming = message(service_url, text);
    incoming["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/json/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["activities"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_incoming_activity_as_json_carries_every_field() {
    let connector = Connector::start().await;
    let host = json_host();
    let mut incoming = message(&connector.service_url(), "json activity");
    incoming["deliveryMode"] = json!("expectReplies");
    incoming["channelData"] = json!({"tenant": {"id": "t-1"}, "list": [1, 2.5, null]});
    incoming["entities"] = json!([{"type": "mention", "text": "@Echo"}]);
    incoming["from"]["aadObjectId"] = json!("aad-1");
    incoming["customField"] = json!({"nested": ["kept", true]});
    incoming["attachments"] = json!([{"contentType": "text/plain", "content": "a file"}]);
    let (status, body) = post_activity(&host.url("/api/bots/json/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let text = body["activities"][0]["text"].as_str().unwrap_or_default();
    let seen: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        seen, incoming,
        "the bot saw another activity than the one posted"
    );
}

#[tokio::test]
async fn send_json_is_completed_as_a_reply_and_keeps_unmodelled_fields() {
    let connector = Connector::start().await;
    let host = json_host();
    let incoming = message(&connector.service_url(), "json edit");
    let (status, body) = post_activity(&host.url("/api/bots/json/messages"), &incoming).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let received = connector.received();
    assert_eq!(received.len(), 2, "{received:?}");
    let conversation = "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities";
    assert_eq!(received[0].method, Method::POST);
    assert_eq!(
        received[0].path,
        format!("{conversation}/{}", encoded_id(&incoming))
    );
    let draft = &received[0].body;
    assert_eq!(draft["text"], "draft");
    assert_eq!(draft["note"], "kept");
    assert_eq!(draft["replyToId"], incoming["id"]);
    assert_eq!(draft["recipient"], incoming["from"]);
    assert_eq!(draft["from"], incoming["recipient"]);
    assert_eq!(draft["conversation"], incoming["conversation"]);
    // The stand-in answered the send with id `sent-1`; update-json named it.
    assert_eq!(received[1].method, Method::PUT);
    assert_eq!(received[1].path, format!("{conversation}/sent-1"));
    assert_eq!(received[1].body["id"], "sent-1");
    assert_eq!(received[1].body["text"], "final");
    assert_eq!(received[1].body["recipient"], incoming["from"]);
}

#[tokio::test]
async fn text_that_is_not_an_activity_is_refused_and_the_turn_goes_on() {
    let connector = Connector::start().await;
    let host = json_host();
    let service_url = connector.service_url();
    for (sent, why) in [
        ("not json", "not JSON"),
        ("[1, 2]", "an array"),
        (r#"{"text": "no type"}"#, "no type"),
        (r#"{"type": "message", "text": 7}"#, "a number for text"),
    ] {
        let replies = ask(&host, &service_url, &format!("json send {sent}")).await;
        let texts = reply_texts(&replies);
        assert_eq!(texts.len(), 1, "{why}: {replies:?}");
        assert!(
            texts[0].starts_with("json refused BadArgument: the activity JSON"),
            "{why}: {}",
            texts[0]
        );
    }
    assert!(
        host.wait_for_log("the activity JSON").await,
        "the refusal is not logged: {}",
        host.log()
    );

    // Text over twice the largest send a turn allows (4 MiB by default)
    // is refused before it is parsed.
    let replies = ask(&host, &service_url, "json big 9000000").await;
    let texts = reply_texts(&replies);
    assert_eq!(texts.len(), 1, "{replies:?}");
    assert!(
        texts[0].starts_with("json refused LimitExceeded: the activity JSON (9000000 bytes)"),
        "{}",
        texts[0]
    );

    // A good one after them goes out, with the routing filled in.
    let replies = ask(
        &host,
        &service_url,
        r#"json send {"type":"message","text":"fine","inputHint":"acceptingInput"}"#,
    )
    .await;
    assert_eq!(reply_texts(&replies), ["fine", "json sent "], "{replies:?}");
    assert_eq!(replies[0]["inputHint"], "acceptingInput");
    assert_eq!(replies[0]["recipient"]["id"], "user-1");
}

/// A record whose JSON-text field does not parse is refused with
/// `BadArgument` for a send, an update and a send to another conversation
/// alike (normal mode: under `expectReplies` an update is refused before
/// it is read), each refusal is logged with its operation, nothing reaches
/// the connector but the bot's answer, and the turn goes on.
#[tokio::test]
async fn a_record_whose_json_field_does_not_parse_is_refused_and_logged() {
    let connector = Connector::start().await;
    let host = json_host();
    let (status, body) = post_activity(
        &host.url("/api/bots/json/messages"),
        &message(&connector.service_url(), "bad record"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", host.log());
    let received = connector.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        received[0].body["text"],
        "bad record: send=BadArgument update=BadArgument send-to-conversation=BadArgument"
    );
    for operation in ["send", "update", "send-to-conversation"] {
        let operation = format!("operation=\"{operation}\"");
        assert!(
            host.wait_for_log(&operation).await,
            "the refused {operation} is not logged: {}",
            host.log()
        );
    }
    assert!(host.log().contains("channel-data"), "{}", host.log());
}
