//! The instance policy of the manifest: a fresh instance per turn by
//! default; under `instances.policy = "pooled"` warm instances that keep
//! guest memory between turns, are recycled after `max_turns` and dropped
//! after any trap or timeout.

use axum::http::StatusCode;

use crate::support::*;

fn bots_with_manifest(manifest: &str) -> BotsDir {
    BotsDir::with_manifest("bad", "misbehave", manifest)
}

async fn turns(host: &Host) -> String {
    let (status, text) = host.ask("bad", "turns").await;
    assert_eq!(status, StatusCode::OK, "{}", host.log());
    text.unwrap_or_default()
}

#[tokio::test]
async fn a_fresh_instance_keeps_nothing_between_turns() {
    let host = Host::start(BotsDir::with(&[("bad", "misbehave")]), &[]);
    for _ in 0..3 {
        assert_eq!(turns(&host).await, "turns=1");
    }
    let status = host.bot_status("bad").await.unwrap();
    assert_eq!(status["instances"]["policy"], "fresh", "{status}");
}

#[tokio::test]
async fn pooled_instances_are_reused_recycled_and_dropped_after_a_trap() {
    let host = Host::start(
        bots_with_manifest("[instances]\npolicy = \"pooled\"\npool_size = 1\nmax_turns = 3\n"),
        &["--turn-deadline-ms", "1000"],
    );
    // One warm instance serves three turns, then a new one takes over.
    let seen: Vec<String> = asked_in_a_row(&host, 4).await;
    assert_eq!(seen, ["turns=1", "turns=2", "turns=3", "turns=1"]);

    // A bot's own error leaves the instance sound: it is kept.
    let (status, _) = host.ask("bad", "fail").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(turns(&host).await, "turns=3");

    // A trap, and a turn past its deadline, drop the instance.
    for misbehaviour in ["trap", "loop"] {
        let (status, _) = host.ask("bad", misbehaviour).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{misbehaviour}");
        assert_eq!(turns(&host).await, "turns=1", "after {misbehaviour}");
    }

    let status = host.bot_status("bad").await.unwrap();
    let instances = &status["instances"];
    assert_eq!(instances["policy"], "pooled", "{status}");
    assert_eq!(instances["poolSize"], 1, "{status}");
    assert_eq!(instances["maxTurns"], 3, "{status}");
    assert_eq!(instances["idle"], 1, "{status}");
    // Instantiated: at the start; after 3 turns; after 3 more (for `trap`);
    // after `trap`; after `loop`.
    assert_eq!(instances["instantiations"], 5, "{status}");
    host.assert_no_panic();
}

/// `turns` asked `n` times in a row.
async fn asked_in_a_row(host: &Host, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        seen.push(turns(host).await);
    }
    seen
}

#[tokio::test]
async fn pool_settings_without_the_pooled_policy_are_refused() {
    let host = Host::start(bots_with_manifest("[instances]\npool_size = 2\n"), &[]);
    let status = host.bot_status("bad").await.unwrap();
    assert_eq!(status["state"], "failed", "{status}");
    let error = status["lastError"]["message"].as_str().unwrap_or_default();
    assert!(
        error.contains("bad.toml") && error.contains("pooled"),
        "{error}"
    );
}

#[tokio::test]
async fn the_native_echo_floor_answers_without_the_component() {
    // The component (misbehave) would answer `turns=1`: the floor echoes.
    let host = Host::start(
        bots_with_manifest("[instances]\npolicy = \"native-echo\"\n"),
        &[],
    );
    let (status, text) = host.ask("bad", "turns").await;
    assert_eq!(status, StatusCode::OK, "{}", host.log());
    assert_eq!(text.as_deref(), Some("Echo: turns"));
    let status = host.bot_status("bad").await.unwrap();
    assert_eq!(status["instances"]["policy"], "nativeEcho", "{status}");

    // In normal mode the reply goes to the channel, completed as any reply.
    let connector = Connector::start().await;
    let activity = message(&connector.service_url(), "hello");
    let (status, _) = post_activity(&host.url("/api/bots/bad/messages"), &activity).await;
    assert_eq!(status, StatusCode::OK);
    let received = connector.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].body["text"], "Echo: hello");
    assert_eq!(received[0].body["replyToId"], activity["id"]);
    assert_eq!(
        received[0].body["conversation"]["id"],
        activity["conversation"]["id"]
    );
}
