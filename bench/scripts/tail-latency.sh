#!/usr/bin/env bash
# The latency tail of the Rust echo sample (sample-echo-rs: botbuilder's echo
# sample, no state, as the issue measured) at a light load, side by side in one
# run (this machine varies ±20% between runs): wrk with 1 thread and 4
# connections against /api/messages (`expectReplies`, ids unique per thread
# and per run: bench/wrk/activity.lua), on three servers interleaved:
#   autockpt  SQLite checkpoints the WAL inside the commit that crosses
#             10,000 pages (TURNBOX_SQLITE_AUTOCHECKPOINT=1: the old way)
#   thread    the checkpoint thread (storage/sqlite/checkpoint.rs; default)
#   nodedup   no de-duplication record at all (--dedup-window-secs 0)
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`; wrk from Debian's package):
#   bench/scripts/tail-latency.sh [ROUNDS [SECONDS [CONNECTIONS]]]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
rounds=${1:-2} seconds=${2:-10} connections=${3:-4}
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots" && cp target/guests/bots/sample-echo-rs.wasm "$work/bots/bot.wasm"
port=39400
run() { # label env-assignment [serve flags...]
  port=$((port + 1))
  env "$2" target/release/turnbox serve --port "$port" --bind 127.0.0.1 \
    --bots "$work/bots" --data "$work/data-$port" "${@:3}" >"$work/host.log" 2>&1 &
  local pid=$!
  wait_healthy "$port" "$work/host.log" 100
  printf '%-9s ' "$1"
  wrk -t1 -c"$connections" -d"${seconds}s" --latency -s bench/wrk/activity.lua \
    "http://127.0.0.1:$port/api/messages" 2>&1 |
    grep -E "^ +(50|90|99)%|Requests/sec" | tr -s ' ' | tr '\n' ' '
  echo
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
for round in $(seq "$rounds"); do
  echo "round $round"
  run autockpt TURNBOX_SQLITE_AUTOCHECKPOINT=1
  run thread TURNBOX_BENCH=1
  run nodedup TURNBOX_BENCH=1 --dedup-window-secs 0
done
