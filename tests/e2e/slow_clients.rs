//! Slow and greedy clients: a request head dribbled byte by byte
//! (slowloris) and an idle connection are closed after the header deadline,
//! a body that does not arrive in time gets 408 with a JSON error, and
//! connections past the cap get 503 with `Retry-After`; the host keeps
//! answering normal turns throughout and afterwards.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Far longer than any deadline set here: a connection still open after it
/// was never going to be closed.
const GIVE_UP: Duration = Duration::from_secs(60);

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let result = tokio::time::timeout(GIVE_UP, stream.read_to_end(&mut received)).await;
    assert!(result.is_ok(), "the host never closed the connection");
    String::from_utf8_lossy(&received).into_owned()
}

/// Splits a raw HTTP/1.1 answer into status, lower-cased head and body.
fn parse_answer(raw: &str) -> (u16, String, Value) {
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("body is not JSON: {body}"));
    (status, head.to_ascii_lowercase(), body)
}

async fn assert_turn_answers(host: &Host, connector: &Connector) {
    let (status, _) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "still here?"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn slow_heads_and_bodies_are_cut_off() {
    let connector = Connector::start().await;
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo")]),
        &[
            "--header-read-timeout-secs",
            "1",
            "--body-read-timeout-secs",
            "1",
        ],
    );

    // Slowloris: a request head that never ends, one byte every 100 ms.
    let mut slowloris = TcpStream::connect(host.addr).await.unwrap();
    slowloris
        .write_all(b"POST /api/bots/echo/messages HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < GIVE_UP {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slowloris.write_all(b"x").await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(1), slowloris.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "a request head dribbled for a minute was never cut");

    // A connection that sends nothing at all.
    let mut idle = TcpStream::connect(host.addr).await.unwrap();
    read_to_close(&mut idle).await;

    // A head in time, then a body that stops half-way.
    let activity = serde_json::to_vec(&message(&connector.service_url(), "slow")).unwrap();
    let mut slow_body = TcpStream::connect(host.addr).await.unwrap();
    let head = format!(
        "POST /api/bots/echo/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        activity.len()
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    slow_body
        .write_all(&activity[..activity.len() / 2])
        .await
        .unwrap();
    let (status, head, body) = parse_answer(&read_to_close(&mut slow_body).await);
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert_error(&body, "RequestTimeout");
    assert!(
        connector.received().is_empty(),
        "a request whose body never arrived ran a turn"
    );

    assert_turn_answers(&host, &connector).await;
    assert!(
        host.wait_for_log("the body did not arrive in time").await,
        "the 408 was not logged"
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn connections_past_the_cap_get_503_with_retry_after() {
    let connector = Connector::start().await;
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo")]),
        &[
            "--max-connections",
            "4",
            "--header-read-timeout-secs",
            "120",
        ],
    );
    // Four connections hold every slot (an idle client is only closed by
    // the header deadline, which is long here).
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(host.addr).await.unwrap());
    }
    // Accepting is asynchronous: the fifth connection is refused once the
    // host has taken the four.
    let mut refused = None;
    for _ in 0..100 {
        let mut fifth = TcpStream::connect(host.addr).await.unwrap();
        fifth
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let raw = read_to_close(&mut fifth).await;
        let (status, head, body) = parse_answer(&raw);
        if status == 503 {
            refused = Some((head, body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (head, body) = refused.expect("a connection past the cap was served");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_error(&body, "TooManyConnections");

    // The slots come back when the held connections close.
    drop(held);
    eventually(
        "a turn is served once the held connections closed",
        || async {
            client()
                .post(host.url("/api/bots/echo/messages"))
                .json(&message(&connector.service_url(), "after"))
                .send()
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        },
    )
    .await;
    let metrics = host.get_text("/metrics").await;
    let refused_count: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("turnbox_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the refused-connections counter");
    assert!(refused_count >= 1.0, "{metrics}");
    assert_turn_answers(&host, &connector).await;
    host.assert_no_panic();
}
