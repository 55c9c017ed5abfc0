//! The benchmark harness (`cargo xtask bench` builds everything in release
//! and runs this): in one run on this machine, with the load generator on
//! the same cores,
//!
//! 1. turn throughput and latency of the Rust echo bot (`sample-echo-rs`,
//!    botbuilder's echo sample on turnbox's SDK: no state) in `expectReplies`
//!    mode over HTTP on loopback (32 connections, `--seconds`, 10);
//! 2. the same in normal mode, replies posted to a fast connector stand-in;
//! 3. the native floor: the same host and ingress with the echo written in
//!    Rust in the host (`[instances] policy = "native-echo"`), and the ratio;
//!    pooled instances too, for reference;
//!    and the Bot Framework SDK's echo bot (botbuilder-js 4.23 on restify,
//!    `bench/botbuilder-js`; botbuilder-python 4.17 on aiohttp,
//!    `bench/botbuilder-python`) under the same load, both modes, beside
//!    the same sample on turnbox's SDK in JavaScript (fresh and pooled, on
//!    StarlingMonkey and on QuickJS: `sample-echo-qjs`) and Python (pooled);
//!    where a turn's time goes: the same load on a bare hyper server, on
//!    turnbox's `/healthz`, on the native echo without and with
//!    de-duplication and on the wasm echo, with the CPU per answer;
//! 4. throughput against concurrency, wasm and native, drawn as an SVG;
//! 5. hot-reload latency: the bot file replaced 20 times, alternating two
//!    bots, from the rename to the first reply of the new version;
//! 6. density and start-up (`suite_density.rs`): 100 echo bots, as copies
//!    of one file and as distinct files, resident memory after loading and
//!    after 10,000 turns spread over them, and start-up with no compile
//!    cache and with a warm one (median and range of several runs).
//!
//! `--load wrk` runs the timed loads on `wrk` (`bench/src/wrk.rs`) instead
//! of the harness's own load generator.
//!
//! The sandbox cost per turn is `turn-cost` (run by the xtask beside this).
//! Writes `bench/results/suite.json` and `bench/results/throughput.svg`, and
//! prints a summary.
//!
//!   cargo xtask bench            # or, with a release build at hand:
//!   target/release/bench-suite [--seconds N] [--load wrk] [--only throughput|sdk|costs|curve|reload|density]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use turnbox_bench::*;

mod suite_density;
use suite_density::density;

/// Pooled instances, never recycled within a run, one per connection: in
/// normal mode each turn waits for the connector while it holds its
/// instance, and a turn that finds none idle instantiates a fresh one.
const POOLED: &str = "[instances]\npolicy = \"pooled\"\npool_size = 32\nmax_turns = 1000000\n";
const NATIVE: &str = "[instances]\npolicy = \"native-echo\"\n";
const CONCURRENCY: usize = 32;
const CURVE: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
const SWAPS: usize = 20;

struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("turnbox-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bots"))?;
        Ok(Scratch(dir))
    }
    fn bots(&self) -> std::path::PathBuf {
        self.0.join("bots")
    }
    fn data(&self) -> std::path::PathBuf {
        self.0.join("data")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A host serving the Rust echo sample as `bot`, with `manifest` if any:
/// like the native echo and botbuilder's sample, it keeps no state.
async fn echo_host(
    manifest: Option<&str>,
    extra: &[&str],
) -> anyhow::Result<(HostProcess, Scratch)> {
    bot_host("sample-echo-rs", manifest, extra).await
}

/// A host serving the example `example` as `bot`, with `manifest` if any.
async fn bot_host(
    example: &str,
    manifest: Option<&str>,
    extra: &[&str],
) -> anyhow::Result<(HostProcess, Scratch)> {
    let scratch = Scratch::new("echo")?;
    std::fs::copy(guest(example)?, scratch.bots().join("bot.wasm"))?;
    if let Some(manifest) = manifest {
        std::fs::write(scratch.bots().join("bot.toml"), manifest)?;
    }
    let host = HostProcess::start(&scratch.bots(), &scratch.data(), extra)?;
    host.wait_ready(Instant::now()).await?;
    Ok((host, scratch))
}

fn load(
    host: &HostProcess,
    path: &str,
    concurrency: usize,
    seconds: f64,
    expect_replies: bool,
    service_url: &str,
) -> Load {
    Load {
        addr: host.addr(),
        paths: vec![path.to_owned()],
        concurrency,
        duration: Duration::from_secs_f64(seconds),
        expect_replies,
        service_url: service_url.to_owned(),
        max_turns: None,
        get_only: false,
        text: "hi".into(),
    }
}

/// One second of `load`, not measured.
async fn warm_up(load: &Load, label: &str) -> anyhow::Result<()> {
    let mut warm = load.clone();
    warm.duration = Duration::from_secs(1);
    run_load(&warm, &format!("{label}-warm")).await?;
    Ok(())
}

/// A warm-up, then the timed run.
async fn measure(load: &Load, label: &str) -> anyhow::Result<LoadResult> {
    warm_up(load, label).await?;
    let result = run_load(load, label).await?;
    println!(
        "  {label:<34} {:>8.0} turns/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} connections, {} failed)",
        result.turns_per_second, result.p50_ms, result.p99_ms, result.concurrency, result.failed
    );
    Ok(result)
}

/// `expectReplies`, then normal mode against the connector stand-in (the
/// run fails unless every answered turn's reply reached it), on `path`.
async fn both_modes(
    server: &HostProcess,
    path: &str,
    seconds: f64,
    connector: &FastConnector,
    name: &str,
) -> anyhow::Result<Value> {
    let expect = measure(
        &load(
            server,
            path,
            CONCURRENCY,
            seconds,
            true,
            "http://127.0.0.1:9/",
        ),
        &format!("{name} expectReplies"),
    )
    .await?;
    let before = connector.calls.load(std::sync::atomic::Ordering::Relaxed);
    let normal = measure(
        &load(
            server,
            path,
            CONCURRENCY,
            seconds,
            false,
            &connector.service_url(),
        ),
        &format!("{name} normal (connector stand-in)"),
    )
    .await?;
    let replies = connector.calls.load(std::sync::atomic::Ordering::Relaxed) - before;
    anyhow::ensure!(
        replies >= normal.turns as u64,
        "{name}: {} turns answered but only {replies} replies reached the connector",
        normal.turns
    );
    Ok(json!({"expect_replies": expect, "normal": normal}))
}

/// 1–3: expectReplies and normal mode, wasm (fresh and pooled) and native.
async fn throughput(seconds: f64, connector: &FastConnector) -> anyhow::Result<Value> {
    println!("throughput, {CONCURRENCY} connections, {seconds} s each:");
    let mut rows = serde_json::Map::new();
    for (name, manifest) in [
        ("wasm-fresh", None),
        ("wasm-pooled", Some(POOLED)),
        ("native", Some(NATIVE)),
    ] {
        let (host, _scratch) = echo_host(manifest, &[]).await?;
        let row = both_modes(&host, &bot_path("bot"), seconds, connector, name).await?;
        rows.insert(name.into(), row);
    }
    let ratio = |mode: &str| {
        rows["wasm-fresh"][mode]["turns_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            / rows["native"][mode]["turns_per_second"]
                .as_f64()
                .unwrap_or(f64::NAN)
    };
    let ratios = json!({"expect_replies": ratio("expect_replies"), "normal": ratio("normal")});
    println!(
        "  wasm / native: {:.2} (expectReplies), {:.2} (normal)",
        ratios["expect_replies"].as_f64().unwrap_or(0.0),
        ratios["normal"].as_f64().unwrap_or(0.0)
    );
    rows.insert("wasm_over_native".into(), ratios);
    Ok(Value::Object(rows))
}

/// How a server under test is started.
type StartServer = fn() -> anyhow::Result<HostProcess>;

/// The Bot Framework SDK's echo bot in JavaScript (botbuilder-js on
/// restify) and in Python (botbuilder-python on aiohttp) under the same
/// load, both modes, and how many times as many turns turnbox's wasm-fresh
/// echo served.
async fn bot_framework_sdks(
    seconds: f64,
    connector: &FastConnector,
    turnbox: Option<&Value>,
) -> anyhow::Result<Value> {
    println!("the Bot Framework SDK, {CONCURRENCY} connections, {seconds} s each:");
    let mut rows = serde_json::Map::new();
    let starts: [(&str, StartServer); 2] = [
        ("botbuilder-js", HostProcess::botbuilder_js),
        ("botbuilder-python", HostProcess::botbuilder_python),
    ];
    for (name, start) in starts {
        let sdk = start()?;
        sdk.wait_ready(Instant::now()).await?;
        let row = both_modes(&sdk, "/api/messages", seconds, connector, name).await?;
        rows.insert(name.into(), compared(row, name, turnbox));
    }
    // The same sample written with turnbox's SDK in the SDK's own language
    // (guest-examples/sample-echo-*: no state, as botbuilder's).
    let languages = [
        (
            "turnbox sample-echo-js, fresh",
            "sample-echo-js",
            None,
            "botbuilder-js",
        ),
        (
            "turnbox sample-echo-js, pooled",
            "sample-echo-js",
            Some(POOLED),
            "botbuilder-js",
        ),
        (
            "turnbox sample-echo-js on QuickJS, fresh",
            "sample-echo-qjs",
            None,
            "botbuilder-js",
        ),
        (
            "turnbox sample-echo-js on QuickJS, pooled",
            "sample-echo-qjs",
            Some(POOLED),
            "botbuilder-js",
        ),
        (
            "turnbox sample-echo-py, pooled",
            "sample-echo-py",
            Some(POOLED),
            "botbuilder-python",
        ),
    ];
    for (name, example, manifest, sdk) in languages {
        let (host, _scratch) = bot_host(example, manifest, &[]).await?;
        let mut row = both_modes(&host, &bot_path("bot"), seconds, connector, name).await?;
        let times = |mode: &str| {
            row[mode]["turns_per_second"].as_f64().unwrap_or(0.0)
                / rows[sdk][mode]["turns_per_second"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
        };
        let ratios = json!({"expect_replies": times("expect_replies"), "normal": times("normal")});
        println!(
            "  {name} / {sdk}: {:.1}× (expectReplies), {:.1}× (normal)",
            ratios["expect_replies"].as_f64().unwrap_or(0.0),
            ratios["normal"].as_f64().unwrap_or(0.0)
        );
        row["over_sdk"] = ratios;
        rows.insert(name.into(), row);
    }
    Ok(Value::Object(rows))
}

/// `row` with turnbox's ratio to it, if turnbox was measured.
fn compared(mut row: Value, name: &str, turnbox: Option<&Value>) -> Value {
    if let Some(turnbox) = turnbox {
        let times = |mode: &str| {
            turnbox["wasm-fresh"][mode]["turns_per_second"]
                .as_f64()
                .unwrap_or(0.0)
                / row[mode]["turns_per_second"].as_f64().unwrap_or(f64::NAN)
        };
        let ratios = json!({"expect_replies": times("expect_replies"), "normal": times("normal")});
        println!(
            "  turnbox wasm-fresh / {name}: {:.1}× (expectReplies), {:.1}× (normal)",
            ratios["expect_replies"].as_f64().unwrap_or(0.0),
            ratios["normal"].as_f64().unwrap_or(0.0)
        );
        row["turnbox_over_sdk"] = ratios;
    }
    row
}

/// Where a turn's time goes: the same load (`expectReplies`, 32
/// connections) on servers that each do a little more than the one before,
/// from a bare hyper server to the wasm echo, in one run; with the CPU
/// each server process and the load generator spent per answer.
async fn costs(seconds: f64) -> anyhow::Result<Value> {
    println!(
        "where a turn's time goes, expectReplies, {CONCURRENCY} connections, {seconds} s each:"
    );
    /// The server a step loads: the bare one, or turnbox with the echo
    /// bot's manifest and these flags (`GET /healthz` instead of turns).
    enum Server {
        Ceiling,
        Turnbox(Option<&'static str>, &'static [&'static str], bool),
    }
    let steps = [
        (
            "bare hyper server (no routing, JSON or storage)",
            "ceiling",
            Server::Ceiling,
        ),
        (
            "turnbox GET /healthz (its HTTP stack, no turn)",
            "healthz",
            Server::Turnbox(None, &[], true),
        ),
        (
            "turnbox native echo, de-duplication off",
            "native-nodedup",
            Server::Turnbox(Some(NATIVE), &["--dedup-window-secs", "0"], false),
        ),
        (
            "turnbox native echo (the native floor)",
            "native",
            Server::Turnbox(Some(NATIVE), &[], false),
        ),
        (
            "turnbox wasm echo, fresh instance",
            "wasm-fresh",
            Server::Turnbox(None, &[], false),
        ),
    ];
    let mut rows = Vec::new();
    for (label, name, server) in steps {
        let (server, _scratch, healthz) = match server {
            Server::Ceiling => {
                let server = HostProcess::ceiling()?;
                server.wait_ready(Instant::now()).await?;
                (server, None, false)
            }
            Server::Turnbox(manifest, extra, healthz) => {
                let (host, scratch) = echo_host(manifest, extra).await?;
                (host, Some(scratch), healthz)
            }
        };
        let mut run = load(
            &server,
            &bot_path("bot"),
            CONCURRENCY,
            seconds,
            true,
            "http://127.0.0.1:9/",
        );
        if healthz {
            run.paths = vec!["/healthz".into()];
            run.get_only = true;
        }
        warm_up(&run, name).await?;
        let (server_before, generator_before) =
            (server.cpu_seconds()?, cpu_seconds("/proc/self/stat")?);
        let result = run_load(&run, name).await?;
        let (server_cpu, generator_cpu) = (
            server.cpu_seconds()? - server_before,
            cpu_seconds("/proc/self/stat")? - generator_before,
        );
        anyhow::ensure!(
            result.failed == 0,
            "{name}: {} requests failed",
            result.failed
        );
        let per_answer = |cpu: f64| cpu * 1e6 / result.turns.max(1) as f64;
        println!(
            "  {label:<50} {:>8.0} /s  p50 {:>5.2} ms  server {:>4.0} µs CPU/answer ({:.2} cores), load generator {:>3.0} µs",
            result.turns_per_second,
            result.p50_ms,
            per_answer(server_cpu),
            server_cpu / result.seconds,
            per_answer(generator_cpu)
        );
        rows.push(json!({
            "step": name, "what": label, "result": result,
            "server_cpu_us_per_answer": per_answer(server_cpu),
            "server_cores": server_cpu / result.seconds,
            "load_generator_cpu_us_per_answer": per_answer(generator_cpu),
        }));
    }
    Ok(Value::Array(rows))
}

/// 4: turns/s against concurrency, wasm (fresh) and native.
async fn curve(seconds: f64) -> anyhow::Result<Value> {
    println!("throughput against concurrency, expectReplies, {seconds} s each:");
    let mut series = serde_json::Map::new();
    for (name, manifest) in [("wasm-fresh", None), ("native", Some(NATIVE))] {
        let (host, _scratch) = echo_host(manifest, &[]).await?;
        let mut points = Vec::new();
        for concurrency in CURVE {
            let result = measure(
                &load(
                    &host,
                    &bot_path("bot"),
                    concurrency,
                    seconds,
                    true,
                    "http://127.0.0.1:9/",
                ),
                &format!("{name} ×{concurrency}"),
            )
            .await?;
            points.push(result);
        }
        series.insert(name.into(), serde_json::to_value(points)?);
    }
    Ok(Value::Object(series))
}

/// Replaces `path` atomically (a temporary name, then a rename).
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("wasm.partial");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// The text of the reply to `text` (expectReplies).
async fn ask(connection: &mut Connection, id: &str, text: &str) -> anyhow::Result<String> {
    let body = activity(id, "reload", "http://127.0.0.1:9/", true, "hi");
    let body = String::from_utf8(body)?.replace(r#""text":"hi""#, &format!(r#""text":"{text}""#));
    let (status, answer) = connection
        .call("POST", "/api/bots/bot/messages", Some(body.as_bytes()))
        .await?;
    if status != 200 {
        return Ok(String::new());
    }
    let answer: Value = serde_json::from_slice(&answer)?;
    Ok(answer["activities"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// 5: the bot file replaced, alternately by two bots; from each rename to
/// the first reply of the new one.
async fn reload() -> anyhow::Result<Value> {
    println!("hot reload, {SWAPS} swaps:");
    let scratch = Scratch::new("reload")?;
    let (echo, other) = (
        std::fs::read(guest("rust-echo")?)?,
        std::fs::read(guest("misbehave")?)?,
    );
    let file = scratch.bots().join("bot.wasm");
    std::fs::write(&file, &echo)?;
    let host = HostProcess::start(&scratch.bots(), &scratch.data(), &[])?;
    host.wait_ready(Instant::now()).await?;
    let mut connection = Connection::open(host.addr()).await?;
    let mut millis = Vec::new();
    for swap in 0..SWAPS {
        let (bytes, expected) = if swap % 2 == 0 {
            (&other, "ok: ping")
        } else {
            (&echo, "Echo: ping")
        };
        let started = Instant::now();
        replace(&file, bytes)?;
        let mut n = 0;
        loop {
            n += 1;
            let reply = ask(&mut connection, &format!("swap{swap}-{n}"), "ping").await?;
            if reply == expected {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "swap {swap} never took effect"
            );
        }
        millis.push(started.elapsed().as_secs_f64() * 1e3);
        // Let the watcher settle before the next swap.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let first_two: Vec<f64> = millis[..2].to_vec();
    let mut sorted = millis.clone();
    sorted.sort_by(f64::total_cmp);
    let (median, max) = (percentile(&sorted, 0.5), sorted[sorted.len() - 1]);
    println!(
        "  median {median:.0} ms, max {max:.0} ms (the first swap to each bot compiles it: {:.0} and {:.0} ms)",
        first_two[0], first_two[1]
    );
    Ok(json!({"swaps": SWAPS, "median_ms": median, "max_ms": max, "all_ms": millis}))
}

/// The machine, as far as a reader needs it to compare.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({"cpu": cpu, "cores": cores, "os": std::env::consts::OS, "arch": std::env::consts::ARCH})
}

/// A line of the plot: its name, colour and (connections, turns/s) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// throughput.svg: turns/s against connections, one line per series.
fn plot(curve: &Value) -> String {
    let (width, height, left, right, top, bottom) = (640.0, 400.0, 70.0, 20.0, 40.0, 50.0);
    let series: Vec<Series> = [("wasm-fresh", "#1f77b4"), ("native", "#d62728")]
        .into_iter()
        .map(|(name, colour)| {
            let points = curve[name]
                .as_array()
                .map(|points| {
                    points
                        .iter()
                        .map(|p| {
                            (
                                p["concurrency"].as_f64().unwrap_or(1.0),
                                p["turns_per_second"].as_f64().unwrap_or(0.0),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (name, colour, points)
        })
        .collect();
    let top_value = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0f64, f64::max);
    let step = [1000.0, 2000.0, 5000.0, 10000.0, 20000.0]
        .into_iter()
        .find(|s| top_value / s <= 8.0)
        .unwrap_or(50000.0);
    let y_max = (top_value / step).ceil() * step;
    let x_of = |c: f64| left + (c.log2() / 6.0) * (width - left - right);
    let y_of = |v: f64| height - bottom - v / y_max * (height - top - bottom);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="20" text-anchor="middle" font-size="14">Echo turns/s against connections (expectReplies, loopback, load generator on the same cores)</text>
"#,
        width / 2.0
    );
    let mut value = 0.0;
    while value <= y_max {
        let y = y_of(value);
        svg += &format!(
            r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{value:.0}</text>
"##,
            width - right,
            left - 6.0,
            y + 4.0
        );
        value += step;
    }
    for c in CURVE {
        let x = x_of(c as f64);
        svg += &format!(
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{c}</text>
"##,
            top,
            height - bottom,
            height - bottom + 16.0
        );
    }
    svg += &format!(
        r#"<text x="{}" y="{}" text-anchor="middle">connections</text>
<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">turns/s</text>
"#,
        (left + width - right) / 2.0,
        height - 10.0,
        height / 2.0,
        height / 2.0
    );
    for (n, (name, colour, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|(c, v)| format!("{:.1},{:.1}", x_of(*c), y_of(*v)))
            .collect();
        svg += &format!(
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>
"#,
            path.join(" ")
        );
        for (c, v) in points {
            svg += &format!(
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>
"#,
                x_of(*c),
                y_of(*v)
            );
        }
        let legend_y = top + 16.0 + 18.0 * n as f64;
        svg += &format!(
            r#"<rect x="{}" y="{}" width="14" height="4" fill="{colour}"/><text x="{}" y="{}">{name}</text>
"#,
            left + 12.0,
            legend_y - 6.0,
            left + 32.0,
            legend_y
        );
    }
    svg + "</svg>\n"
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = match args.iter().position(|a| a == "--seconds") {
        Some(i) => args.get(i + 1).context("--seconds N")?.parse()?,
        None => 10.0,
    };
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    let on_wrk = args
        .iter()
        .position(|a| a == "--load")
        .and_then(|i| args.get(i + 1))
        .is_some_and(|g| g == "wrk");
    turnbox_bench::wrk::use_wrk(on_wrk);
    let generator = if on_wrk { "wrk" } else { "the harness's own" };
    println!("turnbox benchmark suite ({profile} build, load generator: {generator})");
    let connector = FastConnector::start().await?;
    // `--only PART` runs one part and writes nothing (for quick comparisons).
    if let Some(i) = args.iter().position(|a| a == "--only") {
        match args.get(i + 1).map(String::as_str) {
            Some("throughput") => drop(throughput(seconds, &connector).await?),
            Some("curve") => drop(curve((seconds / 3.0).max(1.0)).await?),
            Some("reload") => drop(reload().await?),
            Some("density") => drop(density(CONCURRENCY).await?),
            Some("sdk") => drop(bot_framework_sdks(seconds, &connector, None).await?),
            Some("costs") => drop(costs(seconds).await?),
            other => {
                anyhow::bail!("--only throughput|sdk|costs|curve|reload|density, not {other:?}")
            }
        }
        return Ok(());
    }
    let throughput = throughput(seconds, &connector).await?;
    let sdks = bot_framework_sdks(seconds, &connector, Some(&throughput)).await?;
    let costs = costs(seconds).await?;
    let curve = curve((seconds / 3.0).max(1.0)).await?;
    let reload = reload().await?;
    let density = density(CONCURRENCY).await?;
    let report = json!({
        "benchmark": "suite", "profile": profile, "machine": machine(),
        "measured_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "seconds": seconds, "load_generator": generator, "throughput": throughput, "bot_framework_sdks": sdks, "costs": costs, "curve": curve, "reload": reload, "density": density,
    });
    let results = root().join("bench/results");
    std::fs::create_dir_all(&results)?;
    std::fs::write(
        results.join("suite.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(results.join("throughput.svg"), plot(&report["curve"]))?;
    println!("written to bench/results/suite.json and bench/results/throughput.svg");
    Ok(())
}
