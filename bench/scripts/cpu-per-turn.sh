#!/usr/bin/env bash
# Host CPU per turn, side by side: each binary serves the Rust echo
# (sample-echo-rs) under `wrk -t2 -c32 -d10s` with expectReplies (ids
# unique per thread and per run, bench/wrk/activity.lua), after a 2 s
# warm-up, and the host's user + system time over the run (from
# /proc/PID/stat) is divided by the turns it answered. Less noisy than
# turns/s on this shared machine, which varies ±20% in speed. Binaries run
# interleaved, ROUNDS rounds (default 4); run both slot orders.
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`; wrk from Debian's package):
#   ROUNDS=5 bench/scripts/cpu-per-turn.sh OLD_BINARY NEW_BINARY
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
rounds=${ROUNDS:-4} port=29600 hz=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots" && cp target/guests/bots/sample-echo-rs.wasm "$work/bots/bot.wasm"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for round in $(seq "$rounds"); do
  for bin in "$@"; do
    port=$((port + 1))
    "$bin" serve --port "$port" --bind 127.0.0.1 --bots "$work/bots" \
      --data "$work/data-$port" >"$work/host.log" 2>&1 &
    pid=$!
    wait_healthy "$port" "$work/host.log"
    url="http://127.0.0.1:$port/api/messages"
    wrk -t2 -c32 -d2s -s bench/wrk/activity.lua "$url" >/dev/null 2>&1
    before=$(cpu_ticks "$pid")
    out=$(wrk -t2 -c32 -d10s -s bench/wrk/activity.lua "$url" 2>&1)
    after=$(cpu_ticks "$pid")
    turns=$(awk '/requests in/ {print $1}' <<<"$out")
    rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    printf '%s %-24s %10s turns/s %8.1f µs of host CPU per turn\n' "$round" "$bin" "$rate" \
      "$(bc -l <<<"($after - $before) * 1000000 / $hz / $turns")"
  done
done
