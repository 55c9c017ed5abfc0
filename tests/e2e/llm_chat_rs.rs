//! The Rust LLM chat bot (`guest-examples/llm-chat-rs`) against a stand-in
//! OpenAI-compatible model that streams server-sent events with delays, a
//! line split across writes (inside a UTF-8 character), comment lines and
//! `[DONE]`, and fails on demand: the user's message `fail 401` answers 401,
//! `slow` sends no head in time, `stall` stops mid-stream, `garbled` streams
//! what is not JSON, `empty` no text at all. Over `expectReplies` only the
//! final message arrives; on Direct Line in normal mode the answer grows in
//! `typing` updates sent to the connector.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::support::*;

/// One request the stand-in model received.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct ModelState {
    requests: Vec<ModelRequest>,
    /// The pause before each streamed piece.
    delay: Duration,
}

/// A stand-in OpenAI-compatible `POST /v1/chat/completions`. Its answer to
/// the last user message `T` is `You said: T ✓`, streamed a word at a time.
pub struct StandInModel {
    pub port: u16,
    state: Arc<Mutex<ModelState>>,
    _server: tokio::task::JoinHandle<()>,
}

impl StandInModel {
    pub async fn start() -> StandInModel {
        let state = Arc::new(Mutex::new(ModelState {
            delay: Duration::from_millis(20),
            ..ModelState::default()
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandInModel {
            port,
            state,
            _server: server,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The pause before each streamed piece (default 20 ms).
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    pub fn requests(&self) -> Vec<ModelRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// A manifest for the bot: this model on the allowlist, HTTP timeouts
    /// of `timeout_ms` (first byte and whole request), and the `[config]`
    /// lines given after `base_url` and `model`.
    pub fn manifest(&self, timeout_ms: u64, config: &str) -> String {
        format!(
            "[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\ntimeout_ms = {timeout_ms}\n\
             first_byte_timeout_ms = {timeout_ms}\n[config]\nbase_url = \"{url}\"\nmodel = \"stand-in\"\n{config}\n",
            port = self.port,
            url = self.base_url()
        )
    }
}

async fn complete(
    State(state): State<Arc<Mutex<ModelState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delay = {
        let mut state = state.lock().unwrap();
        state.requests.push(ModelRequest {
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.clone(),
        });
        state.delay
    };
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    if let Some(status) = last.strip_prefix("fail ") {
        let status = StatusCode::from_u16(status.parse().unwrap()).unwrap();
        let error = json!({"error": {"message": "stand-in failure", "type": "server_error"}});
        return (status, axum::Json(error)).into_response();
    }
    let chunk = |text: &str| {
        let chunk = json!({"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
        format!("data: {chunk}\n\n").into_bytes()
    };
    let mut pieces: Vec<Vec<u8>> = match last.as_str() {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            vec![]
        }
        "garbled" => vec![b"data: {\"choices\": [{\"delta\": \n\n".to_vec()],
        "empty" => vec![b"data: {\"choices\": []}\n\ndata: [DONE]\n\n".to_vec()],
        _ => {
            let role = json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]});
            let mut pieces = vec![
                b": keep-alive\n\n".to_vec(),
                format!("data: {role}\n\n").into_bytes(),
            ];
            let answer = format!("You said: {last} \u{2713}");
            let words: Vec<&str> = answer.split_inclusive(' ').collect();
            for word in &words {
                pieces.push(chunk(word));
            }
            // The last word's line (the check mark) in two writes, cut
            // inside the character.
            let last_line = pieces.pop().unwrap_or_default();
            let mark = "\u{2713}".as_bytes();
            let at = last_line.windows(mark.len()).position(|w| w == mark);
            let cut = at.map_or(last_line.len() / 2, |at| at + 1);
            pieces.push(last_line[..cut].to_vec());
            pieces.push(last_line[cut..].to_vec());
            if last == "stall" {
                pieces.truncate(4);
                pieces.push(b": stalling\n".to_vec());
            } else {
                pieces.push(b": about to end\n\n".to_vec());
                let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
                pieces.push(format!("data: {end}\n\ndata: [DONE]\n\n").into_bytes());
            }
            pieces
        }
    };
    let stall = last == "stall";
    pieces.reverse();
    let stream = futures_util::stream::unfold(pieces, move |mut pieces| async move {
        tokio::time::sleep(delay).await;
        match pieces.pop() {
            Some(piece) => Some((Ok::<_, std::io::Error>(Bytes::from(piece)), pieces)),
            None if stall => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                None
            }
            None => None,
        }
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Posts `text` on `channel` under `expectReplies`; returns the replies.
async fn ask(host: &Host, channel: &str, text: &str) -> Vec<Value> {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["channelId"] = json!(channel);
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/chat/messages"), &activity).await;
    assert_eq!(status, StatusCode::OK, "{text}: {body}\n{}", host.log());
    body["activities"].as_array().cloned().unwrap_or_default()
}

/// The text of the one reply to `text`.
async fn answer(host: &Host, text: &str) -> String {
    let replies = ask(host, "test", text).await;
    assert_eq!(replies.len(), 1, "{text}: {replies:#?}");
    replies[0]["text"].as_str().unwrap_or_default().to_owned()
}

/// The (role, content) pairs the model was sent in request `n`.
fn sent_messages(model: &StandInModel, n: usize) -> Vec<(String, String)> {
    let requests = model.requests();
    let messages = requests[n].body["messages"].as_array().cloned();
    messages
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            (field("role"), field("content"))
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(r, c)| (r.to_string(), c.to_string()))
        .collect()
}

#[tokio::test]
async fn expect_replies_gets_only_the_final_message_with_the_whole_text() {
    let model = StandInModel::start().await;
    let config = "api_key = \"sk-test\"\nbackstory = \"You are a terse pirate.\"";
    let bots = BotsDir::with_manifest("chat", "llm-chat-rs", &model.manifest(10_000, config));
    let host = Host::start(bots, &[]);
    // Pieces far enough apart that a stream would have sent several updates.
    model.set_delay(Duration::from_millis(150));

    // On Direct Line, a streaming channel, but expectReplies: no updates.
    let replies = ask(&host, "directline", "hello there").await;
    assert_eq!(replies.len(), 1, "{replies:#?}");
    let reply = &replies[0];
    assert_eq!(reply["type"], "message");
    assert_eq!(reply["text"], "You said: hello there \u{2713}");
    assert!(reply["channelData"]["streamType"].is_null(), "{reply}");

    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(requests[0].body["stream"], true);
    assert_eq!(requests[0].body["model"], "stand-in");
    assert_eq!(
        sent_messages(&model, 0),
        pairs(&[
            ("system", "You are a terse pirate."),
            ("user", "hello there")
        ])
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn the_history_spans_turns_until_reset() {
    let model = StandInModel::start().await;
    let bots = BotsDir::with_manifest("chat", "llm-chat-rs", &model.manifest(1500, ""));
    let host = Host::start(bots, &[]);

    assert_eq!(answer(&host, "first").await, "You said: first \u{2713}");
    assert_eq!(answer(&host, "second").await, "You said: second \u{2713}");
    let second = sent_messages(&model, 1);
    assert_eq!(second.len(), 4, "{second:?}");
    assert_eq!(second[0].0, "system");
    assert_eq!(
        second[1..],
        pairs(&[
            ("user", "first"),
            ("assistant", "You said: first \u{2713}"),
            ("user", "second")
        ])
    );
    // No api_key: no Authorization.
    assert_eq!(model.requests()[0].authorization, None);

    let reset = answer(&host, "/reset").await;
    assert!(reset.contains("forgotten"), "{reset}");
    assert_eq!(model.requests().len(), 2, "/reset does not call the model");
    answer(&host, "third").await;
    assert_eq!(sent_messages(&model, 2)[1..], pairs(&[("user", "third")]));
}

#[tokio::test]
async fn the_history_keeps_within_its_character_budget() {
    let model = StandInModel::start().await;
    // An exchange of a 5-letter word costs 5 + 17 characters.
    let manifest = model.manifest(1500, "history_chars = \"50\"");
    let host = Host::start(
        BotsDir::with_manifest("chat", "llm-chat-rs", &manifest),
        &[],
    );
    for word in ["alpha", "bravo", "charl", "delta"] {
        answer(&host, word).await;
    }
    // Two exchanges fit in 50 characters: the oldest went first.
    let last = sent_messages(&model, 3);
    let users: Vec<&str> = last
        .iter()
        .filter(|(role, _)| role == "user")
        .map(|(_, content)| content.as_str())
        .collect();
    assert_eq!(users, ["bravo", "charl", "delta"], "{last:?}");
}

#[tokio::test]
async fn model_failures_become_a_polite_reply_and_are_not_remembered() {
    let model = StandInModel::start().await;
    let bots = BotsDir::with_manifest("chat", "llm-chat-rs", &model.manifest(1500, ""));
    let host = Host::start(bots, &[]);

    for (text, expected) in [
        ("fail 401", "credentials"),
        ("fail 429", "busy"),
        ("fail 500", "ran into a problem"),
        ("fail 503", "ran into a problem"),
        ("slow", "took too long"),
        ("stall", "took too long"),
        ("garbled", "garbled"),
        ("empty", "ran into a problem"),
    ] {
        let reply = answer(&host, text).await;
        assert!(
            reply.starts_with("Sorry") || reply.contains("\n\nSorry"),
            "{text}: {reply}"
        );
        assert!(reply.contains(expected), "{text}: {reply}\n{}", host.log());
    }
    // What streamed before the stall is kept in view.
    let stalled = answer(&host, "stall").await;
    assert!(stalled.starts_with("You said: "), "{stalled}");

    // None of the failed exchanges was stored.
    answer(&host, "fine").await;
    let last = model.requests().len() - 1;
    assert_eq!(sent_messages(&model, last)[1..], pairs(&[("user", "fine")]));
    assert!(
        host.wait_for_log("the model failed").await,
        "{}",
        host.log()
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn an_unreachable_model_gets_a_polite_reply() {
    // A port nobody listens on, allowed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let manifest = format!(
        "[http]\nallowed_hosts = [\"http://127.0.0.1:{port}\"]\n\
         [config]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"
    );
    let host = Host::start(
        BotsDir::with_manifest("chat", "llm-chat-rs", &manifest),
        &[],
    );
    let reply = answer(&host, "hello").await;
    assert!(reply.contains("could not reach"), "{reply}");
    // And one not on the allowlist.
    let manifest = "[config]\nbase_url = \"http://127.0.0.1:9/v1\"\n";
    let host = Host::start(BotsDir::with_manifest("chat", "llm-chat-rs", manifest), &[]);
    let reply = answer(&host, "hello").await;
    assert!(reply.contains("not allowed"), "{reply}");
}

#[tokio::test]
async fn on_a_streaming_channel_the_answer_grows_in_typing_updates() {
    let model = StandInModel::start().await;
    model.set_delay(Duration::from_millis(300));
    let bots = BotsDir::with_manifest("chat", "llm-chat-rs", &model.manifest(10_000, ""));
    let host = Host::start(bots, &[]);
    let connector = Connector::start().await;

    let mut activity = message(&connector.service_url(), "one two three four five six");
    activity["channelId"] = json!("directline");
    let (status, _) = post_activity(&host.url("/api/bots/chat/messages"), &activity).await;
    assert!(status.is_success(), "{status}");
    let sent = || connector.received().into_iter().map(|r| r.body);
    eventually("the final message", || async {
        sent().any(|a| a["type"] == "message")
    })
    .await;

    let sent: Vec<Value> = sent().collect();
    let whole = "You said: one two three four five six \u{2713}";
    let (updates, finals) = sent.split_at(sent.len() - 1);
    assert_eq!(
        updates[0]["channelData"],
        json!({"streamType": "informative", "streamSequence": 1})
    );
    let stream_id = "sent-1";
    let mut previous = String::new();
    for (n, update) in updates.iter().enumerate().skip(1) {
        assert_eq!(update["type"], "typing", "{update}");
        let data = &update["channelData"];
        assert_eq!(data["streamType"], "streaming", "{update}");
        assert_eq!(data["streamSequence"], n + 1, "{update}");
        assert_eq!(data["streamId"], stream_id, "{update}");
        assert_eq!(update["entities"][0]["type"], "streaminfo", "{update}");
        // The text so far, growing.
        let text = update["text"].as_str().unwrap_or_default();
        assert!(
            text.len() > previous.len() && whole.starts_with(text),
            "{text}"
        );
        previous = text.to_owned();
    }
    assert!(
        updates.len() >= 4,
        "an informative and 3 streaming updates: {sent:#?}"
    );
    assert!(updates.len() < 12, "throttled: {sent:#?}");
    let last = &finals[0];
    assert_eq!(last["text"], whole);
    assert_eq!(
        last["channelData"],
        json!({"streamType": "final", "streamId": stream_id})
    );
    assert_eq!(
        last["entities"],
        json!([{"type": "streaminfo", "streamType": "final", "streamId": stream_id}])
    );
}

#[tokio::test]
async fn a_question_longer_than_one_body_buffer_reaches_the_model() {
    // The request body (the history and the question) goes out in 4 KiB
    // pieces as the host reads it; written before the request was sent, a
    // body over one piece waited for ever.
    let model = StandInModel::start().await;
    let bots = BotsDir::with_manifest("chat", "llm-chat-rs", &model.manifest(10_000, ""));
    let host = Host::start(bots, &[]);
    let question = "abcdefghijklmnopqrstuvwxyz0123 ".repeat(200);
    let question = question.trim_end();
    let reply = answer(&host, question).await;
    assert!(
        reply.starts_with("You said: abcdefghijklmnopqrstuvwxyz0123 abcdef"),
        "{reply}"
    );
    let sent = sent_messages(&model, 0);
    assert_eq!(sent.last().map(|(_, c)| c.len()), Some(question.len()));
}
