//! Isolation between bots and between turns: a looping bot does not starve
//! another (only computing turns become long turns), turns of one
//! conversation run in order, and past its concurrency limit a bot answers
//! 503.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_looping_bot_does_not_starve_another() {
    let connector = Connector::start().await;
    let host = std::sync::Arc::new(Host::start(
        BotsDir::with(&[("spinner", "misbehave"), ("echo", "rust-echo")]),
        &["--turn-deadline-ms", "2000"],
    ));
    let service_url = connector.service_url();
    let mut spinning = Vec::new();
    for n in 0..4 {
        let (host, service_url) = (host.clone(), service_url.clone());
        spinning.push(tokio::spawn(async move {
            let mut activity = message(&service_url, "loop");
            activity["conversation"]["id"] = json!(format!("spin-{n}"));
            post_activity(&host.url("/api/bots/spinner/messages"), &activity).await
        }));
    }
    let mut burst = Vec::new();
    for n in 0..20 {
        let host = host.clone();
        burst.push(tokio::spawn(async move {
            host.ask("echo", &format!("b{n}")).await
        }));
    }
    for (n, turn) in burst.into_iter().enumerate() {
        assert_eq!(
            turn.await.unwrap(),
            (StatusCode::OK, Some(format!("Echo: b{n}")))
        );
    }
    for turn in spinning {
        let (status, body) = turn.await.unwrap();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_error(&body, "TurnTimeout");
    }
    let status = host.bot_status("spinner").await.unwrap();
    assert_eq!(status["turns"]["timedOut"], 4);
    assert_eq!(host.bot_status("echo").await.unwrap()["turns"]["ok"], 20);
}

/// Whether the host's log says a turn of `bot` became a long turn.
fn logged_long_turn(log: &str, bot: &str) -> bool {
    log.lines()
        .any(|line| line.contains("a long turn") && line.contains(&format!("bot={bot}")))
}

