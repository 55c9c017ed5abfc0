//! Turns per second over real HTTP: starts the `turnbox` binary on a bots
//! folder holding one example bot (fresh or pooled instances), then keeps
//! CONCURRENCY connections posting `expectReplies` echo activities for
//! SECONDS on loopback, and prints turns/s, p50 and p99. The load generator
//! shares the machine with the host, as the botbuilder-js figures it is
//! compared with did. With `attack`, a hostile bot on the same host is kept
//! busy meanwhile (endless loops, memory bombs, 100k-send floods, each cut
//! by its limits), to measure what an attack costs a well-behaved bot.
//! Writes `bench/results/http-load-BOT-POLICY[-attack].json`.
//!
//!   guest-examples/build.sh && cargo build --release -p turnbox -p turnbox-bench
//!   target/release/http-load js-echo pooled 32 10 [attack]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use turnbox_bench::{HostProcess, percentile};

/// The warm-instance manifest: one instance per connection (a turn that
/// finds none idle instantiates a fresh one), never recycled within the run.
const POOLED: &str = "[instances]\npolicy = \"pooled\"\npool_size = 32\nmax_turns = 1000000\n";

/// The hostile bot's manifest: a short deadline, small memory.
const HOSTILE: &str = "[limits]\nturn_deadline_ms = 1000\nmemory_mib = 32\n";

/// What the attackers send, one attacker each.
const ATTACKS: [&str; 4] = ["loop", "loop", "oom", "spam 100000"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bot = args
        .first()
        .map(String::as_str)
        .unwrap_or("js-echo")
        .to_owned();
    let policy = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("pooled")
        .to_owned();
    let concurrency: usize = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(32);
    let seconds: u64 = args.get(3).map(|n| n.parse()).transpose()?.unwrap_or(10);
    let attack = args.get(4).map(String::as_str) == Some("attack");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    let wasm = root.join(format!("target/guests/bots/{bot}.wasm"));
    anyhow::ensure!(
        wasm.is_file(),
        "{} is missing: run guest-examples/build.sh",
        wasm.display()
    );

    let work = std::env::temp_dir().join(format!("turnbox-http-load-{}", std::process::id()));
    let (bots, data) = (work.join("bots"), work.join("data"));
    std::fs::create_dir_all(&bots)?;
    std::fs::copy(&wasm, bots.join("bot.wasm"))?;
    match policy.as_str() {
        "pooled" => std::fs::write(bots.join("bot.toml"), POOLED)?,
        "fresh" => {}
        other => bail!("policy must be fresh or pooled, not {other}"),
    }
    if attack {
        let hostile = root.join("target/guests/bots/misbehave.wasm");
        std::fs::copy(&hostile, bots.join("hostile.wasm"))?;
        std::fs::write(bots.join("hostile.toml"), HOSTILE)?;
    }
    let host = HostProcess::start(&bots, &data, &[])?;
    let port = host.port;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("http://127.0.0.1:{port}/api/bots/bot/messages");
    let activity = json!({
        "type": "message", "id": "a1", "text": "hi", "channelId": "bench",
        "serviceUrl": "http://127.0.0.1:9/", "deliveryMode": "expectReplies",
        "from": {"id": "user"}, "recipient": {"id": "bot"}, "conversation": {"id": "c"}
    });

    // Ready once the bot answers (the first load compiles it).
    let ready_by = Instant::now() + Duration::from_secs(120);
    loop {
        let answered = client.post(&url).json(&activity).send().await;
        if matches!(&answered, Ok(r) if r.status().is_success()) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < ready_by,
            "the host did not answer: {answered:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let body = Arc::new(serde_json::to_vec(&activity)?);
    let run = |run: &'static str, duration: Duration| {
        let workers: Vec<_> = (0..concurrency)
            .map(|worker| {
                let (client, url, body) = (client.clone(), url.clone(), body.clone());
                tokio::spawn(async move {
                    // One conversation per connection: turns of one
                    // conversation run in order, by design.
                    let mut activity: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    activity["conversation"]["id"] = json!(format!("c{worker}"));
                    let (mut micros, mut failed) = (Vec::new(), 0u64);
                    let end = Instant::now() + duration;
                    let mut sent = 0u64;
                    while Instant::now() < end {
                        // A new id per request, as channels send: the host
                        // answers a repeated id from its de-duplication record.
                        sent += 1;
                        activity["id"] = json!(format!("{run}-{worker}-{sent}"));
                        let body = serde_json::to_vec(&activity).unwrap_or_default();
                        let started = Instant::now();
                        let ok = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        if ok {
                            micros.push(started.elapsed().as_secs_f64() * 1e6);
                        } else {
                            failed += 1;
                        }
                    }
                    (micros, failed)
                })
            })
            .collect();
        async move {
            let (mut micros, mut failed) = (Vec::new(), 0);
            for worker in workers {
                let (m, f) = worker.await.unwrap_or_default();
                micros.extend(m);
                failed += f;
            }
            (micros, failed)
        }
    };
    run("warm", Duration::from_secs(2)).await;
    let stop_attack = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = if attack {
        ATTACKS
            .iter()
            .enumerate()
            .map(|(n, text)| {
                let (client, stop) = (client.clone(), stop_attack.clone());
                let url = format!("http://127.0.0.1:{port}/api/bots/hostile/messages");
                let activity = json!({
                    "type": "message", "text": text, "channelId": "bench",
                    "serviceUrl": "http://127.0.0.1:9/", "deliveryMode": "expectReplies",
                    "from": {"id": "attacker"}, "recipient": {"id": "bot"},
                    "conversation": {"id": format!("attack-{n}")}
                });
                tokio::spawn(async move {
                    let mut turns = 0u64;
                    let mut activity = activity;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        activity["id"] = json!(format!("attack-{n}-{turns}"));
                        let _ = client.post(&url).json(&activity).send().await;
                        turns += 1;
                    }
                    turns
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let started = Instant::now();
    let (mut micros, failed) = run("timed", Duration::from_secs(seconds)).await;
    stop_attack.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut hostile_turns = 0;
    for attacker in attackers {
        hostile_turns += attacker.await.unwrap_or_default();
    }
    let elapsed = started.elapsed().as_secs_f64();
    micros.sort_by(f64::total_cmp);
    anyhow::ensure!(!micros.is_empty(), "no turn succeeded");
    let per_second = micros.len() as f64 / elapsed;
    let (p50, p99) = (percentile(&micros, 0.5), percentile(&micros, 0.99));
    let label = if attack {
        format!("{policy}-attack")
    } else {
        policy.clone()
    };
    println!(
        "{bot} {label}: {per_second:.0} turns/s, p50 {:.2} ms, p99 {:.2} ms, {concurrency} connections, {} turns, {failed} failed, {hostile_turns} hostile turns",
        p50 / 1e3,
        p99 / 1e3,
        micros.len()
    );
    let results = root.join("bench/results");
    std::fs::create_dir_all(&results)?;
    let report = json!({"benchmark": "http-load", "bot": bot, "policy": policy, "attack": attack,
        "hostile_turns": hostile_turns, "concurrency": concurrency, "seconds": seconds,
        "turns": micros.len(), "failed": failed, "turns_per_second": per_second,
        "p50_ms": p50 / 1e3, "p99_ms": p99 / 1e3});
    std::fs::write(
        results.join(format!("http-load-{bot}-{label}.json")),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
