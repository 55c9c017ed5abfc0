//! Loads a host that is already running (for profiling it, or any host
//! you started yourself): CONCURRENCY connections post echo activities in
//! `expectReplies` mode (or in normal mode, replies to SERVICE_URL) to
//! ROUTE for SECONDS, and the figures are printed.
//!
//!   target/release/bench-load PORT [CONCURRENCY [SECONDS [ROUTE [SERVICE_URL]]]]
//!
//! `BENCH_TEXT` sets the messages' text (default `hi`; `count` makes the
//! Rust echo bot keep a counter in state, so each turn commits state and,
//! in normal mode, posts its reply from the outbox).
//!
//! ROUTE is a bot's name on a turnbox host (`bot`) or a path starting with
//! `/` (`/api/messages` of any Bot Framework bot).

use std::time::Duration;

use anyhow::Context;
use turnbox_bench::{Load, run_load};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args.first().context("PORT")?.parse()?;
    let concurrency = args.get(1).map(|n| n.parse()).transpose()?.unwrap_or(32);
    let seconds: f64 = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(10.0);
    let route = args.get(3).cloned().unwrap_or_else(|| "bot".into());
    let service_url = args.get(4).cloned();
    let result = run_load(
        &Load {
            addr: ([127, 0, 0, 1], port).into(),
            // A bot's name, or a whole path (another server's `/api/messages`).
            paths: vec![if route.starts_with('/') {
                route
            } else {
                turnbox_bench::bot_path(&route)
            }],
            concurrency,
            duration: Duration::from_secs_f64(seconds),
            expect_replies: service_url.is_none(),
            service_url: service_url.unwrap_or_else(|| "http://127.0.0.1:9/".into()),
            max_turns: None,
            get_only: false,
            text: std::env::var("BENCH_TEXT").unwrap_or_else(|_| "hi".into()),
        },
        // Activity ids unique to this run: a second run against the same
        // host must not re-send the first run's ids, which the host would
        // answer as duplicate deliveries without running turns.
        &format!(
            "load{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis())
        ),
    )
    .await?;
    println!(
        "{:.0} turns/s, p50 {:.2} ms, p99 {:.2} ms, {} turns, {} failed",
        result.turns_per_second, result.p50_ms, result.p99_ms, result.turns, result.failed
    );
    Ok(())
}
