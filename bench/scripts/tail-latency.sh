#!/usr/bin/env bash
# The latency tail of the Rust echo sample (sample-echo-rs: botbuilder's echo
# sample, no state, as the issue measured) at a light load, side by side in one
# run (this machine varies ±20% between runs): wrk with 1 thread and 4
# connections against /api/messages (`expectReplies`, ids unique per thread
# and per run: bench/wrk/activity.lua), on these servers, interleaved, the
# order turned by one each round:
#   thread    the Rust echo as shipped: the checkpoint thread
#             (storage/sqlite/checkpoint.rs), de-duplication on
#   nodedup   no de-duplication record at all (--dedup-window-secs 0)
#   native    the native floor ([instances] policy = "native-echo": the
#             same host, no sandbox), de-duplication on
#   floor     the native floor with no de-duplication record: what this
#             machine's cores and loopback TCP allow, with no sandbox and
#             nothing durable. Its p99 is the tail the others cannot beat.
#   shm       the native floor with the record, its data folder on
#             /dev/shm (tmpfs, not durable): what the disk adds to `native`
#   autockpt  SQLite checkpoints the WAL inside the commit that crosses
#             10,000 pages (TURNBOX_SQLITE_AUTOCHECKPOINT=1: the old way)
# SERVERS="thread floor" runs only those (default: all but shm and autockpt). At the
# end: each server's median p50, p90 and p99 over the rounds.
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`; wrk from Debian's package):
#   bench/scripts/tail-latency.sh [ROUNDS [SECONDS [CONNECTIONS]]]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
rounds=${1:-2} seconds=${2:-10} connections=${3:-4}
read -r -a servers <<<"${SERVERS:-thread nodedup native floor}"
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bots" "$work/native" && cp target/guests/bots/sample-echo-rs.wasm "$work/bots/bot.wasm"
cp "$work/bots/bot.wasm" "$work/native/bot.wasm"
printf '[instances]\npolicy = "native-echo"\n' >"$work/native/bot.toml"
port=29400
run() { # label bots env-assignment [serve flags...]
  port=$((port + 1))
  local data=$work/data-$port
  [ "$1" != shm ] || data=$(mktemp -d -p /dev/shm)
  env "$3" target/release/turnbox serve --port "$port" --bind 127.0.0.1 \
    --bots "$work/$2" --data "$data" "${@:4}" >"$work/host.log" 2>&1 &
  local pid=$! out
  wait_healthy "$port" "$work/host.log" 100
  out=$(wrk -t1 -c"$connections" -d"${seconds}s" --latency -s bench/wrk/activity.lua \
    "http://127.0.0.1:$port/api/messages" 2>&1 |
    grep -E "^ +(50|90|99)%|Requests/sec" | tr -s ' ' | tr '\n' ' ')
  printf '%-9s %s\n' "$1" "$out"
  # p50 p90 p99 in ms, for the medians.
  awk -v label="$1" '{
    for (i = 1; i < NF; i++) if ($i ~ /^(50|90|99)%$/) {
      v = $(i + 1); ms = v + 0
      if (v ~ /us$/) ms /= 1000; else if (v ~ /[^m]s$/) ms *= 1000
      printf "%s %s %.3f\n", label, $i, ms
    }
  }' <<<"$out" >>"$work/figures"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [ "$1" != shm ] || rm -rf "$data"
}
server() { # label
  case $1 in
    thread) run thread bots TURNBOX_BENCH=1 ;;
    nodedup) run nodedup bots TURNBOX_BENCH=1 --dedup-window-secs 0 ;;
    native) run native native TURNBOX_BENCH=1 ;;
    floor) run floor native TURNBOX_BENCH=1 --dedup-window-secs 0 ;;
    shm) run shm native TURNBOX_BENCH=1 ;;
    autockpt) run autockpt bots TURNBOX_SQLITE_AUTOCHECKPOINT=1 ;;
    *) echo "unknown server $1 (thread, nodedup, native, floor, shm, autockpt)" >&2; exit 1 ;;
  esac
}
n=${#servers[@]}
for round in $(seq "$rounds"); do
  echo "round $round"
  for k in $(seq 0 $((n - 1))); do server "${servers[$(((k + round - 1) % n))]}"; done
done
echo "medians over $rounds rounds (ms)"
for label in "${servers[@]}"; do
  printf '%-9s' "$label"
  for p in 50% 90% 99%; do
    awk -v l="$label" -v p="$p" '$1 == l && $2 == p {print $3}' "$work/figures" | sort -g |
      awk -v p="$p" '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "  %s %.2f", p, m}'
  done
  echo
done
