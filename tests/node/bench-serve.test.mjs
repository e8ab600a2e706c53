// bench/serve.mjs, which `make bench` starts its Miniflare targets with, names each target's
// modules itself (so that Miniflare does not parse the entry script for its imports at every
// start). A module the build adds, or a path that moves, would leave a target that never starts
// and a bench that fails at its first fresh process: each target is started here and joined once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

/** Starts `node bench/serve.mjs <target> <port>` and resolves once it prints "ready <port> <pid>". */
function serve(target, port) {
  const child = spawn(process.execPath, [join(ROOT, "bench", "serve.mjs"), target, String(port)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const ready = new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    });
    child.on("exit", (code) => reject(new Error(`serve.mjs ${target} exited ${code}: ${err}`)));
  });
  return { child, ready };
}

/** The first frame's bytes of a WebSocket handshake to `path` (a server frame is unmasked text). */
function firstFrame(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    req.on("upgrade", (_res, socket, head) => {
      const done = (data) => {
        socket.destroy();
        resolve(data.toString("latin1"));
      };
      if (head.length > 0) done(head);
      else socket.once("data", done);
    });
    req.on("response", (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.on("error", reject);
    req.end();
  });
}

for (const [i, target] of ["edge", "floor", "floor-wasm"].entries()) {
  test(`bench/serve.mjs ${target} starts and welcomes a join`, { timeout: 60_000 }, async (t) => {
    const port = 19400 + (process.pid % 300) + i;
    const { child, ready } = serve(target, port);
    t.after(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    });
    const line = await ready;
    assert.match(line, new RegExp(`^ready ${port} \\d+$`));
    const frame = await firstFrame(port, "/rooms/bench-serve?peer=alice");
    assert.match(frame, /"type":"welcome"/);
  });
}
