#!/usr/bin/env bash
# Stands in for a turnbox binary in compare-hosts-wrk.sh, so that the Bot
# Framework SDK's echo bot runs interleaved with a turnbox bot in one run:
# `botbuilder-js-host.sh serve --port P …` starts botbuilder-js's echo
# sample (bench/botbuilder-js, after `npm ci` there) on port P and ignores
# the other arguments. For example, JavaScript on QuickJS, pooled, against
# botbuilder-js (docs/PERFORMANCE.md):
#   BOT=sample-echo-qjs MANIFEST=$'[instances]\npolicy = "pooled"' \
#     bench/scripts/compare-hosts-wrk.sh bench/scripts/botbuilder-js-host.sh \
#     target/release/turnbox 5 10
set -euo pipefail
port=3978
while [ $# -gt 0 ]; do
  case $1 in
  --port) port=$2; shift 2 ;;
  *) shift ;;
  esac
done
dir=$(cd "$(dirname "$0")/../botbuilder-js" && pwd)
[ -d "$dir/node_modules/botbuilder" ] || { echo "run \`npm ci\` in $dir first" >&2; exit 1; }
PORT=$port NODE_ENV=production exec node "$dir/index.js"
