//! Livestreaming latency: how long after a model's first byte the first
//! streamed update reaches a Direct Line WebSocket client. Starts the
//! `turnbox` binary with an LLM bot (default `llm-chat`; `llm-chat-rs` for
//! the Rust one) pointed at a stand-in OpenAI-compatible server in this
//! process, opens a Direct Line conversation and its WebSocket, and runs
//! TURNS turns one after another. For each, the stand-in notes when it
//! writes the answer's first SSE chunk (after the response head, which it
//! sends at once), and the client when the first `streaming` typing
//! activity arrives; both clocks are this process's. Prints p50, p95 and
//! the worst of the differences. The rest of the answer follows in 10
//! chunks 50 ms apart. With `STREAM_LATENCY_TRACE=1` every activity the
//! socket gets is printed with its time since the first model byte.
//!
//!   guest-examples/build.sh && cargo build --release -p turnbox -p turnbox-bench
//!   target/release/stream-latency [llm-chat|llm-chat-rs] [TURNS]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use turnbox_bench::{HostProcess, guest, percentile};

const SECRET: &str = "bench-direct-line-secret";

/// When the stand-in wrote each answer's first chunk.
type FirstBytes = Arc<Mutex<Vec<Instant>>>;

/// A stand-in model: answers every request with an SSE stream whose first
/// chunk goes out 100 ms after the head (so the bot is waiting on it).
async fn model(first: FirstBytes) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let first = first.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let first = first.clone();
                    let (tx, rx) =
                        tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, Infallible>>(4);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        for n in 0..11 {
                            let chunk =
                                json!({"choices": [{"delta": {"content": format!("word{n} ")}}]});
                            let frame =
                                Frame::data(bytes::Bytes::from(format!("data: {chunk}\n\n")));
                            if n == 0 {
                                first
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(Instant::now());
                            }
                            if tx.send(Ok(frame)).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let _ = tx
                            .send(Ok(Frame::data(bytes::Bytes::from("data: [DONE]\n\n"))))
                            .await;
                    });
                    let body = StreamBody::new(tokio_stream_from(rx));
                    async move {
                        hyper::Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(body)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    Ok(port)
}

/// A receiver as a stream of frames.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bot = args
        .first()
        .map(String::as_str)
        .unwrap_or("llm-chat")
        .to_owned();
    let turns: usize = args.get(1).map(|n| n.parse()).transpose()?.unwrap_or(30);
    let wasm = guest(&bot)?;

    let first: FirstBytes = Arc::default();
    let model_port = model(first.clone()).await?;
    let work = std::env::temp_dir().join(format!("turnbox-stream-latency-{}", std::process::id()));
    let (bots, data) = (work.join("bots"), work.join("data"));
    std::fs::create_dir_all(&bots)?;
    std::fs::copy(&wasm, bots.join("bot.wasm"))?;
    std::fs::write(
        bots.join("bot.toml"),
        format!(
            "[limits]\nturn_deadline_ms = 60000\n[config]\nbase_url = \"http://127.0.0.1:{model_port}/v1\"\nmodel = \"bench\"\nbackstory = \"You are terse.\"\n[http]\nallowed_hosts = [\"http://127.0.0.1:{model_port}\"]\n"
        ),
    )?;
    let host = HostProcess::start(&bots, &data, &["--directline-secret", SECRET])?;
    host.wait_ready(Instant::now()).await?;
    let base = format!("http://127.0.0.1:{}", host.port);
    let client = reqwest::Client::new();
    let conversation: Value = client
        .post(format!("{base}/v3/directline/conversations"))
        .bearer_auth(SECRET)
        .send()
        .await?
        .json()
        .await?;
    let id = conversation["conversationId"]
        .as_str()
        .context("conversation id")?
        .to_owned();
    let token = conversation["token"].as_str().context("token")?.to_owned();
    let ws_url = format!(
        "ws://127.0.0.1:{}/v3/directline/conversations/{id}/stream?t={token}",
        host.port
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await?;

    let mut latencies = Vec::new();
    for turn in 0..=turns {
        let before = first.lock().unwrap_or_else(|p| p.into_inner()).len();
        // The post returns when the turn ends: read the socket meanwhile.
        let post = client
            .post(format!("{base}/v3/directline/conversations/{id}/activities"))
            .bearer_auth(&token)
            .json(&json!({"type": "message", "from": {"id": "user"}, "text": format!("question {turn}")}))
            .send();
        let post = tokio::spawn(post);
        let mut first_update = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        // Read until this turn's final message.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some(frame)) = tokio::time::timeout(left, socket.next()).await else {
                anyhow::bail!("no final message within 30 s");
            };
            let Message::Text(text) = frame? else {
                continue;
            };
            let Ok(set) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let mut done = false;
            for activity in set["activities"].as_array().into_iter().flatten() {
                let stream_type = activity["channelData"]["streamType"].as_str();
                if std::env::var_os("STREAM_LATENCY_TRACE").is_some() {
                    let wrote = first
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(before)
                        .copied();
                    eprintln!(
                        "{:?} {} {:?} {:?}",
                        wrote.map(|w| Instant::now().saturating_duration_since(w)),
                        activity["type"],
                        stream_type,
                        activity["text"].as_str().map(str::len)
                    );
                }
                if stream_type == Some("streaming") && first_update.is_none() {
                    first_update = Some(Instant::now());
                }
                done |= activity["type"] == "message" && stream_type == Some("final");
            }
            if done {
                break;
            }
        }
        post.await??.error_for_status()?;
        let wrote = first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(before)
            .copied();
        if let (Some(wrote), Some(got), true) = (wrote, first_update, turn > 0) {
            // Turn 0 warms the bot up (compile, first instance).
            latencies.push(got.saturating_duration_since(wrote).as_secs_f64() * 1000.0);
        }
    }
    let _ = socket.close(None).await;
    latencies.sort_by(f64::total_cmp);
    anyhow::ensure!(!latencies.is_empty(), "no streamed update was seen");
    println!(
        "{bot}: first model byte -> first streamed update on the Direct Line WebSocket, {} turns: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
