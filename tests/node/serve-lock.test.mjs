// scripts/serve.mjs's state-directory lock: one STATE_DIR, one `make serve`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lockState } from "../../scripts/serve.mjs";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

test("a live holder keeps the directory; a dead one's lock is taken over; release frees it", () => {
  const dir = mkdtempSync(join(tmpdir(), "serve-lock-"));
  try {
    const release = lockState(dir);
    assert.equal(readFileSync(join(dir, "serve.lock"), "utf8").trim(), String(process.pid));
    // Another process asking while this one lives is refused, with the holder named.
    assert.throws(() => lockState(dir, process.pid + 1), new RegExp(`in use by another make serve \\(process ${process.pid}\\)`));
    release();
    assert.equal(existsSync(join(dir, "serve.lock")), false);
    // A lock whose process has exited is stale.
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(join(dir, "serve.lock"), `${gone.stdout}\n`);
    lockState(dir)();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("make serve on a directory another server holds exits at once, saying so", async () => {
  const dir = mkdtempSync(join(tmpdir(), "serve-lock-"));
  const release = lockState(dir);
  try {
    const child = spawn(process.execPath, [join(ROOT, "scripts/serve.mjs")], {
      env: { ...process.env, STATE_DIR: dir, PORT: "1", RECLAIM_INTERVAL_S: "0" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on("exit", resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr, /is in use by another make serve/);
  } finally {
    release();
    rmSync(dir, { recursive: true, force: true });
  }
});
