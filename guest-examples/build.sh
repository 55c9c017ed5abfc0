#!/usr/bin/env bash
# Builds every example and test bot from source into OUT (default
# target/guests/bots), named as they are served:
#   rust-echo.wasm, misbehave.wasm  cargo, wasm32-wasip2 (wit-bindgen)
#   python-echo.wasm                componentize-py (pip, into target/toolchains/venv)
#   js-echo.wasm                    componentize-js (npm install in js-echo/)
# Toolchains missing on a fresh machine are installed; Python and JavaScript
# bots are rebuilt only when their sources or the WIT changed.
# Used by `cargo xtask guests|run|test` and by the end-to-end tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$root/target/guests/bots}
tools=$root/target/toolchains
mkdir -p "$out" "$tools"

COMPONENTIZE_PY=0.25.1

# Whether $1 is missing or older than any file under the other arguments.
stale() {
  local target=$1
  shift
  [ ! -f "$target" ] && return 0
  [ -n "$(find "$@" -newer "$target" -type f -not -path '*/node_modules/*' -print -quit)" ]
}

# Rust: cargo decides what is stale.
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --quiet --release --target wasm32-wasip2 \
  --manifest-path "$here/Cargo.toml" --target-dir "$root/target/guests"
release=$root/target/guests/wasm32-wasip2/release
cp "$release/rust_echo.wasm" "$out/rust-echo.wasm"
cp "$release/misbehave.wasm" "$out/misbehave.wasm"

# Python.
if stale "$out/python-echo.wasm" "$here/python-echo" "$root/sdk/python" "$root/wit"; then
  if [ ! -x "$tools/venv/bin/componentize-py" ]; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY"
  fi
  (cd "$here/python-echo" && "$tools/venv/bin/componentize-py" -d "$root/wit" -w bot \
    componentize app -p . -p "$root/sdk/python" --stub-wasi -o "$out/python-echo.wasm.tmp")
  mv "$out/python-echo.wasm.tmp" "$out/python-echo.wasm"
fi

# JavaScript.
if stale "$out/js-echo.wasm" "$here/js-echo" "$root/sdk/js" "$root/wit"; then
  # npm ci rejects this lock file (npm 11 and componentize-js's optional
  # platform packages), so install from it instead, without saving: a plain
  # `npm install` rewrites the tracked lock file (~400 lines), and a build
  # must leave the checkout clean. preview2-shim is pinned
  # in package.json: componentize-js imports it but the lock alone does not
  # hoist it.
  # componentize-js reads modules only from the source's folder: stage the
  # bot's sources with the SDK beside them.
  stage=$root/target/guests/js-echo-src
  rm -rf "$stage" && mkdir -p "$stage"
  cp "$here/js-echo/src/"*.js "$root/sdk/js/turnbox.js" "$stage/"
  (cd "$here/js-echo" && { [ -d node_modules ] || npm install --no-save --no-audit --no-fund --loglevel=error; } \
    && npx --no-install componentize-js "$stage/bot.js" --wit "$root/wit" -n bot \
         -d stdio random clocks fetch-event -o "$out/js-echo.wasm.tmp")
  mv "$out/js-echo.wasm.tmp" "$out/js-echo.wasm"
fi
