//! The cost of a turn per guest language and instance policy: load (compile
//! and link) once, then time N turns, each `on-turn` and its `send` (under
//! expectReplies, so no network) on a fresh Store and instance, or on a warm
//! pooled one (`[instances] policy = "pooled"`). Prints a table and writes
//! `bench/results/turn-cost.json`.
//!
//!   guest-examples/build.sh && cargo run -p turnbox-bench --bin turn-cost -- [TURNS [BOT…]]
//!
//! BOTs are stems of `target/guests/bots/*.wasm`; without them, the three
//! example bots.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use turnbox::cli::offline::OfflineBot;
use turnbox::schema::activity::Activity;

/// The manifest of the pooled runs: warm instances that are never recycled
/// within the run.
const POOLED: &str = "[instances]\npolicy = \"pooled\"\npool_size = 2\nmax_turns = 1000000\n";

const BOTS: [(&str, &str); 3] = [
    ("Rust", "rust-echo"),
    ("Python", "python-echo"),
    ("JavaScript", "js-echo"),
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let turns: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(300);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    let built = root.join("target/guests/bots");
    let activity: Activity = serde_json::from_value(json!({
        "type": "message", "text": "hi", "channelId": "bench",
        "from": {"id": "u"}, "recipient": {"id": "b"}, "conversation": {"id": "c"}
    }))?;

    let named: Vec<String> = std::env::args().skip(2).collect();
    let bots: Vec<(&str, &str)> = if named.is_empty() {
        BOTS.to_vec()
    } else {
        named.iter().map(|b| (b.as_str(), b.as_str())).collect()
    };
    let mut rows = Vec::new();
    println!(
        "{:<11} {:<7} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "language", "policy", "size KB", "load ms", "p50 µs", "p99 µs", "turns/s"
    );
    let manifests = tempfile_dir()?;
    let pooled_manifest = manifests.join("pooled.toml");
    std::fs::write(&pooled_manifest, POOLED)?;
    for ((language, bot), policy) in bots
        .into_iter()
        .flat_map(|bot| [(bot, "fresh"), (bot, "pooled")])
    {
        let wasm = built.join(format!("{bot}.wasm"));
        let size = std::fs::metadata(&wasm)
            .with_context(|| format!("{} is missing: run guest-examples/build.sh", wasm.display()))?
            .len();
        let loading = Instant::now();
        let manifest = match policy {
            "pooled" => pooled_manifest.clone(),
            _ => manifests.join("none.toml"),
        };
        let offline = OfflineBot::load(&wasm, &manifest)?;
        let load_ms = loading.elapsed().as_secs_f64() * 1e3;
        for _ in 0..20 {
            offline.turn(&activity).await?;
        }
        let mut micros = Vec::with_capacity(turns);
        let all = Instant::now();
        for _ in 0..turns {
            let started = Instant::now();
            let outcome = offline.turn(&activity).await?;
            micros.push(started.elapsed().as_secs_f64() * 1e6);
            anyhow::ensure!(outcome.buffered_replies.len() == 1, "{bot} did not reply");
        }
        let per_second = turns as f64 / all.elapsed().as_secs_f64();
        micros.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&micros, 0.5), percentile(&micros, 0.99));
        println!(
            "{language:<11} {policy:<7} {:>9} {load_ms:>10.0} {p50:>10.0} {p99:>10.0} {per_second:>10.0}",
            size / 1024
        );
        rows.push(json!({"language": language, "bot": bot, "policy": policy, "wasm_bytes": size, "load_ms": load_ms,
                          "turn_p50_us": p50, "turn_p99_us": p99, "turns_per_second": per_second, "turns": turns}));
    }
    let results = root.join("bench/results");
    std::fs::create_dir_all(&results)?;
    let report = json!({"benchmark": "turn-cost", "pooled_manifest": POOLED, "rows": rows});
    std::fs::write(
        results.join("turn-cost.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    println!("written to bench/results/turn-cost.json");
    let _ = std::fs::remove_dir_all(&manifests);
    Ok(())
}

/// A scratch folder for the manifests of the runs.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("turnbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
