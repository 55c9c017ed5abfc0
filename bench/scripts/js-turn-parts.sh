#!/usr/bin/env bash
# What a pooled JavaScript (QuickJS) turn costs, part by part: bare bots
# without the SDK, each doing one step more, and the SDK's echo sample,
# interleaved in one run (wrk -t2 -c32, expectReplies, turns/s):
#   nothing      returns at once
#   record       reads the activity as the WIT record (`activity`)
#   json         reads it as JSON text (`activity-json`) and parses it
#   record-echo  reads the record, sends a record (`send`)
#   json-echo    reads JSON text, sends JSON text (`send-json`)
#   sdk          sample-echo-qjs (the SDK's ActivityHandler and TurnContext)
# Usage (from the repository root, after `cargo build --release -p turnbox`
# and `cargo xtask guests`, which installs componentize-qjs):
#   bench/scripts/js-turn-parts.sh [ROUNDS [SECONDS]]
set -euo pipefail
. "$(dirname "$0")/wait-healthy.sh"
rounds=${1:-3} seconds=${2:-10}
command -v wrk >/dev/null || { echo "wrk is required (apt install wrk)" >&2; exit 1; }
root=$(pwd)
qjs=$root/guest-examples/js-echo/node_modules/.bin/componentize-qjs
[ -x "$qjs" ] || { echo "run \`cargo xtask guests\` first (it installs componentize-qjs)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# bare NAME BODY: a bot-owned bot whose turn is BODY (ctx is the context).
bare() {
  mkdir -p "$work/$1"
  cat >"$work/$1/bot.js" <<EOF
export const ownedHandler = {
  onTurn: (ctx) => {
    try { $2 } finally { ctx[Symbol.dispose]?.(); }
    return undefined;
  },
};
EOF
}
bare nothing ''
bare record 'ctx.activity();'
bare json 'JSON.parse(ctx.activityJson());'
bare record-echo "const a = ctx.activity(); const text = 'Echo: ' + (a.text ?? '');
      ctx.send({ type: 'message', text, speak: text, extra: '{}' });"
bare json-echo "const a = JSON.parse(ctx.activityJson()); const text = 'Echo: ' + (a.text ?? '');
      ctx.sendJson(JSON.stringify({ type: 'message', text, speak: text }));"
variants="nothing record json record-echo json-echo sdk"
for v in $variants; do
  mkdir -p "$work/bots-$v"
  printf '[instances]\npolicy = "pooled"\n' >"$work/bots-$v/bot.toml"
  if [ "$v" = sdk ]; then
    cp target/guests/bots/sample-echo-qjs.wasm "$work/bots-$v/bot.wasm"
  else
    "$qjs" --wit wit -n bot-owned --sync --js "$work/$v/bot.js" -o "$work/bots-$v/bot.wasm" >/dev/null
  fi
done

port=29600
declare -A results
for round in $(seq "$rounds"); do
  for v in $variants; do
    port=$((port + 1))
    target/release/turnbox serve --port "$port" --bind 127.0.0.1 --bots "$work/bots-$v" \
      --data "$work/data-$port" >"$work/host.log" 2>&1 &
    pid=$!
    wait_healthy "$port" "$work/host.log"
    out=$(wrk -t2 -c32 -d"${seconds}s" -s bench/wrk/activity.lua "http://127.0.0.1:$port/api/messages" 2>&1 |
      awk '/Requests\/sec/ {printf "%d", $2} /Non-2xx/ {printf " (non-2xx: %s)", $NF}')
    kill "$pid"; wait "$pid" 2>/dev/null || true
    results[$v]="${results[$v]:-} $out"
    echo "round $round $v $out"
  done
done
echo "turns/s per variant, round by round:"
for v in $variants; do printf '  %-12s%s\n' "$v" "${results[$v]}"; done
