#!/usr/bin/env node
// `make serve`: edge-signal under standalone `workerd serve` (the newest workerd, npm
// `workerd-latest`), with serve/workerd.capnp: no wrangler, no Cloudflare account. Run after
// the build (the Makefile's `serve` target builds first).
//
//   HOST=0.0.0.0 PORT=8787 STATE_DIR=/var/lib/edge-signal node scripts/serve.mjs [--env production]
//
// What it does before starting workerd:
// - exports wrangler.toml's [vars] (or [env.<name>.vars] with --env) into workerd's environment,
//   under whatever the caller's environment already sets (secrets come from there too); the
//   config binds each with `fromEnvironment`, and a [vars] entry the config does not bind is an
//   error here, not a setting silently ignored;
// - writes target/serve/assets.json (the assets service's settings: public/_headers' text).
// Durable Object storage goes to $STATE_DIR (default target/serve/state). The files of objects
// that hold nothing are deleted before workerd starts and every $RECLAIM_INTERVAL_S seconds
// (default 300; 0: never) while it runs (scripts/reclaim.mjs).
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, closeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";
import { canReclaim, reclaim } from "./reclaim.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CONFIG = join(ROOT, "serve", "workerd.capnp");
const WORKERD = join(ROOT, "node_modules", "workerd-latest", "bin", "workerd");

/** The vars of wrangler.toml, top level or of one environment. */
export function wranglerVars(envName) {
  const toml = parse(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
  const scope = envName ? toml.env?.[envName] : toml;
  if (!scope) throw new Error(`wrangler.toml has no [env.${envName}]`);
  return Object.fromEntries(Object.entries(scope.vars ?? {}).map(([k, v]) => [k, String(v)]));
}

/** The names serve/workerd.capnp binds from the environment. */
export function boundFromEnvironment() {
  return new Set([...readFileSync(CONFIG, "utf8").matchAll(/fromEnvironment = "([A-Z0-9_]+)"/g)].map((m) => m[1]));
}

/** The Durable Object storage directory: `stateDir`, or target/serve/state. */
export function stateDirectory(stateDir) {
  return resolve(stateDir ?? join(ROOT, "target", "serve", "state"));
}

/**
 * Takes `<stateDir>/serve.lock` for this process: one STATE_DIR, one server (two workerd on one
 * directory corrupt each other's databases and run each other's alarms). A lock whose process is
 * gone is taken over. Throws, naming the holder, when a live process holds it. Returns a function
 * that gives it back.
 */
export function lockState(stateDir, pid = process.pid) {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, "serve.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeFileSync(fd, `${pid}\n`);
      closeSync(fd);
      return () => { try { if (readFileSync(path, "utf8").trim() === String(pid)) unlinkSync(path); } catch {} };
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      const holder = Number(readFileSync(path, "utf8").trim());
      let alive = false;
      try { process.kill(holder, 0); alive = true; } catch (e) { alive = e.code === "EPERM"; }
      if (alive && holder !== pid) throw new Error(`${stateDir} is in use by another make serve (process ${holder}): give each server its own STATE_DIR`);
      unlinkSync(path); // stale: its process is gone
    }
  }
  throw new Error(`could not lock ${stateDir}`);
}

/** RECLAIM_INTERVAL_S as milliseconds (0: off); a value that does not parse is an error. */
export function reclaimInterval(value = "300") {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new Error(`RECLAIM_INTERVAL_S must be a number of seconds (0: off), not ${JSON.stringify(value)}`);
  return Number(value) * 1000;
}

/**
 * Starts workerd; returns the child process. `options`: host, port, stateDir, env (the
 * environment on top of wrangler.toml's vars), envName, stdio.
 */
export function serve({ host = "127.0.0.1", port = 8787, stateDir, env = process.env, envName, stdio = "inherit", detached = false } = {}) {
  const vars = wranglerVars(envName);
  const bound = boundFromEnvironment();
  const unbound = Object.keys(vars).filter((k) => !bound.has(k));
  if (unbound.length) throw new Error(`serve/workerd.capnp does not bind ${unbound.join(", ")} (wrangler.toml [vars]): add a fromEnvironment binding`);
  // Written only when it changed (the build writes it first: scripts/build.sh), so a server
  // whose checkout is read-only (systemd's ProtectSystem=strict) starts.
  const assets = join(ROOT, "target", "serve", "assets.json");
  const wanted = JSON.stringify({ headers: readFileSync(join(ROOT, "public", "_headers"), "utf8") });
  let current = null;
  try { current = readFileSync(assets, "utf8"); } catch {}
  if (current !== wanted) {
    mkdirSync(join(ROOT, "target", "serve"), { recursive: true });
    writeFileSync(assets, wanted);
  }
  const state = stateDirectory(stateDir);
  mkdirSync(state, { recursive: true });
  return spawn(WORKERD, [
    "serve", CONFIG, "--experimental", ...(process.env.WORKERD_VERBOSE ? ["--verbose"] : []),
    "--socket-addr", `http=${host}:${port}`,
    "--directory-path", `do-storage=${state}`,
  ], { cwd: ROOT, env: { ...vars, ...env }, stdio, detached });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--env");
  const envName = i > 0 ? process.argv[i + 1] : undefined;
  const host = process.env.HOST || "127.0.0.1";
  const port = Number(process.env.PORT || 8787);
  const interval = reclaimInterval(process.env.RECLAIM_INTERVAL_S || undefined);
  const state = stateDirectory(process.env.STATE_DIR);
  let unlock;
  try {
    unlock = lockState(state);
  } catch (err) {
    console.error(`serve: ${err.message}`);
    process.exit(1);
  }
  process.on("exit", () => unlock());
  // One reclaim pass at a time; its line only when it deleted something.
  let pass = Promise.resolve();
  const reclaimPass = () => (pass = reclaim(state).then(
    ({ files, bytes }) => files && console.error(`serve: reclaimed ${files} file${files === 1 ? "" : "s"} of objects that hold nothing (${bytes} bytes)`),
    (err) => console.error(`serve: reclaim failed: ${err.message}`),
  ));
  if (interval && !canReclaim()) console.error("serve: no /proc here: the files of empty objects are not reclaimed (Linux only)");
  if (interval) await reclaimPass();
  const child = serve({ host, port, stateDir: state, envName });
  console.error(`serve: workerd on http://${host}:${port} (one node; state in ${process.env.STATE_DIR || "target/serve/state"})`);
  if (interval) {
    const next = () => setTimeout(() => reclaimPass().then(next), interval).unref();
    next();
  }
  // workerd drains on SIGTERM, and open (hibernatable) sockets can keep it draining for good:
  // after 5 s it is killed.
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      child.kill(signal);
      setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
    });
  }
  // A pass under way finishes first (a file it set aside goes back or away).
  child.on("exit", (code, signal) => pass.finally(() => process.exit(code ?? (signal ? 1 : 0))));
}
