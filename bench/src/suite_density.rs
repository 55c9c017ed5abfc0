//! `bench-suite`'s density part: 100 echo bots on one host, as copies of
//! one file (one compile, shared) and as 100 *distinct* files (the same
//! component, each with its own custom section, so each compiles on its
//! own), and the distinct files with `--tiered-compile` (start on Winch,
//! optimised in the background): start-up to `/healthz` with no compile
//! cache and with a warm one (tiered: also until every bot runs optimised
//! code), each the median and range of several runs, resident memory after
//! loading, and after 10,000 turns spread over the bots.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnbox_bench::*;

const BOTS: usize = 100;
const TURNS: u64 = 10_000;
/// Start-ups measured per kind (cold and warm each).
const RUNS: usize = 3;

/// `wasm` with a custom section `turnbox-bench-nonce` holding `n`: a
/// different file (and cache key) with the same behaviour.
fn distinct(wasm: &[u8], n: usize) -> Vec<u8> {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"turnbox-bench-nonce";
    let payload = n.to_string();
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(payload.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0); // a custom section
    leb128(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Median, min and max of `values` (ms), printed and as JSON.
fn summary(values: &mut [f64]) -> Value {
    values.sort_by(f64::total_cmp);
    json!({"median": percentile(values, 0.5), "min": values[0], "max": values[values.len() - 1], "runs": values.to_vec()})
}

/// Waits until no bot of the host at `addr` runs baseline code.
async fn until_optimised(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status: Value = client
            .get(format!("http://{addr}/api/bots"))
            .send()
            .await?
            .json()
            .await?;
        let baseline = status["bots"].as_array().map_or(0, |bots| {
            bots.iter()
                .filter(|b| b["compileCache"] == "baseline")
                .count()
        });
        if baseline == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{baseline} bots still on baseline code"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One kind of folder: `copies`, `distinct` or `distinct-tiered`.
async fn one_kind(kind: &str, connections: usize) -> anyhow::Result<Value> {
    let echo = std::fs::read(guest("sample-echo-rs")?)?;
    let scratch = std::env::temp_dir().join(format!(
        "turnbox-bench-density-{kind}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&scratch);
    let (bots, data) = (scratch.join("bots"), scratch.join("data"));
    std::fs::create_dir_all(&bots)?;
    let routes: Vec<String> = (0..BOTS).map(|n| format!("echo{n:03}")).collect();
    for (n, route) in routes.iter().enumerate() {
        let bytes = if kind == "copies" {
            echo.clone()
        } else {
            distinct(&echo, n)
        };
        std::fs::write(bots.join(format!("{route}.wasm")), bytes)?;
    }
    let flags: &[&str] = if kind == "distinct-tiered" {
        &["--tiered-compile"]
    } else {
        &[]
    };
    let (mut cold, mut warm, mut optimised) = (Vec::new(), Vec::new(), Vec::new());
    let (mut after_load, mut after_turns, mut after_warm_start) = (0, 0, 0);
    let mut turns = None;
    for run in 0..RUNS {
        let _ = std::fs::remove_dir_all(&data);
        let started = Instant::now();
        let host = HostProcess::start(&bots, &data, flags)?;
        cold.push(host.wait_ready(started).await?.as_secs_f64() * 1e3);
        if !flags.is_empty() {
            until_optimised(host.addr()).await?;
            optimised.push(started.elapsed().as_secs_f64() * 1e3);
        }
        if run == 0 {
            after_load = host.resident_bytes()?;
            let result = run_load(
                &Load {
                    addr: host.addr(),
                    paths: routes.iter().map(|route| bot_path(route)).collect(),
                    concurrency: connections,
                    duration: Duration::from_secs(600),
                    expect_replies: true,
                    service_url: "http://127.0.0.1:9/".into(),
                    max_turns: Some(TURNS),
                    get_only: false,
                    text: "hi".into(),
                },
                &format!("density-{kind}"),
            )
            .await?;
            anyhow::ensure!(result.failed == 0, "{} density turns failed", result.failed);
            after_turns = host.resident_bytes()?;
            turns = Some(result);
        }
        drop(host);
        let started = Instant::now();
        let host = HostProcess::start(&bots, &data, flags)?;
        warm.push(host.wait_ready(started).await?.as_secs_f64() * 1e3);
        if run == 0 {
            after_warm_start = host.resident_bytes()?;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let turns = turns.ok_or_else(|| anyhow::anyhow!("no turns were run"))?;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let (cold, warm) = (summary(&mut cold), summary(&mut warm));
    let optimised = (!optimised.is_empty()).then(|| summary(&mut optimised));
    if let Some(optimised) = &optimised {
        println!(
            "  {kind}: every bot optimised {:.0} ms after start ({:.0}–{:.0})",
            optimised["median"].as_f64().unwrap_or(0.0),
            optimised["min"].as_f64().unwrap_or(0.0),
            optimised["max"].as_f64().unwrap_or(0.0),
        );
    }
    println!(
        "  {kind}: start-up: {:.0} ms with no compile cache ({:.0}–{:.0}), {:.0} ms with a warm one ({:.0}–{:.0}); {RUNS} runs each",
        cold["median"].as_f64().unwrap_or(0.0),
        cold["min"].as_f64().unwrap_or(0.0),
        cold["max"].as_f64().unwrap_or(0.0),
        warm["median"].as_f64().unwrap_or(0.0),
        warm["min"].as_f64().unwrap_or(0.0),
        warm["max"].as_f64().unwrap_or(0.0),
    );
    println!(
        "  {kind}: resident {:.0} MiB after a cold start (tiered: once optimised), {:.0} MiB after {} turns over them ({:.0} turns/s), {:.0} MiB after a warm start",
        mib(after_load),
        mib(after_turns),
        turns.turns,
        turns.turns_per_second,
        mib(after_warm_start)
    );
    Ok(json!({
        "bots": BOTS, "turns": turns.turns, "turns_per_second": turns.turns_per_second,
        "startup_cold_ms": cold, "startup_warm_ms": warm, "optimised_after_ms": optimised,
        "resident_mib_after_load": mib(after_load), "resident_mib_after_turns": mib(after_turns),
        "resident_mib_after_warm_start": mib(after_warm_start),
    }))
}

/// 6: both kinds of folder.
pub async fn density(connections: usize) -> anyhow::Result<Value> {
    println!(
        "density, {BOTS} echo bots, as copies of one file and as distinct files (also tiered):"
    );
    Ok(json!({
        "copies": one_kind("copies", connections).await?,
        "distinct": one_kind("distinct", connections).await?,
        "distinct_tiered": one_kind("distinct-tiered", connections).await?,
    }))
}
