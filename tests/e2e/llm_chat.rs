//! The JavaScript LLM chat bot (`guest-examples/llm-chat`, on the JS SDK's
//! `StreamingResponse`) against the stand-in model (`model_standin.rs`):
//! its answer livestreamed over the Direct Line WebSocket while the model
//! still writes; only the final message under `expectReplies`; the
//! conversation's history sent to the model, bounded, and cleared by
//! `/reset`; model failures answered politely in a turn that succeeds; and
//! the bot's own unit tests (its SSE parser, under node).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::model_standin::{ModelStandIn, answer_to};
use crate::support::*;

const BOT: &str = "llm";
const BACKSTORY: &str = "You are a terse assistant for the tests.";

/// The bot's manifest, pointed at `model`, with `extra` lines in `[config]`.
fn manifest(model: &ModelStandIn, extra: &str) -> String {
    format!(
        "[limits]\nturn_deadline_ms = 30000\n\
         [http]\nallowed_hosts = [\"{origin}\"]\nfirst_byte_timeout_ms = 1000\ntimeout_ms = 5000\n\
         [config]\nbase_url = \"{base}\"\nmodel = \"stand-in\"\napi_key = \"test-key\"\n\
         backstory = \"{BACKSTORY}\"\n{extra}",
        origin = model.origin(),
        base = model.base_url(),
    )
}

fn host(model: &ModelStandIn, extra: &str) -> Host {
    Host::start(
        BotsDir::with_manifest(BOT, "llm-chat", &manifest(model, extra)),
        &[],
    )
}

/// Posts `text` under `expectReplies` in `conversation`, on a channel that
/// would stream (`msteams`); returns the status and the replies.
async fn ask(host: &Host, conversation: &str, text: &str) -> (StatusCode, Vec<Value>) {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["deliveryMode"] = json!("expectReplies");
    activity["channelId"] = json!("msteams");
    activity["conversation"]["id"] = json!(conversation);
    let url = host.url(&format!("/api/bots/{BOT}/messages"));
    let (status, body) = post_activity(&url, &activity).await;
    let replies = body["activities"].as_array().cloned().unwrap_or_default();
    (status, replies)
}

/// The one reply to `text`: a plain message (no typing, no stream markers).
async fn only_reply(host: &Host, conversation: &str, text: &str) -> String {
    let (status, replies) = ask(host, conversation, text).await;
    assert_eq!(status, StatusCode::OK, "{text}: {replies:?}");
    assert_eq!(
        replies.len(),
        1,
        "{text}: only the final message: {replies:?}"
    );
    assert_eq!(replies[0]["type"], "message", "{replies:?}");
    assert!(
        replies[0]["channelData"]["streamType"].is_null(),
        "{replies:?}"
    );
    replies[0]["text"].as_str().unwrap_or_default().to_owned()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(role, content)| (role.to_string(), content.to_string()))
        .collect()
}

