#!/usr/bin/env bash
# Fresh-instance turns/s of botbuilder's echo sample in each language
# (guest-examples/sample-echo-{js,qjs,py,rs}; qjs is the JavaScript sample on
# QuickJS), all four on one `turnbox serve`,
# wrk with 2 threads and 8 connections for SECONDS against each in turn
# (`expectReplies`, bench/wrk/activity.lua), then the host's resident memory.
# Pass several turnbox binaries (e.g. this commit's and a parent's, built
# into other target folders) to compare builds side by side in one run;
# each also shows which memory pool each bot got (`instances.memoryPool`).
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`; wrk from Debian's package):
#   bench/scripts/fresh-languages.sh [ROUNDS [SECONDS [TURNBOX...]]]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
rounds=${1:-2} seconds=${2:-5}
shift $(($# < 2 ? $# : 2))
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(target/release/turnbox)
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots"
samples=(sample-echo-js sample-echo-qjs sample-echo-py sample-echo-rs)
for bot in "${samples[@]}"; do cp "target/guests/bots/$bot.wasm" "$work/bots/"; done
port=29600
start() { # binary: serves the samples on the next port; sets pid
  port=$((port + 1))
  rm -rf "$work/data"
  # One compile cache for every run, so each starts warm.
  "$1" serve --port "$port" --bind 127.0.0.1 --bots "$work/bots" \
    --data "$work/data" --cache-dir "$work/cache" >"$work/host.log" 2>&1 &
  pid=$!
  wait_healthy "$port" "$work/host.log" 600
}
start "${binaries[0]}" # fills the compile cache
kill "$pid"; wait "$pid" 2>/dev/null || true
for round in $(seq "$rounds"); do
  echo "round $round"
  for binary in "${binaries[@]}"; do
    start "$binary"
    pools=$(curl -s "localhost:$port/api/bots" | grep -o '"memoryPool":"[a-z-]*"' | cut -d'"' -f4 | tr '\n' ' ' || true)
    printf '%s (pools: %s)\n ' "$binary" "${pools:-unknown}"
    for bot in "${samples[@]}"; do
      rate=$(wrk -t2 -c8 -d"${seconds}s" -s bench/wrk/activity.lua \
        "http://127.0.0.1:$port/api/bots/$bot/messages" 2>&1 | awk '/Requests\/sec/ {print $2}')
      printf ' %s %s turns/s;' "$bot" "$rate"
    done
    echo " RSS $(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status") MiB"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
