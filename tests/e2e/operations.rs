//! Operating the host: the status API, the metrics, graceful shutdown.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_status_api_describes_every_bot() {
    let bots = BotsDir::with(&[("echo", "rust-echo")]);
    std::fs::write(bots.path().join("broken.wasm"), b"not wasm").unwrap();
    let host = Host::start(bots, &[]);
    host.ask("echo", "count me").await;

    let echo = host.bot_status("echo").await.unwrap();
    assert_eq!(echo["state"], "serving");
    assert_eq!(echo["route"], "echo");
    let sha = echo["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(echo["version"], &sha[..12]);
    assert!(echo["loadedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(echo["limits"]["memoryMib"], 64);
    assert_eq!(echo["limits"]["turnDeadlineMs"], 10_000);
    assert_eq!(
        echo["turns"],
        json!({"ok": 1, "failed": 0, "timedOut": 0, "rejected": 0})
    );

    let broken = host.bot_status("broken").await.unwrap();
    assert_eq!(broken["state"], "failed");
    assert!(
        broken["lastError"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.wasm")
    );
}

#[tokio::test]
async fn metrics_count_turns_reloads_and_durations() {
    // A compile cache of its own: both bots are misses.
    let cache = tempfile::tempdir().unwrap();
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo"), ("bad", "misbehave")]),
        &["--cache-dir", cache.path().to_str().unwrap()],
    );
    host.ask("echo", "one").await;
    host.ask("echo", "two").await;
    assert_eq!(
        host.ask("bad", "trap").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let response = client().get(host.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    };
    assert_eq!(
        value("turnbox_turns_total{bot=\"echo\",outcome=\"ok\"}"),
        2.0
    );
    assert_eq!(
        value("turnbox_turns_total{bot=\"bad\",outcome=\"failed\"}"),
        1.0
    );
    assert_eq!(
        value("turnbox_turn_duration_seconds_count{bot=\"echo\"}"),
        2.0
    );
    assert_eq!(
        value("turnbox_instantiation_seconds_count{bot=\"echo\"}"),
        2.0
    );
    assert_eq!(
        value("turnbox_reloads_total{bot=\"echo\",result=\"loaded\"}"),
        1.0
    );
    assert_eq!(value("turnbox_compile_cache_total{result=\"miss\"}"), 2.0);
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn a_turn_in_flight_at_sigterm_completes() {
    let connector = Connector::start().await;
    let mut host = Host::start(BotsDir::with(&[("slow", "misbehave")]), &[]);
    let mut activity = message(&connector.service_url(), "sleep 1500");
    activity["id"] = json!("in-flight");
    let url = host.url("/api/bots/slow/messages");
    let turn = tokio::spawn(async move { post_activity(&url, &activity).await });
    assert!(host.wait_for_log("activity_id=\"in-flight\"").await);

    let exit = host.terminate().await.expect("the host exits");
    assert!(exit.success(), "exit status {exit:?}");
    let (status, _) = turn.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(connector.received().len(), 1);
    assert_eq!(connector.received()[0].body["text"], "ok: sleep 1500");
}