fn stream_type(activity: &Value) -> &str {
    activity["channelData"]["streamType"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_answer_is_livestreamed_over_the_direct_line_websocket() {
    let model = ModelStandIn::start().await;
    let host = host(&model, "");
    let base = host.url(&format!("/bots/{BOT}/v3/directline"));
    let (status, conversation) = read(
        client()
            .post(format!("{base}/conversations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{conversation}");
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap().to_owned(),
        conversation["token"].as_str().unwrap().to_owned(),
    );
    let (mut socket, _) =
        tokio_tungstenite::connect_async(conversation["streamUrl"].as_str().unwrap())
            .await
            .expect("websocket");

    let question = "tell me something";
    let activities = format!("{base}/conversations/{id}/activities");
    let posting = tokio::spawn({
        let (url, token) = (activities.clone(), token.clone());
        async move {
            let user = json!({"type": "message", "from": {"id": "user"}, "text": question});
            let request = client().post(url).bearer_auth(token).json(&user);
            read(request.send().await.unwrap()).await.0
        }
    });

    // The bot's activities, each with the time it arrived, to the final.
    let mut seen: Vec<(Instant, Value)> = Vec::new();
    while !seen.iter().any(|(_, a)| stream_type(a) == "final") {
        let set = next_set(&mut socket).await;
        let arrived = Instant::now();
        for activity in set["activities"].as_array().unwrap() {
            if activity["from"]["id"] == BOT {
                seen.push((arrived, activity.clone()));
            }
        }
    }
    assert_eq!(posting.await.unwrap(), StatusCode::OK);
    let kinds: Vec<String> = seen
        .iter()
        .map(|(_, a)| format!("{} {}", a["type"], stream_type(a)))
        .collect();

    // An informative update, then streaming updates, then the final.
    let (first, last) = (&seen[0].1, &seen[seen.len() - 1].1);
    assert_eq!(first["type"], "typing", "{kinds:?}");
    assert_eq!(stream_type(first), "informative", "{kinds:?}");
    assert_eq!(first["channelData"]["streamSequence"], 1, "{first}");
    let updates: Vec<&(Instant, Value)> = seen[1..seen.len() - 1].iter().collect();
    assert!(
        updates.len() >= 3,
        "at least 3 streaming updates: {kinds:?}"
    );
    let stream_id = first["id"].as_str().expect("the first update's id");
    let mut sequence = 1;
    let mut text = String::new();
    for (_, update) in &updates {
        assert_eq!(update["type"], "typing", "{update}");
        assert_eq!(stream_type(update), "streaming", "{update}");
        assert_eq!(update["channelData"]["streamId"], stream_id, "{update}");
        let info = &update["entities"][0];
        assert_eq!(
            (&info["type"], &info["streamId"]),
            (&json!("streaminfo"), &json!(stream_id))
        );
        let next = update["channelData"]["streamSequence"].as_u64().unwrap();
        assert!(next > sequence, "streamSequence increases: {kinds:?}");
        sequence = next;
        let grown = update["text"].as_str().unwrap();
        assert!(
            grown.starts_with(&text) && grown.len() > text.len(),
            "{text:?} then {grown:?}"
        );
        text = grown.to_owned();
    }
    let answer = answer_to(question);
    assert_eq!(last["type"], "message");
    assert_eq!(last["text"], answer.as_str());
    assert!(
        answer.starts_with(&text),
        "{text:?} is not a prefix of the answer"
    );
    assert_eq!(last["channelData"]["streamId"], stream_id);
    assert!(last["channelData"]["streamSequence"].is_null(), "{last}");

    // Interim updates are ephemeral: the polled log has the message and the
    // final answer only.
    let polled = client().get(&activities).bearer_auth(&token).send().await;
    let (_, log) = read(polled.unwrap()).await;
    let texts: Vec<&str> = log["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, [question, answer.as_str()], "{log}");

    // Live: the first streaming update reached the socket while the model
    // was still writing the answer (needs the host to send stream updates
    // at once, even while the turn holds its sends for the state commit).
    let finished = model.calls()[0].finished.expect("the model finished");
    assert!(
        updates[0].0 < finished,
        "the first update arrived {:?} after the model finished",
        updates[0].0 - finished
    );
}

#[tokio::test]
async fn expect_replies_gets_the_final_message_and_the_history_is_kept_bounded() {
    let model = ModelStandIn::start().await;
    // Room for two exchanges of the same lengths, not three.
    let exchange = |text: &str| text.chars().count() + answer_to(text).chars().count();
    let budget = 2 * exchange("turn 1") + 10;
    let host = host(&model, &format!("history_chars = \"{budget}\"\n"));

    let first = "My name is Ada";
    assert_eq!(only_reply(&host, "c1", first).await, answer_to(first));
    let call = &model.calls()[0];
    assert_eq!(call.authorization.as_deref(), Some("Bearer test-key"));
    assert_eq!(
        (&call.body["model"], &call.body["stream"]),
        (&json!("stand-in"), &json!(true))
    );
    assert_eq!(
        call.messages(),
        pairs(&[("system", BACKSTORY), ("user", first)])
    );

    // The second turn sends the first exchange.
    let second = "What is my name?";
    assert_eq!(only_reply(&host, "c1", second).await, answer_to(second));
    assert_eq!(
        model.calls()[1].messages(),
        pairs(&[
            ("system", BACKSTORY),
            ("user", first),
            ("assistant", &answer_to(first)),
            ("user", second),
        ])
    );

    // `/reset` forgets it, without asking the model.
    let reset = only_reply(&host, "c1", "/reset").await;
    assert!(reset.contains("forgotten"), "{reset}");
    assert_eq!(model.calls().len(), 2);
    only_reply(&host, "c1", "turn 1").await;
    assert_eq!(
        model.calls()[2].messages(),
        pairs(&[("system", BACKSTORY), ("user", "turn 1")])
    );

    // Past the budget the oldest exchange goes first.
    for text in ["turn 2", "turn 3", "turn 4"] {
        only_reply(&host, "c1", text).await;
    }
    let (turn2, turn3) = (answer_to("turn 2"), answer_to("turn 3"));
    assert_eq!(
        model.calls()[5].messages(),
        pairs(&[
            ("system", BACKSTORY),
            ("user", "turn 2"),
            ("assistant", &turn2),
            ("user", "turn 3"),
            ("assistant", &turn3),
            ("user", "turn 4"),
        ])
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn model_failures_get_a_polite_reply_and_are_not_kept() {
    let model = ModelStandIn::start().await;
    let bots = BotsDir::with_manifest(BOT, "llm-chat", &manifest(&model, ""));
    // A second bot whose model is not there at all (a closed port).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = format!(
        "[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\n\
         [config]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"
    );
    std::fs::copy(guest("llm-chat"), bots.path().join("nowhere.wasm")).unwrap();
    std::fs::write(bots.path().join("nowhere.toml"), nowhere).unwrap();
    let host = Host::start(bots, &[]);

    for text in [
        "status 401",
        "status 429",
        "status 500",
        "status 503",
        "slow",
        "stall",
        "garbled",
        "cut",
    ] {
        let started = Instant::now();
        let reply = only_reply(&host, "c1", text).await;
        assert!(reply.starts_with("Sorry"), "{text}: {reply}");
        assert!(started.elapsed() < Duration::from_secs(9), "{text}");
    }
    assert!(host.wait_for_log("the model gave no answer").await);

    // None of the failed exchanges was kept.
    only_reply(&host, "c1", "fine").await;
    assert_eq!(
        model.calls().last().unwrap().messages(),
        pairs(&[("system", BACKSTORY), ("user", "fine")])
    );

    let mut activity = message("http://127.0.0.1:9/", "hello?");
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/nowhere/messages"), &activity).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reply = body["activities"][0]["text"].as_str().unwrap_or_default();
    assert!(reply.starts_with("Sorry, I cannot reach"), "{reply}");
    host.assert_no_panic();
}

#[test]
fn the_bots_sse_parser_passes_its_unit_tests() {
    let output = std::process::Command::new("node")
        .args(["--test", "test/"])
        .current_dir(root().join("guest-examples/llm-chat"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
