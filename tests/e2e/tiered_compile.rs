//! `--tiered-compile`: bots the compile cache lacks start on the baseline
//! compiler (Winch) and serve at once; the host then recompiles them
//! optimised, one at a time, and swaps each in as a hot reload does,
//! dropping no turn. Baseline code keeps the sandbox: a memory bomb meets
//! the memory limit and a loop is cut at the turn's deadline.

use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::support::*;

/// `wasm` with a custom section holding `n`: a different file (and compile)
/// with the same behaviour.
fn distinct(wasm: &[u8], n: u8) -> Vec<u8> {
    let name = b"turnbox-test-nonce";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.push(n);
    let mut out = wasm.to_vec();
    out.push(0); // a custom section; its size fits one LEB128 byte
    out.push(section.len() as u8);
    out.extend_from_slice(&section);
    out
}

fn metric(text: &str, result: &str) -> u64 {
    text.lines()
        .find(|l| {
            l.starts_with(&format!(
                "turnbox_compile_cache_total{{result=\"{result}\"}}"
            ))
        })
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn baseline_code_serves_at_once_and_optimised_code_replaces_it() {
    let bots = BotsDir::with(&[("zz-bad", "misbehave")]);
    // Eight distinct echo bots sort before `zz-bad`: their optimised
    // recompiles, one at a time, keep it on baseline code for a while.
    let echo = std::fs::read(guest("rust-echo")).unwrap();
    for n in 0..8 {
        std::fs::write(
            bots.path().join(format!("echo{n}.wasm")),
            distinct(&echo, n),
        )
        .unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let host = Host::start(
        bots,
        &[
            "--tiered-compile",
            "--cache-dir",
            cache.path().to_str().unwrap(),
            "--turn-deadline-ms",
            "1500",
            "--memory-limit-mib",
            "32",
        ],
    );

    // The last bot is still on baseline code: it answers, and a loop is
    // cut at the deadline as on optimised code.
    assert_eq!(
        host.bot_status("zz-bad").await.unwrap()["compileCache"],
        "baseline"
    );
    assert_eq!(
        host.ask("zz-bad", "fine").await,
        (StatusCode::OK, Some("ok: fine".into()))
    );
    // A memory bomb meets the same limit as on optimised code (baseline
    // instances are allocated on demand, not from the pool).
    let mut bomb = message("http://127.0.0.1:9/", "oom");
    bomb["deliveryMode"] = serde_json::json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/zz-bad/messages"), &bomb).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_error(&body, "MemoryLimitExceeded");
    assert_eq!(
        host.bot_status("zz-bad").await.unwrap()["compileCache"],
        "baseline",
        "the memory bomb ran on baseline code"
    );
    let mut looping = message("http://127.0.0.1:9/", "loop");
    looping["deliveryMode"] = serde_json::json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/zz-bad/messages"), &looping).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_error(&body, "TurnTimeout");

    // Turns are answered all through the recompiles, until every bot runs
    // optimised code.
    let names: Vec<String> = (0..8)
        .map(|n| format!("echo{n}"))
        .chain(["zz-bad".to_owned()])
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut asked = 0;
    loop {
        let route = &names[asked % 8];
        let text = format!("during {asked}");
        assert_eq!(
            host.ask(route, &text).await,
            (StatusCode::OK, Some(format!("Echo: {text}"))),
            "{route}"
        );
        asked += 1;
        let mut left = Vec::new();
        for name in &names {
            let status = host.bot_status(name).await.unwrap();
            if status["compileCache"] == "baseline" {
                left.push(name.clone());
            }
        }
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still on baseline code: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = host.get_text("/metrics").await;
    assert_eq!(metric(&metrics, "baseline"), 9, "{metrics}");
    assert_eq!(metric(&metrics, "miss"), 9, "{metrics}");
    assert!(host.wait_for_log("optimised code serves the bots").await);

    // Optimised: the same answers, the same limits.
    assert_eq!(
        host.ask("zz-bad", "fine").await,
        (StatusCode::OK, Some("ok: fine".into()))
    );
    let (status, body) = post_activity(&host.url("/api/bots/zz-bad/messages"), &looping).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_error(&body, "TurnTimeout");
    assert_eq!(
        host.ask("echo7", "after").await,
        (StatusCode::OK, Some("Echo: after".into()))
    );
    host.assert_no_panic();
}

/// Without the flag nothing changes: bots compile optimised at start-up.
#[tokio::test]
async fn without_the_flag_bots_compile_optimised_at_start_up() {
    let cache = tempfile::tempdir().unwrap();
    let host = Host::start(
        BotsDir::with(&[("echo", "rust-echo")]),
        &["--cache-dir", cache.path().to_str().unwrap()],
    );
    assert_eq!(
        host.bot_status("echo").await.unwrap()["compileCache"],
        "miss"
    );
    let metrics = host.get_text("/metrics").await;
    assert_eq!(metric(&metrics, "baseline"), 0, "{metrics}");
}
