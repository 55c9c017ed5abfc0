#!/usr/bin/env bash
# What one outbound HTTP request adds to a turn: the Rust echo bot under
# bench-load (expectReplies), answering `hi` (no request) and `fetch URL`
# (one GET to bench-ceiling, a bare hyper server on loopback that answers at
# once), interleaved, at 1 connection (latency) and at 32 (throughput).
# Usage (from the repository root, after `cargo build --release -p turnbox
# -p turnbox-bench` and `cargo xtask guests`):
#   bench/scripts/http-overhead.sh [ROUNDS [SECONDS]]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
rounds=${1:-3} seconds=${2:-8}
release=target/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots"
cp target/guests/bots/rust-echo.wasm "$work/bots/bot.wasm"
printf '[http]\nallowed_hosts = ["http://127.0.0.1:29098"]\n' >"$work/bots/bot.toml"
"$release/bench-ceiling" 29098 &
"$release/turnbox" serve --port 29097 --bind 127.0.0.1 --bots "$work/bots" \
  --data "$work/data" >"$work/host.log" 2>&1 &
wait_healthy 29097 "$work/host.log"
for round in $(seq "$rounds"); do
  for connections in 1 32; do
    for text in "hi" "fetch http://127.0.0.1:29098/x"; do
      result=$(BENCH_TEXT=$text "$release/bench-load" 29097 "$connections" "$seconds" bot)
      printf 'round %s  %2s conn  %-32s %s\n' "$round" "$connections" "$text" "$result"
    done
  done
done
