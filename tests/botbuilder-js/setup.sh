#!/usr/bin/env bash
# Installs the botbuilder-js root's npm packages (package-lock.json) when
# missing; tests/e2e/skills_botbuilder.rs runs it first. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/botbuilder" ] || [ ! -d "$here/node_modules/restify" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
