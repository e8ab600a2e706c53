// `make install-runtime`: the copy it makes serves on its own (no wrangler, no checkout), and is
// a fraction of the checkout's node_modules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installRuntime } from "../../scripts/install-runtime.mjs";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const du = (path) => Number(spawnSync("du", ["-sb", path], { encoding: "utf8" }).stdout.split("\t")[0]);

test("install-runtime refuses the checkout itself and names what is missing", () => {
  assert.throws(() => installRuntime(ROOT), /DEST is the checkout itself/);
  const empty = mkdtempSync(join(tmpdir(), "runtime-empty-"));
  try {
    assert.throws(() => installRuntime(join(empty, "out"), empty), /missing build\/index\.js.*run make build/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("a runtime install serves rooms from its own directory", async () => {
  const dest = mkdtempSync(join(tmpdir(), "runtime-"));
  const state = mkdtempSync(join(tmpdir(), "runtime-state-"));
  let child = null;
  let exited = Promise.resolve();
  try {
    installRuntime(dest);
    installRuntime(dest); // again over itself: an upgrade in place
    assert.ok(!existsSync(join(dest, "node_modules", "wrangler")), "wrangler is not part of it");
    const size = du(dest);
    const full = du(join(ROOT, "node_modules"));
    assert.ok(size < full / 2, `runtime ${size} B, node_modules ${full} B`);

    const port = await freePort();
    child = spawn("node", ["scripts/serve.mjs"], {
      cwd: dest,
      env: { PATH: process.env.PATH, PORT: String(port), STATE_DIR: state, RECLAIM_INTERVAL_S: "0" },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    exited = new Promise((resolve) => child.on("exit", resolve));
    let ready = null;
    for (let i = 0; i < 100 && ready === null && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 200));
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.text(), () => null);
    }
    assert.equal(ready, "ok", `not ready (exit ${child.exitCode}): ${stderr}`);
    assert.equal((await fetch(`http://127.0.0.1:${port}/rooms/rt`)).status, 200);
    const client = await fetch(`http://127.0.0.1:${port}/edge-signal.js`);
    assert.equal(client.status, 200);
    const info = await fetch(`http://127.0.0.1:${port}/api/rooms/rt`).then((r) => r.json());
    assert.equal(info.peers, 0);
  } finally {
    if (child) try { process.kill(-child.pid, "SIGKILL"); } catch {}
    await exited;
    rmSync(dest, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
});
