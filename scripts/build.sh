#!/usr/bin/env bash
# Builds the worker into build/ (index.js, index_bg.wasm, worker/shim.mjs). wrangler runs this as
# its [build] command, so `wrangler dev` and `wrangler deploy` always serve fresh code.
#
# worker-build would download wasm-bindgen and esbuild itself; these overrides point it at the
# copies scripts/setup.sh installed (a closed network refuses those downloads, and pinned local
# copies make builds reproducible anyway).
#
#   BUILD_OUT=dir KEEP_NAMES=1 scripts/build.sh   another output directory, with the wasm's
#                                                 function names kept (`make profile`)
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)" || { echo "build: wasm-bindgen missing; run scripts/setup.sh" >&2; exit 1; }
export WASM_BINDGEN_BIN
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
# wasm-opt from the npm package binaryen (Binaryen compiled to JavaScript/wasm, so no download
# of a native binary): it shrinks and speeds up the module after wasm-bindgen.
WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
OUT="${BUILD_OUT:-build}"

# `make serve`'s assets settings (public/_headers' text, which serve/workerd.capnp embeds),
# written here too so that a server on a read-only checkout finds them (docs/self-hosting.md).
node -e 'const fs = require("fs"); const p = "target/serve/assets.json";
  const want = JSON.stringify({ headers: fs.readFileSync("public/_headers", "utf8") });
  let now = null; try { now = fs.readFileSync(p, "utf8"); } catch {}
  if (now !== want) { fs.mkdirSync("target/serve", { recursive: true }); fs.writeFileSync(p, want); }'

compiled=target/wasm32-unknown-unknown/release/edge_signal.wasm
[ -f "$compiled" ] || echo "build: compiling the worker to wasm32 (the first time: a few minutes)" >&2
cargo build --quiet --release --lib --target wasm32-unknown-unknown
# wrangler runs this at every start (each test binary starts one): when the compiled module has
# not changed since build/ was made, skip wasm-bindgen and wasm-opt (about 13 s) and reuse it.
if [ "$OUT" = build ] && [ build/index_bg.wasm -nt "$compiled" ] && [ build/index.js -nt scripts/build.sh ]; then
  exit 0
fi
# Built beside $OUT and moved in at the end, file by file with rename(2): a wrangler dev
# starting (or reloading) meanwhile reads either the old module or the new one, never a
# half-written one (seen: "WasmModuleObject::Compile(): expected 4 bytes, fell off end"). The
# scratch directory is per run, so two builds at once do not write into each other's.
STAGE="$(mktemp -d "${OUT%/}.stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
worker-build --release --out-dir "$STAGE"

# wasm-opt runs here, not in worker-build (Cargo.toml turns its step off): worker-build's keeps
# the wasm "name" section (~100 KB), so the module used to be stripped by rustc before
# wasm-bindgen, and wasm-bindgen then warned that it could not read the `target_features`
# section. Now rustc keeps both, wasm-bindgen reads the features, and this run drops the names.
# The features are worker-build's list: what workerd supports, no newer encodings.
features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
# -O (speed: the relay path is what the module is for) with GUFA (whole-module flow analysis)
# run to a fixed point. --low-memory-unused (about 1 KB gzipped) lets wasm-opt fold
# `load(p + C)` into `load offset=C (p)` for C < 1 KiB; its contract is that nothing lives in
# the first KiB. Here rustc puts the stack's deepest end there (reached only about 1 MiB deep,
# which is an overflow anyway), and the two forms differ only for a pointer that wraps past
# 4 GiB, which Rust's never do. The producers and target_features sections only describe the
# build to tools; nothing at run time reads them.
flags=(-O --gufa --converge --low-memory-unused --strip-producers --strip-target-features)
for f in "${features[@]}"; do flags+=("--enable-$f"); done
[ "${KEEP_NAMES:-0}" = 1 ] && flags+=(--debuginfo)
"$WASM_OPT_BIN" "${flags[@]}" "$STAGE/index_bg.wasm" -o "$STAGE/index_bg.wasm"

# The module first, then the glue that loads it, then the shim wrangler starts from.
mkdir -p "$OUT/worker"
for f in index_bg.wasm index.js package.json .gitignore; do
  [ -e "$STAGE/$f" ] && mv -f "$STAGE/$f" "$OUT/$f"
done
for f in "$STAGE"/worker/*; do
  mv -f "$f" "$OUT/worker/"
done
# Stale files of an older layout, if any, stay: wrangler reads only what index.js imports.
