#!/usr/bin/env bash
# Direct Line messages per second, two turnbox binaries side by side and
# interleaved (this machine varies ±20% between runs): each serves the Rust
# echo sample (sample-echo-rs) as its default bot; 8 conversations are
# opened, then `wrk -t1 -c8` posts user messages to them in turn
# (bench/wrk/directline.lua), each logged, its turn run and answered when
# it ends. Prints turns/s, p50 and p99 per binary and round.
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`; wrk from Debian's package):
#   bench/scripts/directline-cost.sh OLD_BINARY NEW_BINARY [ROUNDS [SECONDS]]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
old=$1 new=$2 rounds=${3:-3} seconds=${4:-10}
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots" && cp target/guests/bots/sample-echo-rs.wasm "$work/bots/echo.wasm"
secret=bench-directline-secret
port=29400
run() { # binary label
  port=$((port + 1))
  "$1" serve --port "$port" --bind 127.0.0.1 --bots "$work/bots" --default-bot echo \
    --directline-secret "$secret" --data "$work/data-$port" >"$work/host.log" 2>&1 &
  local pid=$! conversations="" out
  wait_healthy "$port" "$work/host.log"
  for _ in 1 2 3 4 5 6 7 8; do
    local id
    id=$(curl -s -X POST -H "Authorization: Bearer $secret" \
      "http://127.0.0.1:$port/v3/directline/conversations" |
      sed -n 's/.*"conversationId":"\([^"]*\)".*/\1/p')
    conversations="$conversations${conversations:+,}$id"
  done
  out=$(BENCH_SECRET=$secret BENCH_CONVERSATIONS=$conversations \
    wrk -t1 -c8 -d"${seconds}s" --latency -s bench/wrk/directline.lua "http://127.0.0.1:$port" 2>&1 |
    grep -E "^ +(50|99)%|Requests/sec|Non-2xx" | tr -s ' ' | tr '\n' ' ')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-4s %s\n' "$2" "$out"
}
for round in $(seq "$rounds"); do
  echo "round $round"
  run "$old" old
  run "$new" new
done
