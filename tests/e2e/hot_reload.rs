//! Hot reload: bots added, replaced and deleted while the host runs, bad
//! replacements, replacement under load, and the compile cache.

use axum::http::StatusCode;

use crate::support::*;

fn wasm(guest_name: &str) -> Vec<u8> {
    std::fs::read(guest(guest_name)).expect("built guest")
}

#[tokio::test]
async fn bots_are_added_replaced_and_deleted_while_serving() {
    let bots = BotsDir::with(&[]);
    let dir = bots.path().to_owned();
    let host = Host::start(bots, &[]);
    assert_eq!(host.ask("live", "a").await.0, StatusCode::NOT_FOUND);

    // Added: dropped in with an atomic rename.
    replace_atomically(&dir, "live.wasm", &wasm("rust-echo"));
    eventually("the new bot answers", || async {
        host.ask("live", "a").await == (StatusCode::OK, Some("Echo: a".into()))
    })
    .await;

    // Replaced in place, in chunks: the half-written file is never served.
    write_in_place(&dir.join("live.wasm"), &wasm("misbehave"), 3);
    eventually("the replacement answers", || async {
        host.ask("live", "b").await == (StatusCode::OK, Some("ok: b".into()))
    })
    .await;
    let status = host.bot_status("live").await.expect("listed");
    assert_eq!(status["state"], "serving");
    assert!(status["lastError"].is_null(), "{status}");

    // Deleted: the route goes away.
    std::fs::remove_file(dir.join("live.wasm")).unwrap();
    eventually("the deleted bot is gone", || async {
        host.ask("live", "c").await.0 == StatusCode::NOT_FOUND
    })
    .await;
    assert!(host.bot_status("live").await.is_none());
    host.assert_no_panic();
}

#[tokio::test]
async fn bad_replacements_keep_the_old_version_serving() {
    let bots = BotsDir::with(&[("keep", "rust-echo")]);
    let dir = bots.path().to_owned();
    let host = Host::start(bots, &[]);
    let good = wasm("rust-echo");
    let version = host.bot_status("keep").await.unwrap()["version"].clone();

    let mut random = vec![0u8; 4096];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    for (what, bytes) in [
        ("truncated", &good[..good.len() / 2]),
        ("random", &random[..]),
    ] {
        replace_atomically(&dir, "keep.wasm", bytes);
        eventually(&format!("the {what} file is reported"), || async {
            host.bot_status("keep").await.is_some_and(|s| {
                s["lastError"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not a valid WebAssembly component"))
            })
        })
        .await;
        let status = host.bot_status("keep").await.unwrap();
        assert_eq!(status["state"], "serving", "{what}: {status}");
        assert_eq!(status["version"], version, "{what}: the old version serves");
        assert_eq!(
            host.ask("keep", what).await,
            (StatusCode::OK, Some(format!("Echo: {what}")))
        );
    }

    // A good file written afterwards is picked up.
    replace_atomically(&dir, "keep.wasm", &wasm("misbehave"));
    eventually("the good replacement answers", || async {
        host.ask("keep", "x").await == (StatusCode::OK, Some("ok: x".into()))
    })
    .await;
    let status = host.bot_status("keep").await.unwrap();
    assert!(status["lastError"].is_null(), "{status}");
    assert_ne!(status["version"], version);
}

#[tokio::test]
async fn replacing_a_bot_under_load_drops_no_turn() {
    let bots = BotsDir::with(&[("swap", "rust-echo")]);
    let dir = bots.path().to_owned();
    let host = std::sync::Arc::new(Host::start(bots, &[]));
    let versions = [wasm("misbehave"), wasm("rust-echo")];

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for client in 0..4 {
        let host = host.clone();
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut answered = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = format!("{client}-{answered}");
                let (status, reply) = host.ask("swap", &text).await;
                assert_eq!(status, StatusCode::OK, "turn {text} failed during a reload");
                let reply = reply.expect("a reply");
                assert!(
                    reply == format!("Echo: {text}") || reply == format!("ok: {text}"),
                    "unexpected reply {reply}"
                );
                answered += 1;
            }
            answered
        }));
    }

    for swap in 0..20 {
        let (bytes, expected) = if swap % 2 == 0 {
            (&versions[0], "ok: probe")
        } else {
            (&versions[1], "Echo: probe")
        };
        replace_atomically(&dir, "swap.wasm", bytes);
        eventually(&format!("swap {swap} is served"), || async {
            host.ask("swap", "probe").await.1.as_deref() == Some(expected)
        })
        .await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for task in load {
        total += task.await.expect("a load client failed");
    }
    assert!(total > 0, "the load clients ran turns");
    host.assert_no_panic();
}

