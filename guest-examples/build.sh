#!/usr/bin/env bash
# Builds every example and test bot from source into OUT (default
# target/guests/bots), named as they are served:
#   rust-echo.wasm, misbehave.wasm,
#   llm-chat-rs.wasm, skill-root-rs.wasm, signin-rs.wasm, dialogs-rs.wasm,
#   sample-echo-rs.wasm
#                                   cargo, wasm32-wasip2 (wit-bindgen)
#   python-echo.wasm, dialogs-py.wasm
#                                   componentize-py (pip, into target/toolchains/venv)
#   js-echo.wasm, llm-chat.wasm,
#   dialogs-js.wasm                 componentize-js (npm install in js-echo/)
#   signin-py.wasm, skill-root-py.wasm, signin-js.wasm, skill-root-js.wasm
#   sample-echo-py.wasm, sample-echo-js.wasm
#                                   the same, with the SDK's sign-in and skills files
#   sample-echo-qjs.wasm, js-echo-qjs.wasm
#                                   sample-echo-js, js-echo with componentize-qjs (QuickJS)
# Toolchains missing on a fresh machine are installed; Python and JavaScript
# bots are rebuilt only when their sources or the WIT changed (JavaScript
# bots also when this script did).
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
cp "$release/llm_chat_rs.wasm" "$out/llm-chat-rs.wasm"
cp "$release/skill_root_rs.wasm" "$out/skill-root-rs.wasm"
cp "$release/signin_rs.wasm" "$out/signin-rs.wasm"
cp "$release/dialogs_rs.wasm" "$out/dialogs-rs.wasm"
cp "$release/sample_echo_rs.wasm" "$out/sample-echo-rs.wasm"

# Python: every Python bot, with the SDK's modules (sdk/python) on its path.
py_bot() {
  local name=$1
  stale "$out/$name.wasm" "$here/$name" "$root/sdk/python" "$root/wit" "$here/build.sh" || return 0
  if [ ! -x "$tools/venv/bin/componentize-py" ]; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY"
  fi
  # The world is `bot` plus wasi:http (sdk/python/wit), for turnbox.http.
  # No --stub-wasi: that would stub wasi:http too, and the clocks the SDK's
  # streaming throttle reads; the host links all of WASI, denying access.
  (cd "$here/$name" && "$tools/venv/bin/componentize-py" \
    -d "$root/wit" -d "$root/sdk/python/wit" -w turnbox:python/bot-with-http \
    componentize app -p . -p "$root/sdk/python" -o "$out/$name.wasm.tmp")
  mv "$out/$name.wasm.tmp" "$out/$name.wasm"
}
py_bot python-echo
py_bot dialogs-py
py_bot signin-py
py_bot skill-root-py
py_bot sample-echo-py

# JavaScript: every JS bot is built with js-echo's componentize-js (one npm
# install). npm ci rejects js-echo's lock file (npm 11 and componentize-js's
# optional platform packages), so install from it instead, without saving: a
# plain `npm install` rewrites the tracked lock file (~400 lines), and a
# build must leave the checkout clean. preview2-shim is pinned in
# package.json: componentize-js imports it but the lock alone does not hoist
# it. `clocks` stays enabled: without it Date.now() and setTimeout trap, and
# the SDK's StreamingResponse needs them.
# Stages the sources of bot SOURCE for NAME.wasm with the SDK beside them
# (both JS toolchains read modules only from the source's folder) into
# `$stage`, and installs js-echo's node_modules when missing; returns 1 when
# NAME.wasm is up to date. This script holds the build flags: a change to it
# rebuilds.
js_stage() {
  local name=$1 source=$2
  stage=$root/target/guests/$name-src
  stale "$out/$name.wasm" "$here/$source" "$root/sdk/js" "$root/wit" "$here/build.sh" \
    "$root/host/src/cli/scaffold/js" || return 1
  rm -rf "$stage" && mkdir -p "$stage"
  cp "$here/$source/src/"*.js "$root/sdk/js/"*.js "$stage/"
  (cd "$here/js-echo" && { [ -d node_modules ] || npm install --no-save --no-audit --no-fund --loglevel=error; })
}
js_bot() {
  local name=$1 stage
  js_stage "$name" "$name" || return 0
  (cd "$here/js-echo" && npx --no-install componentize-js "$stage/bot.js" --wit "$root/wit" -n bot \
    -d stdio random fetch-event -o "$out/$name.wasm.tmp")
  mv "$out/$name.wasm.tmp" "$out/$name.wasm"
}
# The same bot source built with componentize-qjs (QuickJS, synchronous
# runtime) into NAME.wasm: a small engine whose fresh instances start about
# four times faster (docs/LANGUAGES.md). Its runtime drops a lent handle only
# after the call, so the bot exports the bot-owned world's owned-handler:
# the entry is the one `turnbox new --lang js` writes (src/quickjs.js), which
# wraps the bot's own `handler` in the SDK's asOwnedHandler.
qjs_bot() {
  local name=$1 source=$2 stage
  js_stage "$name" "$source" || return 0
  cp "$root/host/src/cli/scaffold/js/quickjs.js.tmpl" "$stage/quickjs.js"
  (cd "$here/js-echo" && npx --no-install componentize-qjs --wit "$root/wit" -n bot-owned --sync \
    --js "$stage/quickjs.js" -o "$out/$name.wasm.tmp")
  mv "$out/$name.wasm.tmp" "$out/$name.wasm"
}
js_bot js-echo
js_bot llm-chat
js_bot signin-js
js_bot skill-root-js
js_bot dialogs-js
js_bot sample-echo-js
qjs_bot sample-echo-qjs sample-echo-js
# An async bot on QuickJS: the tests check that it fails with a clear error.
qjs_bot js-echo-qjs js-echo
