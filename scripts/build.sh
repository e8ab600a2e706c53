#!/usr/bin/env bash
# Builds the worker into build/ (index.js, index_bg.wasm, worker/shim.mjs). wrangler runs this as
# its [build] command, so `wrangler dev` and `wrangler deploy` always serve fresh code.
#
# worker-build would download wasm-bindgen and esbuild itself; these overrides point it at the
# copies scripts/setup.sh installed (a closed network refuses those downloads, and pinned local
# copies make builds reproducible anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)" || { echo "build: wasm-bindgen missing; run scripts/setup.sh" >&2; exit 1; }
export WASM_BINDGEN_BIN
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
# wasm-opt from the npm package binaryen (Binaryen compiled to JavaScript/wasm, so no download
# of a native binary): it shrinks and speeds up the module after wasm-bindgen.
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"

# wrangler runs this at every start (each test binary starts one): when the compiled module has
# not changed since build/ was made, skip wasm-bindgen and wasm-opt (about 13 s) and reuse it.
cargo build --quiet --release --lib --target wasm32-unknown-unknown
compiled=target/wasm32-unknown-unknown/release/edge_signal.wasm
if [ "$#" = 0 ] && [ build/index_bg.wasm -nt "$compiled" ] && [ build/index.js -nt scripts/build.sh ]; then
  exit 0
fi
exec worker-build --release "$@"
