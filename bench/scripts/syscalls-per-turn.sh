#!/usr/bin/env bash
# Write-family system calls and context switches per turn, side by side:
# each binary serves the Rust echo (sample-echo-rs) under `wrk -t2 -cCONNS
# -d5s` with expectReplies (ids unique per thread and per run,
# bench/wrk/activity.lua), after a 2 s warm-up. Write calls are the host's
# `syscw` in /proc/PID/io (sockets, the WAL and log lines alike); context
# switches are the voluntary and involuntary ones of all its threads
# (/proc/PID/task/*/status). Counts, so steadier than times on this
# machine; run both slot orders all the same.
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`; wrk from Debian's package):
#   bench/scripts/syscalls-per-turn.sh CONNS BINARY [BINARY...]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
conns=$1; shift
port=29700
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots" && cp target/guests/bots/sample-echo-rs.wasm "$work/bots/bot.wasm"
writes() { awk '/^syscw/ {print $2}' "/proc/$1/io"; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
for bin in "$@"; do
  port=$((port + 1))
  "$bin" serve --port "$port" --bind 127.0.0.1 --bots "$work/bots" \
    --data "$work/data-$port" >"$work/host.log" 2>&1 &
  pid=$!
  wait_healthy "$port" "$work/host.log"
  url="http://127.0.0.1:$port/api/messages"
  wrk -t2 -c"$conns" -d2s -s bench/wrk/activity.lua "$url" >/dev/null 2>&1
  w0=$(writes "$pid") s0=$(switches "$pid")
  out=$(wrk -t2 -c"$conns" -d5s -s bench/wrk/activity.lua "$url" 2>&1)
  w1=$(writes "$pid") s1=$(switches "$pid")
  turns=$(awk '/requests in/ {print $1}' <<<"$out")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-24s %s connections %8s turns  %.3f writes/turn  %.3f context switches/turn\n' \
    "$bin" "$conns" "$turns" "$(bc -l <<<"($w1 - $w0) / $turns")" "$(bc -l <<<"($s1 - $s0) / $turns")"
done