#[tokio::test]
async fn only_turns_that_compute_become_long_turns() {
    let connector = Connector::start().await;
    let host = Host::start(
        BotsDir::with(&[("spinner", "misbehave"), ("napper", "misbehave")]),
        &["--turn-deadline-ms", "1000"],
    );
    let service_url = connector.service_url();
    // Four 30 ms waits in host calls: twelve epoch ticks pass while the
    // turn waits, none while it computes.
    let (status, body) = post_activity(
        &host.url("/api/bots/napper/messages"),
        &message(&service_url, "naps 4 30"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A turn that computes until its deadline.
    let (status, body) = post_activity(
        &host.url("/api/bots/spinner/messages"),
        &message(&service_url, "loop"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_error(&body, "TurnTimeout");

    // The long turn's line comes before its `turn failed` line.
    assert!(host.wait_for_log("turn failed").await, "{}", host.log());
    let log = host.log();
    assert!(
        logged_long_turn(&log, "spinner"),
        "the looping turn was not long: {log}"
    );
    assert!(
        !logged_long_turn(&log, "napper"),
        "a waiting turn was taken for a long one: {log}"
    );
}

#[tokio::test]
async fn memory_bombs_and_stack_overflows_fail_alone() {
    let host = Host::start(
        BotsDir::with(&[("bad", "misbehave"), ("echo", "rust-echo")]),
        &["--memory-limit-mib", "24"],
    );
    for (text, code) in [("oom", "MemoryLimitExceeded"), ("recurse", "BotTrapped")] {
        let mut activity = message("http://127.0.0.1:9/", text);
        activity["deliveryMode"] = json!("expectReplies");
        let (status, body) = post_activity(&host.url("/api/bots/bad/messages"), &activity).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
        assert_error(&body, code);
        assert_eq!(
            host.ask("echo", text).await,
            (StatusCode::OK, Some(format!("Echo: {text}")))
        );
        assert_eq!(
            host.ask("bad", "again").await,
            (StatusCode::OK, Some("ok: again".into()))
        );
    }
    // Rust guests keep their frames on a stack in linear memory: overflowing
    // it traps out of bounds, or exhausts the wasm call stack. The four
    // turns after the trap were logged after its reason.
    host.wait_for_count("turn done", 4).await;
    let log = host.log();
    assert!(
        log.contains("out of bounds memory access") || log.contains("call stack exhausted"),
        "the reason is logged"
    );
    assert_eq!(host.bot_status("bad").await.unwrap()["turns"]["failed"], 2);
    host.assert_no_panic();
}

#[tokio::test]
async fn turns_of_one_conversation_run_in_arrival_order() {
    let connector = Connector::start().await;
    let host = std::sync::Arc::new(Host::start(BotsDir::with(&[("slow", "misbehave")]), &[]));
    // Earlier turns sleep longer: run concurrently, their replies would come
    // out in reverse.
    let sleeps = [400, 300, 200, 100, 0];
    let mut turns = Vec::new();
    for (n, ms) in sleeps.iter().enumerate() {
        let mut activity = message(&connector.service_url(), &format!("sleep {ms}"));
        activity["id"] = json!(format!("m{n}"));
        let host2 = host.clone();
        turns.push(tokio::spawn(async move {
            post_activity(&host2.url("/api/bots/slow/messages"), &activity).await
        }));
        // Turn n has arrived before turn n+1 is sent.
        assert!(
            host.wait_for_log(&format!("activity_id=\"m{n}\"")).await,
            "turn {n} arrived"
        );
    }
    for turn in turns {
        assert_eq!(turn.await.unwrap().0, StatusCode::OK);
    }
    let order: Vec<String> = connector
        .received()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.body["replyToId"].as_str().unwrap(),
                r.body["text"].as_str().unwrap()
            )
        })
        .collect();
    let expected: Vec<String> = sleeps
        .iter()
        .enumerate()
        .map(|(n, ms)| format!("m{n} ok: sleep {ms}"))
        .collect();
    assert_eq!(order, expected);

    // Other conversations are not held up by a slow one.
    let mut slow = message(&connector.service_url(), "sleep 3000");
    slow["conversation"]["id"] = json!("slow-one");
    let host2 = host.clone();
    let slow_turn =
        tokio::spawn(
            async move { post_activity(&host2.url("/api/bots/slow/messages"), &slow).await },
        );
    assert!(host.wait_for_log("conversation=\"slow-one\"").await);
    assert_eq!(
        host.ask("slow", "quick").await,
        (StatusCode::OK, Some("ok: quick".into()))
    );
    assert!(
        !slow_turn.is_finished(),
        "the quick turn overtook the slow conversation"
    );
    assert_eq!(slow_turn.await.unwrap().0, StatusCode::OK);
}

#[tokio::test]
async fn past_the_concurrency_limit_turns_get_503() {
    let bots = BotsDir::with(&[("one", "misbehave")]);
    std::fs::write(
        bots.path().join("one.toml"),
        "[limits]\nmax_concurrent_turns = 1\n",
    )
    .unwrap();
    let host = std::sync::Arc::new(Host::start(bots, &[]));
    let mut long = message("http://127.0.0.1:9/", "sleep 2000");
    long["deliveryMode"] = json!("expectReplies");
    long["id"] = json!("long-turn");
    let host2 = host.clone();
    let running =
        tokio::spawn(
            async move { post_activity(&host2.url("/api/bots/one/messages"), &long).await },
        );
    assert!(host.wait_for_log("activity_id=\"long-turn\"").await);

    let response = client()
        .post(host.url("/api/bots/one/messages"))
        .json(&message("http://127.0.0.1:9/", "more"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("1".into())
    );
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "TooManyTurns");
    assert_eq!(running.await.unwrap().0, StatusCode::OK);
    assert_eq!(
        host.bot_status("one").await.unwrap()["turns"]["rejected"],
        1
    );
}
