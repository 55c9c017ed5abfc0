//! A bot that traps, loops, exhausts memory, fails or tries to escape the
//! sandbox: only its own turn fails, with a clear error, the sandbox holds,
//! and the other bots keep answering.

use axum::http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn misbehaviour_fails_only_that_turn() {
    let connector = Connector::start().await;
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo"), ("bad", "misbehave")]),
        &["--turn-deadline-ms", "1500", "--memory-limit-mib", "32"],
    );
    let cases = [
        ("trap", "BotTrapped"),
        ("loop", "TurnTimeout"),
        ("oom", "MemoryLimitExceeded"),
        ("fail", "BotError"),
    ];
    for (n, (text, code)) in cases.into_iter().enumerate() {
        let (status, body) = post_activity(
            &host.url("/api/bots/bad/messages"),
            &message(&connector.service_url(), text),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}: {body}");
        assert_error(&body, code);
        assert!(
            host.wait_for_log(code).await,
            "the failure is logged: {}",
            host.log()
        );

        // The echo bot, and the misbehaving bot itself, still answer.
        let (status, _) = post_activity(
            &host.url("/api/bots/echo/messages"),
            &message(&connector.service_url(), text),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "echo after {text}");
        let (status, _) = post_activity(
            &host.url("/api/bots/bad/messages"),
            &message(&connector.service_url(), "fine"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "bad bot after {text}");
        let received = connector.received();
        assert_eq!(received.len(), 2 * (n + 1));
        assert_eq!(received[2 * n].body["text"], format!("Echo: {text}"));
        assert_eq!(received[2 * n + 1].body["text"], "ok: fine");
    }
    host.assert_no_panic();
}

#[tokio::test]
async fn a_bot_cannot_reach_env_files_or_the_network() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("bad", "misbehave")]), &[]);
    // The stand-in connector listens on loopback: a real, reachable target.
    let text = format!("escape {}", connector.addr);
    let (status, body) = post_activity(
        &host.url("/api/bots/bad/messages"),
        &message(&connector.service_url(), &text),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = connector.received();
    assert_eq!(
        received.len(),
        1,
        "only the reply reached the connector: {received:?}"
    );
    assert_eq!(
        received[0].body["text"],
        "env=none file=denied dir=denied net=denied"
    );
}
