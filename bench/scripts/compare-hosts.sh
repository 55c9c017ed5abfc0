#!/usr/bin/env bash
# Compares two turnbox binaries side by side, interleaved in one run (this
# machine varies ±20% between runs): the Rust echo bot under bench-load,
# 32 connections, in three modes:
#   hi/expectReplies   a turn without state (the delivery record alone)
#   count/expectReplies a turn that saves state (a counter per conversation)
#   count/normal       the same, its reply posted to a connector stand-in
#                      (bench-ceiling) after the commit
# Usage (from the repository root, after `cargo build --release -p turnbox
# -p turnbox-bench` and `cargo xtask guests`):
#   bench/scripts/compare-hosts.sh OLD_BINARY NEW_BINARY [ROUNDS [SECONDS]]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
old=$1 new=$2 rounds=${3:-3} seconds=${4:-8}
release=target/release
bot=target/guests/bots/rust-echo.wasm
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots" && cp "$bot" "$work/bots/bot.wasm"
"$release/bench-ceiling" 29099 & sleep 0.5

next_port=29100
run() { # binary label text mode
  next_port=$((next_port + 1))
  local data="$work/data-$next_port" port=$next_port
  "$1" serve --port "$port" --bind 127.0.0.1 --bots "$work/bots" --data "$data" \
    >"$work/host.log" 2>&1 &
  local pid=$!
  wait_healthy "$port" "$work/host.log"
  local result
  if [ "$4" = normal ]; then
    result=$(BENCH_TEXT=$3 "$release/bench-load" "$port" 32 "$seconds" bot http://127.0.0.1:29099/)
  else
    result=$(BENCH_TEXT=$3 "$release/bench-load" "$port" 32 "$seconds" bot)
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-4s %-6s %-14s %s\n' "$2" "$3" "$4" "$result"
}

for round in $(seq "$rounds"); do
  echo "round $round"
  for mode in "hi expectReplies" "count expectReplies" "count normal"; do
    set -- $mode
    run "$old" old "$1" "$2"
    run "$new" new "$1" "$2"
  done
done
