#!/usr/bin/env node
// `make install-runtime DEST=/opt/edge-signal`: copies what `make serve` runs on into DEST, and
// nothing else: the build, the room page, the workerd config, the two scripts, wrangler.toml's
// vars and, of node_modules, only the workerd binary and smol-toml (the TOML parser
// scripts/serve.mjs reads wrangler.toml with). About 160 MB (workerd is most of it) instead of
// the checkout's whole node_modules (wrangler, browsers' drivers, test clients: over 500 MB).
// Run after the build; DEST then serves with `node scripts/serve.mjs` (docs/self-hosting.md).
// Copies from this checkout's node_modules: no network, the versions the tests ran with.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** What a runtime install holds: paths relative to the checkout. */
export const RUNTIME_FILES = [
  "build/index.js",
  "build/index_bg.wasm",
  "target/serve/assets.json",
  "public",
  "serve/workerd.capnp",
  "scripts/serve.mjs",
  "scripts/reclaim.mjs",
  "wrangler.toml",
  "node_modules/workerd-latest/package.json",
  "node_modules/workerd-latest/bin/workerd",
  "node_modules/smol-toml",
];

/** Copies the runtime into `dest` (replacing what an earlier install put there); returns dest. */
export function installRuntime(dest, root = ROOT) {
  const missing = RUNTIME_FILES.filter((f) => !existsSync(join(root, f)));
  if (missing.length) throw new Error(`missing ${missing.join(", ")}: run make build (and make setup) first`);
  const out = resolve(dest);
  if (out === resolve(root)) throw new Error("DEST is the checkout itself");
  mkdirSync(out, { recursive: true });
  for (const f of RUNTIME_FILES) {
    rmSync(join(out, f), { recursive: true, force: true });
    mkdirSync(dirname(join(out, f)), { recursive: true });
    cpSync(join(root, f), join(out, f), { recursive: true, preserveTimestamps: true });
  }
  // serve.mjs is an ES module that imports smol-toml: a package.json with only what it needs.
  const workspace = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const pin = (name) => workspace.devDependencies[name];
  writeFileSync(join(out, "package.json"), `${JSON.stringify({
    name: "edge-signal-runtime",
    private: true,
    description: "edge-signal under standalone workerd: node scripts/serve.mjs (made by make install-runtime)",
    dependencies: { "smol-toml": pin("smol-toml"), "workerd-latest": pin("workerd-latest") },
  }, null, 2)}\n`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dest = process.argv[2] || process.env.DEST;
  if (!dest) {
    console.error("usage: make install-runtime DEST=/opt/edge-signal");
    process.exit(2);
  }
  try {
    const out = installRuntime(dest);
    console.log(`install-runtime: ${out} (start it with: cd ${out} && node scripts/serve.mjs)`);
  } catch (err) {
    console.error(`install-runtime: ${err.message}`);
    process.exit(1);
  }
}
