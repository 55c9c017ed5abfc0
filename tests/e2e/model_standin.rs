//! A stand-in OpenAI-compatible model for the LLM bot tests:
//! `POST /v1/chat/completions` with `stream: true`, answered with
//! server-sent events the way real servers send them: a role-only first
//! chunk, a `: keep-alive` comment, one piece per event 150 ms apart, two
//! events split across writes (one inside a UTF-8 character, one between
//! its closing newlines), and `data: [DONE]`. It records every request. The last user message chooses
//! a failure instead:
//!
//! | message | answer |
//! |---|---|
//! | `status N` | status N with an OpenAI error body |
//! | `slow` | no response head for 10 s |
//! | `stall` | one piece, then nothing for 10 s |
//! | `garbled` | an event whose data is not JSON |
//! | `cut` | the pieces, then the end of the body without `[DONE]` |
//! | anything else, `T` | `answer_to(T)`, streamed |

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The pause between two streamed pieces.
pub const PIECE_GAP: Duration = Duration::from_millis(150);

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct ModelCall {
    pub authorization: Option<String>,
    pub body: Value,
    /// When the whole answer (through `[DONE]`) had been written.
    pub finished: Option<Instant>,
}

impl ModelCall {
    /// The request's messages as `(role, content)` pairs.
    pub fn messages(&self) -> Vec<(String, String)> {
        let field = |m: &Value, key: &str| m[key].as_str().unwrap_or_default().to_owned();
        self.body["messages"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|m| (field(m, "role"), field(m, "content")))
                    .collect()
            })
            .unwrap_or_default()
    }
}

type Calls = Arc<Mutex<Vec<ModelCall>>>;

/// The stand-in, serving until dropped.
pub struct ModelStandIn {
    pub port: u16,
    calls: Calls,
    _server: tokio::task::JoinHandle<()>,
}

impl ModelStandIn {
    pub async fn start() -> ModelStandIn {
        let calls = Calls::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(calls.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ModelStandIn {
            port,
            calls,
            _server: server,
        }
    }

    /// The origin for `[http] allowed_hosts`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `base_url` for the bot's config.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    pub fn calls(&self) -> Vec<ModelCall> {
        self.calls.lock().unwrap().clone()
    }
}

/// The whole answer to the user message `text`.
pub fn answer_to(text: &str) -> String {
    format!("You said “{text}”. Here it comes, piece by piece: café ☕ and a few more words.")
}

/// The answer in the pieces it is streamed in: a word each.
fn pieces(text: &str) -> Vec<String> {
    answer_to(text)
        .split_inclusive(' ')
        .map(str::to_owned)
        .collect()
}

fn event(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn piece_event(piece: &str) -> Bytes {
    event(&json!({"object": "chat.completion.chunk",
                  "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]}))
}

async fn complete(State(calls): State<Calls>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let index = {
        let mut calls = calls.lock().unwrap();
        calls.push(ModelCall {
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.clone(),
            finished: None,
        });
        calls.len() - 1
    };
    let asked = body["messages"]
        .as_array()
        .and_then(|list| list.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    if let Some(status) = asked.strip_prefix("status ") {
        let status = StatusCode::from_u16(status.parse().unwrap_or(500)).unwrap();
        let error = json!({"error": {"message": "the stand-in says no", "type": "test"}});
        return (status, axum::Json(error)).into_response();
    }
    if asked == "slow" {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let _ = stream_answer(&asked, &tx).await;
        if let Some(call) = calls.lock().unwrap().get_mut(index) {
            call.finished = Some(Instant::now());
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// Writes the answer to `asked` as events; `Err` when the client left.
async fn stream_answer(asked: &str, tx: &mpsc::Sender<Bytes>) -> Result<(), ()> {
    let send = |bytes: Bytes| async move { tx.send(bytes).await.map_err(|_| ()) };
    send(event(
        &json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
    ))
    .await?;
    send(Bytes::from_static(b": keep-alive\n\n")).await?;
    if asked == "garbled" {
        return send(Bytes::from_static(b"data: {\"choices\": [oops\n\n")).await;
    }
    for (n, piece) in pieces(asked).iter().enumerate() {
        tokio::time::sleep(PIECE_GAP).await;
        if asked == "stall" && n == 1 {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        let bytes = piece_event(piece);
        // Two events go in two writes: the one with ☕ split inside that
        // character's UTF-8 bytes, the third between its two newlines.
        let coffee = bytes.windows(3).position(|w| w == "☕".as_bytes());
        let split = match (coffee, n) {
            (Some(at), _) => Some(at + 1),
            (None, 2) => Some(bytes.len() - 1),
            _ => None,
        };
        match split {
            Some(at) => {
                send(bytes.slice(..at)).await?;
                tokio::time::sleep(Duration::from_millis(40)).await;
                send(bytes.slice(at..)).await?;
            }
            None => send(bytes).await?,
        }
    }
    if asked == "cut" {
        return Ok(());
    }
    send(event(
        &json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ))
    .await?;
    send(Bytes::from_static(b"data: [DONE]\n\n")).await
}
