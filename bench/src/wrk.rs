//! `wrk` (Debian's package) as the load generator instead of our own, for
//! figures a reader can reproduce with a tool they know: the same `Load`,
//! run as `wrk --latency -s bench/wrk/activity.lua` (every request a new
//! activity id, unique per thread and per run) and read back from wrk's
//! report. Chosen with `use_wrk(true)` (`bench-suite --load wrk`).

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use crate::{Load, LoadResult, root};

static WRK: AtomicBool = AtomicBool::new(false);

/// Makes `run_load` use wrk (where it can: not for `max_turns` or GETs).
pub fn use_wrk(on: bool) {
    WRK.store(on, Ordering::Relaxed);
}

/// Whether `load` runs on wrk.
pub fn applies(load: &Load) -> bool {
    WRK.load(Ordering::Relaxed) && load.max_turns.is_none() && !load.get_only
}

/// Runs `load` on wrk, two threads (the machine's cores) or fewer when
/// there are fewer connections.
pub async fn run(load: &Load) -> anyhow::Result<LoadResult> {
    let threads = load.concurrency.clamp(1, 2);
    let seconds = load.duration.as_secs_f64().ceil().max(1.0) as u64;
    let first = load.paths.first().context("a load needs a path")?;
    let output = tokio::process::Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", load.concurrency))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-s")
        .arg(root().join("bench/wrk/activity.lua"))
        .arg(format!("http://{}{first}", load.addr))
        .env("BENCH_PATHS", load.paths.join(","))
        .env("BENCH_TEXT", &load.text)
        .env(
            "BENCH_MODE",
            if load.expect_replies {
                "expectReplies"
            } else {
                "normal"
            },
        )
        .env("BENCH_SERVICE_URL", &load.service_url)
        .output()
        .await
        .context("cannot run wrk (apt-get install wrk)")?;
    let report = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "wrk failed: {report}");
    parse(&report, load.concurrency).with_context(|| format!("unexpected wrk report: {report}"))
}

/// Reads wrk's `--latency` report.
fn parse(report: &str, concurrency: usize) -> anyhow::Result<LoadResult> {
    let mut requests = None;
    let mut seconds = None;
    let (mut failed, mut socket_errors, mut p50_ms, mut p99_ms) = (0u64, 0u64, None, None);
    for line in report.lines().map(str::trim) {
        if let Some((count, rest)) = line.split_once(" requests in ") {
            requests = count.parse::<u64>().ok();
            seconds = rest
                .split(',')
                .next()
                .and_then(duration_ms)
                .map(|ms| ms / 1e3);
        } else if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            failed += n.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(errors) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 3": not among the
            // completed requests, so failed but not subtracted from them.
            socket_errors += errors
                .split(',')
                .filter_map(|e| e.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(value) = line.strip_prefix("50%") {
            p50_ms = duration_ms(value.trim());
        } else if let Some(value) = line.strip_prefix("99%") {
            p99_ms = duration_ms(value.trim());
        }
    }
    let requests = requests.context("no request count")?;
    let seconds = seconds.context("no duration")?;
    let turns = requests.saturating_sub(failed) as usize;
    Ok(LoadResult {
        concurrency,
        seconds,
        turns,
        failed: failed + socket_errors,
        turns_per_second: turns as f64 / seconds,
        p50_ms: p50_ms.context("no p50")?,
        p99_ms: p99_ms.context("no p99")?,
    })
}

/// wrk's durations: `812.00us`, `3.20ms`, `1.02s`, `2.00m`.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        "h" => number * 3600e3,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wrk_report() {
        let report = "Running 10s test @ http://127.0.0.1:3978/api/messages
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.40ms    1.23ms  30.00ms   80.00%
    Req/Sec     4.76k   300.00     5.50k    70.00%
  Latency Distribution
     50%  812.00us
     75%    3.90ms
     90%    4.70ms
     99%    1.02s
  94820 requests in 10.00s, 30.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 15
Requests/sec:   9481.00
";
        let result = parse(report, 32).unwrap();
        assert_eq!(result.turns, 94805);
        assert_eq!(result.failed, 20);
        assert!((result.seconds - 10.0).abs() < 1e-9);
        assert!((result.p50_ms - 0.812).abs() < 1e-9);
        assert!((result.p99_ms - 1020.0).abs() < 1e-9);
        assert!((result.turns_per_second - 9480.5).abs() < 1e-9);
    }
}
