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
# --no-opt: wasm-opt is not used yet (it would be another download); the release profile in
# Cargo.toml already optimizes for size.
exec worker-build --release --no-opt "$@"
