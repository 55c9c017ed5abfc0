#!/usr/bin/env bash
# A well-behaved bot's latency while another bot on the same host runs
# looping turns, against its own latency alone (issue #23's neighbour
# target: p90 and p99 each at most 2x its own), side by side in one run:
# wrk with 1 thread and 4 connections against the Rust echo sample
# (sample-echo-rs, `expectReplies`, bench/wrk/activity.lua), first alone,
# then while 16 clients keep the misbehave bot (`loop`, its manifest's
# deadline 2 s) busy, each resending as soon as its turn is cut.
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`; wrk from Debian's package):
#   bench/scripts/neighbour-latency.sh [ROUNDS [SECONDS [LOOPS]]]
# TURNBOX_BIN=path runs another build (default target/release/turnbox), to
# compare builds by running the script once for each, interleaved.
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
rounds=${1:-2} seconds=${2:-10} loops=${3:-16}
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots"
cp target/guests/bots/sample-echo-rs.wasm "$work/bots/echo.wasm"
cp target/guests/bots/misbehave.wasm "$work/bots/bad.wasm"
printf '[limits]\nturn_deadline_ms = 2000\nmax_concurrent_turns = %s\n' "$loops" >"$work/bots/bad.toml"
port=29480
"${TURNBOX_BIN:-target/release/turnbox}" serve --port "$port" --bind 127.0.0.1 --bots "$work/bots" \
  --data "$work/data" >"$work/host.log" 2>&1 &
wait_healthy "$port" "$work/host.log" 100

measure() { # label
  printf '%-9s ' "$1"
  wrk -t1 -c4 -d"${seconds}s" --latency -s bench/wrk/activity.lua \
    "http://127.0.0.1:$port/api/bots/echo/messages" 2>&1 |
    grep -E "^ +(50|90|99)%|Requests/sec" | tr -s ' ' | tr '\n' ' '
  echo
}
attack() { # one client: `loop` again as soon as the last one ends
  local n=0
  while true; do
    n=$((n + 1))
    curl -s -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
      -d "{\"type\":\"message\",\"id\":\"loop-$1-$n-$RANDOM\",\"text\":\"loop\",\"channelId\":\"test\",\"serviceUrl\":\"http://127.0.0.1:9/\",\"deliveryMode\":\"expectReplies\",\"conversation\":{\"id\":\"attack-$1\"},\"from\":{\"id\":\"u\"},\"recipient\":{\"id\":\"b\"}}" \
      "http://127.0.0.1:$port/api/bots/bad/messages" || true
  done
}
for round in $(seq "$rounds"); do
  echo "round $round"
  measure alone
  pids=()
  for i in $(seq "$loops"); do attack "$i" & pids+=($!); done
  sleep 1
  measure attacked
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  sleep 2.5 # the last loops reach their deadline
done