#[tokio::test]
async fn a_manifest_change_reloads_the_bot() {
    let bots = BotsDir::with(&[("conf", "misbehave")]);
    let dir = bots.path().to_owned();
    let host = Host::start(bots, &[]);
    assert_eq!(
        host.ask("conf", "config colour").await.1.as_deref(),
        Some("config colour=-")
    );

    replace_atomically(&dir, "conf.toml", b"[config]\ncolour = \"teal\"\n");
    eventually("the manifest is applied", || async {
        host.ask("conf", "config colour").await.1.as_deref() == Some("config colour=teal")
    })
    .await;

    // A route change moves the bot.
    replace_atomically(&dir, "conf.toml", b"route = \"moved\"\n");
    eventually("the bot moves to its new route", || async {
        host.ask("moved", "x").await.0 == StatusCode::OK
    })
    .await;
    assert_eq!(host.ask("conf", "x").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_restart_loads_bots_from_the_compile_cache() {
    let bots = BotsDir::with(&[("one", "rust-echo"), ("two", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let metric = |text: &str, result: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "turnbox_compile_cache_total{{result=\"{result}\"}}"
                ))
            })
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };

    let first = Host::start_in(bots.path(), data.path(), &[]);
    assert_eq!(cache_outcomes(&first, &["one", "two"]).await, ["miss"; 2]);
    drop(first);

    let second = Host::start_in(bots.path(), data.path(), &[]);
    assert_eq!(cache_outcomes(&second, &["one", "two"]).await, ["hit"; 2]);
    let metrics = second.get_text("/metrics").await;
    assert_eq!(metric(&metrics, "hit"), 2, "{metrics}");
    assert_eq!(
        second.ask("one", "cached").await.1.as_deref(),
        Some("Echo: cached")
    );
    drop(second);

    // A corrupted cache file is recompiled, not trusted.
    let cache_dir = data.path().join("cache");
    for entry in std::fs::read_dir(&cache_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            // The cache writes its files read-only: replaced, as an
            // attacker with the folder's rights could.
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let third = Host::start_in(bots.path(), data.path(), &[]);
    assert_eq!(
        cache_outcomes(&third, &["one", "two"]).await,
        ["corrupt"; 2]
    );
    assert_eq!(
        third.ask("two", "fresh").await.1.as_deref(),
        Some("ok: fresh")
    );
}

/// How each of `bots` got its compiled component (`compileCache` in
/// `/api/bots`).
async fn cache_outcomes(host: &Host, bots: &[&str]) -> Vec<String> {
    let mut outcomes = Vec::new();
    for bot in bots {
        let status = host.bot_status(bot).await.expect("the bot's status");
        outcomes.push(
            status["compileCache"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    outcomes
}

#[tokio::test]
async fn bots_with_the_same_bytes_share_one_compiled_component() {
    let bots = BotsDir::with(&[("a", "rust-echo"), ("b", "rust-echo"), ("c", "misbehave")]);
    let dir = bots.path().to_owned();
    // A compile cache of its own: the first compile of each is a miss.
    let cache = tempfile::tempdir().unwrap();
    let host = Host::start(bots, &["--cache-dir", cache.path().to_str().unwrap()]);
    let mut outcomes = cache_outcomes(&host, &["a", "b", "c"]).await;
    outcomes[..2].sort();
    assert_eq!(
        outcomes,
        ["miss", "shared", "miss"],
        "one compile for a and b"
    );
    for bot in ["a", "b"] {
        assert_eq!(host.ask(bot, "x").await.1.as_deref(), Some("Echo: x"));
    }

    // Replaced by the other bot's bytes, `a` shares `c`'s component; and
    // back, `b`'s, which `b` still holds.
    for (bytes, expected) in [("misbehave", "ok: y"), ("rust-echo", "Echo: y")] {
        replace_atomically(&dir, "a.wasm", &wasm(bytes));
        eventually("the replacement answers", || async {
            host.ask("a", "y").await.1.as_deref() == Some(expected)
        })
        .await;
        assert_eq!(
            host.bot_status("a").await.unwrap()["compileCache"],
            "shared"
        );
    }
    host.assert_no_panic();
}

#[tokio::test]
async fn a_reload_does_not_set_off_another_by_reading_the_files() {
    let bots = BotsDir::with(&[("calm", "rust-echo")]);
    let dir = bots.path().to_owned();
    let host = Host::start_with(
        bots,
        &[],
        &[("RUST_LOG", "info,turnbox::bots::watch=debug")],
    );
    std::fs::write(dir.join("calm.toml"), "[limits]\nturn_deadline_ms = 5000\n").unwrap();
    assert!(host.wait_for_log("folder change handled").await);
    // The reload opened and read the bot's files; those reads are not
    // changes, so nothing more happens while nobody touches the folder.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let handled = host.log().matches("folder change handled").count();
    assert!(
        handled <= 2,
        "{handled} reloads after one change:\n{}",
        host.log()
    );
    assert_eq!(host.ask("calm", "a").await.0, StatusCode::OK);
}

/// The cache entries of two bots swapped (each artifact with its own tag)
/// fail verification, since a tag binds its artifact to the wasm it was
/// compiled from; an artifact whose tag is gone is a miss (another host may
/// be writing it), recompiled, not trusted.
#[tokio::test]
async fn a_swapped_cache_entry_is_corrupt_and_one_without_its_tag_a_miss() {
    let bots = BotsDir::with(&[("one", "rust-echo"), ("two", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    drop(Host::start_in(bots.path(), data.path(), &[]));

    let cache_dir = data.path().join("cache");
    let artifacts: Vec<std::path::PathBuf> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 2, "{artifacts:?}");
    let swap = |a: &std::path::Path, b: &std::path::Path| {
        let aside = cache_dir.join("aside");
        std::fs::rename(a, &aside).unwrap();
        std::fs::rename(b, a).unwrap();
        std::fs::rename(&aside, b).unwrap();
    };
    let tag = |path: &std::path::Path| path.with_extension("tag");
    swap(&artifacts[0], &artifacts[1]);
    swap(&tag(&artifacts[0]), &tag(&artifacts[1]));

    let swapped = Host::start_in(bots.path(), data.path(), &[]);
    assert_eq!(
        cache_outcomes(&swapped, &["one", "two"]).await,
        ["corrupt"; 2]
    );
    assert_eq!(
        swapped.ask("one", "still me").await.1.as_deref(),
        Some("Echo: still me")
    );
    drop(swapped);

    for artifact in &artifacts {
        std::fs::remove_file(tag(artifact)).unwrap();
    }
    let untagged = Host::start_in(bots.path(), data.path(), &[]);
    assert_eq!(
        cache_outcomes(&untagged, &["one", "two"]).await,
        ["miss"; 2]
    );
    assert_eq!(
        untagged.ask("two", "fresh").await.1.as_deref(),
        Some("ok: fresh")
    );
}
