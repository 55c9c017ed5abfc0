//! A bot that traps, loops, exhausts memory or fails: only its own turn
//! fails, with a clear error, and the other bots keep answering.

use axum::http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn misbehaviour_fails_only_that_turn() {
    let connector = Connector::start().await;
    let host = Host::start(
        BotsDir::with(&[("echo", "rust_echo"), ("bad", "misbehave")]),
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
            host.wait_for_log(code),
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
