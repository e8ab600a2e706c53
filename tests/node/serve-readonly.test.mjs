// `make serve` as the systemd unit of docs/self-hosting.md runs it: the checkout read-only
// (ProtectSystem=strict), only STATE_DIR writable. A private mount namespace (root, or an
// unprivileged user namespace) bind-mounts the checkout read-only for the server alone; the
// server must start, answer /readyz, serve the room page and reach a room's object.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/** unshare's flags for a private mount namespace here, or null. */
function mountNamespace() {
  for (const flags of [["-m"], ["--user", "--map-root-user", "-m"]]) {
    if (spawnSync("unshare", [...flags, "true"]).status === 0) return flags;
  }
  return null;
}

test("make serve starts and serves from a read-only checkout", async (t) => {
  const flags = mountNamespace();
  if (!flags) return t.skip("no mount namespace here (unshare -m, or an unprivileged user namespace)");
  const state = mkdtempSync(join(tmpdir(), "serve-ro-"));
  const port = await freePort();
  const script = `mount --bind -o ro "${ROOT}" "${ROOT}" && touch "${ROOT}/.ro-probe" 2>/dev/null && exit 3; exec node scripts/serve.mjs`;
  const child = spawn("unshare", [...flags, "--propagation", "private", "sh", "-c", script], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), STATE_DIR: state, RECLAIM_INTERVAL_S: "0" },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  try {
    let ready = null;
    for (let i = 0; i < 100 && ready === null; i++) {
      await new Promise((r) => setTimeout(r, 200));
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.text(), () => null);
      if (child.exitCode !== null) break;
    }
    assert.equal(ready, "ok", `not ready (exit ${child.exitCode}): ${stderr}`);
    // The room page (the assets service, configured from target/serve/assets.json) and a
    // room's object (its storage under STATE_DIR).
    const page = await fetch(`http://127.0.0.1:${port}/rooms/ro`);
    assert.equal(page.status, 200);
    const info = await fetch(`http://127.0.0.1:${port}/api/rooms/ro`).then((r) => r.json());
    assert.equal(info.peers, 0);
  } finally {
    try { process.kill(-child.pid, "SIGKILL"); } catch {}
    await exited;
    rmSync(state, { recursive: true, force: true });
  }
});
