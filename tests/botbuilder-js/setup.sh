#!/usr/bin/env bash
# Installs the botbuilder-js root's npm packages (package-lock.json) when
# missing; tests/e2e/skills_botbuilder.rs runs it first. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# npm ci writes node_modules/.package-lock.json last: an install cut short,
# or one from an older package-lock.json, is done again.
if ! cmp -s <(node -e 'const l = require(process.argv[1]); console.log(JSON.stringify(l.packages["node_modules/botbuilder"]))' "$here/package-lock.json" 2>/dev/null) \
           <(node -e 'const l = require(process.argv[1]); console.log(JSON.stringify(l.packages["node_modules/botbuilder"]))' "$here/node_modules/.package-lock.json" 2>/dev/null) \
   || [ ! -d "$here/node_modules/restify" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
