//! Livestreamed replies from the SDKs' `StreamingResponse`, end to end: the
//! Python example bot's `stream N` (an informative update, then the chunks
//! `word1 `, `word2 `, … each sent as an update, then the final message).
//! Under `expectReplies`, and on channels without livestreaming, only the
//! final message comes back, without stream markers; on Direct Line the
//! updates reach the connector as `typing` activities carrying the stream's
//! sequence and id. The Python SDK's own unit tests
//! (tests/python/test_turnbox_sdk.py, test_turnbox_auth.py) run here too.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// The whole text of `stream n`.
fn words(n: usize) -> String {
    (1..=n).map(|k| format!("word{k} ")).collect()
}

/// Whether `activity` carries a stream marker, in `channelData` or in a
/// `streaminfo` entity.
fn has_stream_markers(activity: &Value) -> bool {
    activity["channelData"].get("streamType").is_some()
        || activity["entities"]
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e["type"] == "streaminfo"))
}

#[tokio::test]
async fn under_expect_replies_only_the_final_message_comes_back() {
    let host = Host::start(BotsDir::with(&[("bot", "python-echo")]), &[]);
    // A streaming channel, but the replies come back in the response.
    for channel in ["directline", "msteams", "test"] {
        let mut activity = message("http://127.0.0.1:9/", "stream 5");
        activity["channelId"] = json!(channel);
        activity["deliveryMode"] = json!("expectReplies");
        let (status, body) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
        assert_eq!(status, StatusCode::OK, "{channel}: {body}");
        let replies = body["activities"].as_array().cloned().unwrap_or_default();
        assert_eq!(replies.len(), 1, "{channel}: {body}");
        let only = &replies[0];
        assert_eq!(only["type"], "message", "{channel}: {only}");
        assert_eq!(only["text"], words(5), "{channel}: {only}");
        assert!(!has_stream_markers(only), "{channel}: {only}");
    }
    host.assert_no_panic();
}

#[tokio::test]
async fn a_channel_without_livestreaming_gets_only_the_final_message() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("bot", "python-echo")]), &[]);
    let (status, _) = post_activity(
        &host.url("/api/bots/bot/messages"),
        &message(&connector.service_url(), "stream 3"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    eventually("the final message", || async {
        !connector.received().is_empty()
    })
    .await;
    let sent = connector.received();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].body["type"], "message");
    assert_eq!(sent[0].body["text"], words(3));
    assert!(!has_stream_markers(&sent[0].body), "{:?}", sent[0].body);
}

/// Direct Line in normal delivery, its replies posted to a stand-in
/// connector: the updates and the final as the contract has them.
#[tokio::test]
async fn on_direct_line_the_updates_carry_the_sequence_and_the_stream_id() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("bot", "python-echo")]), &[]);
    let mut activity = message(&connector.service_url(), "stream 3");
    activity["channelId"] = json!("directline");
    let (status, _) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
    assert_eq!(status, StatusCode::OK);
    eventually("the stream and its final", || async {
        connector.received().len() >= 5
    })
    .await;
    let sent: Vec<Value> = connector.received().into_iter().map(|r| r.body).collect();
    assert_eq!(sent.len(), 5, "{sent:#?}");

    // The informative update, then one per chunk (no throttling in the
    // example), each with the text so far.
    let kinds: Vec<&str> = sent.iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["typing", "typing", "typing", "typing", "message"]);
    let texts: Vec<&str> = sent.iter().map(|a| a["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "Thinking...",
            "word1 ",
            "word1 word2 ",
            "word1 word2 word3 ",
            "word1 word2 word3 "
        ]
    );
    // The stream's id is the one the connector gave the first update.
    let stream_id = "sent-1";
    let expected_data = [
        json!({"streamType": "informative", "streamSequence": 1}),
        json!({"streamType": "streaming", "streamSequence": 2, "streamId": stream_id}),
        json!({"streamType": "streaming", "streamSequence": 3, "streamId": stream_id}),
        json!({"streamType": "streaming", "streamSequence": 4, "streamId": stream_id}),
        json!({"streamType": "final", "streamId": stream_id}),
    ];
    for (activity, data) in sent.iter().zip(&expected_data) {
        assert_eq!(&activity["channelData"], data, "{activity}");
        let mut info = data.clone();
        info["type"] = json!("streaminfo");
        assert_eq!(activity["entities"], json!([info]), "{activity}");
    }
    host.assert_no_panic();
}

/// A refused update fails neither the stream nor the turn: the next update
/// becomes the stream's first, and the final carries its id.
#[tokio::test]
async fn a_refused_update_is_logged_and_the_stream_goes_on() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("bot", "python-echo")]), &[]);
    connector.fail_next(&[StatusCode::FORBIDDEN]);
    let mut activity = message(&connector.service_url(), "stream 2");
    activity["channelId"] = json!("webchat");
    let (status, _) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
    assert_eq!(status, StatusCode::OK);
    eventually("the final message", || async {
        connector
            .received()
            .iter()
            .any(|r| r.body["type"] == "message")
    })
    .await;
    let sent: Vec<Value> = connector.received().into_iter().map(|r| r.body).collect();
    let last = sent.last().unwrap();
    assert_eq!(last["text"], words(2), "{sent:#?}");
    // The first update (the informative one) was refused; the first chunk's
    // update was the first the channel took, so its id is the stream's.
    let first_taken = sent
        .iter()
        .position(|a| a["channelData"]["streamSequence"] == 2)
        .expect("the first chunk's update");
    assert_eq!(
        last["channelData"],
        json!({"streamType": "final", "streamId": format!("sent-{}", first_taken + 1)}),
        "{sent:#?}"
    );
    assert!(
        host.wait_for_log("refused, the stream goes on").await,
        "{}",
        host.log()
    );
}

#[test]
fn the_python_sdk_unit_tests_pass() {
    // Each module of tests (the SDK's, its sign-in and skills modules', …)
    // in a process of its own: each installs its fakes.
    for module in ["test_turnbox_sdk.py", "test_turnbox_auth.py"] {
        let script = root().join("tests/python").join(module);
        let output = std::process::Command::new("python3")
            .arg("-B") // no __pycache__ in sdk/python: it would look like a source change
            .arg(&script)
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{module}:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
