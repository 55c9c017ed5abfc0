//! Crash durability: the host is killed with SIGKILL in the middle of a load
//! of state-writing turns. After a restart on the same data, every write
//! whose turn was answered 200 is there, and nothing is corrupt. The same
//! with `--sqlite-exclusive` (the WAL index in the host's memory), which
//! also keeps every other process out of the database while the host runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

const CONVERSATIONS: usize = 8;

/// `text` in conversation `conversation` under `expectReplies`; `None` once
/// the host is gone.
async fn try_ask(url: &str, conversation: usize, text: &str) -> Option<(StatusCode, String)> {
    let mut activity = message("http://127.0.0.1:9/", text);
    activity["conversation"]["id"] = json!(format!("durable-{conversation}"));
    activity["deliveryMode"] = json!("expectReplies");
    let response = client().post(url).json(&activity).send().await.ok()?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.ok()?;
    let text = body["activities"][0]["text"].as_str().unwrap_or_default();
    Some((status, text.to_owned()))
}

/// Another process's read of the host's database while it runs.
fn read_from_outside(data: &std::path::Path) -> rusqlite::Result<i64> {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("state.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    conn.query_row("SELECT count(*) FROM delivered", [], |row| row.get(0))
}

#[tokio::test]
async fn answered_writes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    kill_9_under_load(data.path(), &[]).await;
}

#[tokio::test]
async fn answered_writes_survive_kill_9_on_an_exclusive_database() {
    let data = tempfile::tempdir().unwrap();
    kill_9_under_load(data.path(), &["--sqlite-exclusive"]).await;
}

/// Counts up in several conversations until a SIGKILL, restarts on the
/// same data with `args` and checks each conversation's count.
async fn kill_9_under_load(data: &std::path::Path, args: &[&str]) {
    let exclusive = args.contains(&"--sqlite-exclusive");
    let bots = BotsDir::with(&[("bot", "misbehave")]);
    let host = Host::start_in(bots.path(), data, args);
    let url = host.url("/api/bots/bot/messages");
    let (status, _) = try_ask(&url, 0, "incr conversation warm").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{}", host.log());
    match read_from_outside(data) {
        Ok(rows) if !exclusive => assert!(rows >= 1, "{rows}"),
        Err(err) if exclusive => assert!(err.to_string().contains("locked"), "{err}"),
        other => panic!("exclusive={exclusive}: another process's read gave {other:?}"),
    }

    // Each conversation counts up, one turn after another, until the host
    // dies; the highest count answered 200 is remembered.
    let answered: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
    let writers: Vec<_> = (0..CONVERSATIONS)
        .map(|c| {
            let (url, answered) = (url.clone(), answered.clone());
            tokio::spawn(async move {
                while let Some((status, text)) = try_ask(&url, c, "incr conversation n").await {
                    if status != StatusCode::OK {
                        break;
                    }
                    let n: u64 = text.trim_start_matches("n=").parse().unwrap();
                    answered.lock().unwrap().insert(c, n);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &host.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for writer in writers {
        writer.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert_eq!(answered.len(), CONVERSATIONS, "every conversation wrote");
    drop(host);

    let host = Host::start_in(bots.path(), data, args);
    let url = host.url("/api/bots/bot/messages");
    for (c, n) in answered {
        let (status, stored) = try_ask(&url, c, "state get conversation n").await.unwrap();
        assert_eq!(status, StatusCode::OK, "{}", host.log());
        let stored: u64 = stored.parse().unwrap_or_else(|_| panic!("{c}: `{stored}`"));
        // The turn in flight at the kill may have committed unanswered.
        assert!(
            stored == n || stored == n + 1,
            "conversation {c}: answered {n}, stored {stored}"
        );
    }
    host.assert_no_panic();
}
