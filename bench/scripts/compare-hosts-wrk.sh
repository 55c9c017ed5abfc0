#!/usr/bin/env bash
# Compares two turnbox binaries on issue #23's Rust echo measures, side by
# side and interleaved in one run (this machine varies ±20% between runs):
# botbuilder's echo sample (sample-echo-rs, no state) loaded by wrk with ids
# unique per thread and per run (bench/wrk/activity.lua):
#   tail     wrk -t1 -c4 --latency, expectReplies: p50, p90, p99, turns/s
#   expect   wrk -t2 -c32, expectReplies: turns/s
#   normal   wrk -t2 -c32, replies posted to a connector stand-in
#            (bench-ceiling): turns/s
# Usage (from the repository root, after `cargo build --release -p turnbox
# -p turnbox-bench` and `cargo xtask guests`; wrk from Debian's package):
#   bench/scripts/compare-hosts-wrk.sh OLD_BINARY NEW_BINARY [ROUNDS [SECONDS]]
# MEASURES="tail expect" runs only those; BOT=sample-echo-qjs another bot
# of target/guests/bots (or a path to a .wasm); MANIFEST=$'[instances]\npolicy
# = "pooled"' its bot.toml. OLD_BOT/NEW_BOT and OLD_MANIFEST/NEW_MANIFEST
# set them per side, to compare two bots or two manifests on one binary:
#   OLD_MANIFEST=$'[instances]\npolicy = "pooled"\npool_size = 4' \
#   NEW_MANIFEST=$'[instances]\npolicy = "pooled"\npool_size = 32' BOT=sample-echo-qjs \
#   MEASURES=normal bench/scripts/compare-hosts-wrk.sh target/release/turnbox target/release/turnbox
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
old=$1 new=$2 rounds=${3:-3} seconds=${4:-10}
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# side LABEL BOT MANIFEST: that side's bots folder, $work/bots-LABEL.
side() {
  local wasm=$2
  case $wasm in *.wasm) ;; *) wasm=target/guests/bots/$wasm.wasm ;; esac
  mkdir -p "$work/bots-$1" && cp "$wasm" "$work/bots-$1/bot.wasm"
  [ -z "$3" ] || printf '%s\n' "$3" >"$work/bots-$1/bot.toml"
}
side old "${OLD_BOT:-${BOT:-sample-echo-rs}}" "${OLD_MANIFEST:-${MANIFEST:-}}"
side new "${NEW_BOT:-${BOT:-sample-echo-rs}}" "${NEW_MANIFEST:-${MANIFEST:-}}"
case " ${MEASURES:-tail expect normal} " in
*" normal "*)
  target/release/bench-ceiling 29299 >"$work/ceiling.log" 2>&1 &
  ceiling=$!
  sleep 0.5
  # Another run's stand-in on the port would be killed when that run ends,
  # and this run's normal-mode figures would be errors.
  kill -0 "$ceiling" 2>/dev/null || { echo "the connector stand-in did not start (port 29299 in use by another run?):" >&2; head -n1 "$work/ceiling.log" >&2; exit 1; }
  ;;
esac

port=29300
run() { # binary label measure
  port=$((port + 1))
  "$1" serve --port "$port" --bind 127.0.0.1 --bots "$work/bots-$2" \
    --data "$work/data-$port" >"$work/host.log" 2>&1 &
  local pid=$!
  wait_healthy "$port" "$work/host.log"
  local url="http://127.0.0.1:$port/api/messages" out
  case $3 in
    tail) out=$(wrk -t1 -c4 -d"${seconds}s" --latency -s bench/wrk/activity.lua "$url" 2>&1 |
      grep -E "^ +(50|90|99)%|Requests/sec" | tr -s ' ' | tr '\n' ' ') ;;
    expect) out=$(wrk -t2 -c32 -d"${seconds}s" -s bench/wrk/activity.lua "$url" 2>&1 |
      grep -E "Requests/sec|Non-2xx" | tr -s ' ' | tr '\n' ' ') ;;
    normal) out=$(BENCH_MODE=normal BENCH_SERVICE_URL=http://127.0.0.1:29299/ \
      wrk -t2 -c32 -d"${seconds}s" -s bench/wrk/activity.lua "$url" 2>&1 |
      grep -E "Requests/sec|Non-2xx" | tr -s ' ' | tr '\n' ' ') ;;
  esac
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-4s %-7s %s\n' "$2" "$3" "$out"
}

for round in $(seq "$rounds"); do
  echo "round $round"
  for measure in ${MEASURES:-tail expect normal}; do
    run "$old" old "$measure"
    run "$new" new "$measure"
  done
done
