//! Hostile bots, all at once: an endless loop, a memory bomb, deep
//! recursion, a trap, 100k sends, a 50 MB text, WASI escapes, a sleeper,
//! a flood of logs and a flood of outbound HTTP requests. Each is contained by its own limit, and a
//! well-behaved bot on the same host answers every one of its turns
//! meanwhile.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// The hostile bot's manifest: room for a 50 MB string, a short deadline
/// (long enough for the memory bomb to reach its limit on two loaded cores:
/// at 1.5 s it sometimes timed out first under the full suite) and a small
/// log allowance.
const HOSTILE: &str = "[limits]\nmemory_mib = 160\nturn_deadline_ms = 4000\nmax_log_bytes_per_turn = 32768\n\
     [http]\nallowed_hosts = [\"http://127.0.0.1:9\"]\n";

/// What each hostile request must end in: the status, the error code, and
/// a piece of the error message or reply text.
const CASES: [(&str, StatusCode, &str, &str); 10] = [
    ("loop", StatusCode::INTERNAL_SERVER_ERROR, "TurnTimeout", ""),
    (
        "oom",
        StatusCode::INTERNAL_SERVER_ERROR,
        "MemoryLimitExceeded",
        "",
    ),
    (
        "recurse",
        StatusCode::INTERNAL_SERVER_ERROR,
        "BotTrapped",
        "",
    ),
    ("trap", StatusCode::INTERNAL_SERVER_ERROR, "BotTrapped", ""),
    (
        "spam 100000",
        StatusCode::INTERNAL_SERVER_ERROR,
        "BotError",
        "LimitExceeded",
    ),
    (
        "big 52428800",
        StatusCode::INTERNAL_SERVER_ERROR,
        "BotError",
        "LimitExceeded",
    ),
    (
        "sleep 60000",
        StatusCode::INTERNAL_SERVER_ERROR,
        "TurnTimeout",
        "",
    ),
    (
        "escape 127.0.0.1:9",
        StatusCode::OK,
        "",
        "env=none file=denied dir=denied net=denied",
    ),
    ("chatty 3000", StatusCode::OK, "", "ok: chatty 3000"),
    // 32 requests a turn (the default limit) reach the (closed) port; the
    // rest are refused at once.
    (
        "httpflood http://127.0.0.1:9/ 5000",
        StatusCode::OK,
        "",
        "flood: ok=0 failed=5000",
    ),
];

async fn hostile(host: &Host, n: usize, text: &str) -> (StatusCode, Value) {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["conversation"]["id"] = json!(format!("hostile-{n}"));
    activity["deliveryMode"] = json!("expectReplies");
    post_activity(&host.url("/api/bots/hostile/messages"), &activity).await
}

#[tokio::test]
async fn hostile_bots_are_contained_and_a_good_bot_keeps_answering() {
    let bots = BotsDir::with_manifest("hostile", "misbehave", HOSTILE);
    std::fs::copy(guest("rust-echo"), bots.path().join("echo.wasm")).unwrap();
    let host = Arc::new(Host::start(bots, &[]));

    let attacks: Vec<_> = CASES
        .iter()
        .enumerate()
        .map(|(n, (text, ..))| {
            let host = host.clone();
            tokio::spawn(async move { hostile(&host, n, text).await })
        })
        .collect();
    // The good bot is asked throughout, from several conversations at once.
    let good: Vec<_> = (0..40)
        .map(|n| {
            let host = host.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(50 * n)).await;
                host.ask("echo", &format!("good {n}")).await
            })
        })
        .collect();

    for (n, turn) in good.into_iter().enumerate() {
        assert_eq!(
            turn.await.unwrap(),
            (StatusCode::OK, Some(format!("Echo: good {n}"))),
            "good turn {n}"
        );
    }
    for ((text, status, code, detail), attack) in CASES.iter().zip(attacks) {
        let (got, body) = attack.await.unwrap();
        assert_eq!(got, *status, "{text}: {body}");
        if code.is_empty() {
            assert_eq!(body["activities"][0]["text"], *detail, "{text}");
        } else {
            assert_error(&body, code);
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(detail), "{text}: {message}");
        }
    }

    // The log flood was cut at the manifest's 32 KiB: at most 32 of its
    // 1 KiB lines, and one warning saying so. (The log is read as it
    // comes: wait for the attacks' last lines before counting.)
    assert!(host.wait_for_log("logged more than its limit").await);
    assert!(
        host.wait_for_log("further refusals in this turn are counted")
            .await
    );
    let log = host.log();
    let flood = log
        .lines()
        .filter(|l| l.contains(&"y".repeat(1023)))
        .count();
    assert!((1..=32).contains(&flood), "{flood} flood lines logged");
    assert!(
        log.contains("logged more than its limit"),
        "the cut is logged"
    );
    // The request flood was cut at the turn's request limit, its refusals
    // logged a few times only, and no request past the 32nd reached the
    // network.
    assert!(log.contains("the turn's request limit is reached"));
    let refusals = log
        .lines()
        .filter(|l| l.contains("the turn's request limit is reached"))
        .count();
    assert!(refusals <= 3, "{refusals} refusals logged");
    assert!(log.contains("further refusals in this turn are counted"));
    let reached = log
        .lines()
        .filter(|l| l.contains("outbound HTTP failed"))
        .count();
    assert!(reached <= 32, "{reached} requests reached the network");

    // The hostile bot still serves an ordinary turn.
    let (status, body) = hostile(&host, 99, "fine").await;
    assert_eq!(
        (status, body["activities"][0]["text"].clone()),
        (StatusCode::OK, json!("ok: fine"))
    );
    host.assert_no_panic();
}
