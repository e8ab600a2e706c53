// Where the room's CPU time goes: serves a build of the worker through Miniflare with workerd's
// inspector on, drives it with tools/loadgen, and samples the isolate with V8's profiler.
//
//   node --experimental-websocket bench/profile.mjs <build dir> <relay|join|peerjs|yjs> [rooms] [seconds]
// (`peerjs`: the relay through the PeerJS endpoint, `rooms` pairs of ids; `yjs`: y-webrtc
// publish fan-out on /yjs, 20 topics of `rooms` subscribers).
//
// `make profile` builds an unstripped copy (function names kept) into target/profile-build and
// runs this on it. Prints the functions with the most self time and writes
// target/profile.cpuprofile (open it in Chrome DevTools' Performance panel).
import { Miniflare } from "miniflare";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [dir, mode = "relay", rooms = "10", secs = "5"] = process.argv.slice(2);
if (!dir || !["relay", "join", "peerjs", "yjs"].includes(mode)) {
  console.error("usage: node --experimental-websocket bench/profile.mjs <build dir> <relay|join|peerjs|yjs> [rooms] [seconds]");
  process.exit(2);
}
const port = 9411;
const inspectorPort = 9412;
const mf = new Miniflare({
  host: "127.0.0.1", port, inspectorPort, compatibilityDate: "2026-04-01", modules: true,
  scriptPath: join(resolve(dir), "index.js"),
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  durableObjects: {
    ROOMS: { className: "RoomObject", useSQLite: true },
    PEERS: { className: "PeerObject", useSQLite: true },
  },
  bindings: {
    RATE_LIMIT_BURST: "1000000", RATE_LIMIT_PER_SEC: "1000000",
    RATE_LIMIT_BYTES_BURST: "1073741824", RATE_LIMIT_BYTES_PER_SEC: "1073741824",
  },
  // The room's log lines are not the point here.
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.resume();
  },
});
await mf.ready;

// The user worker's isolate, over the Chrome DevTools Protocol.
const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
const target = targets.find((t) => (t.webSocketDebuggerUrl || "").includes("core:user"));
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener("open", r));
let nextId = 0;
const pending = new Map();
ws.addEventListener("message", (e) => {
  const m = JSON.parse(e.data);
  pending.get(m.id)?.(m);
  pending.delete(m.id);
});
const call = (method, params = {}) =>
  new Promise((r) => {
    const id = ++nextId;
    pending.set(id, r);
    ws.send(JSON.stringify({ id, method, params }));
  });

const loadgen = join(root, "target", "release", "loadgen");
const url = `ws://127.0.0.1:${port}`;
const load = (s) => ({
  relay: ["relay", "--url", url, "--rooms", rooms, "--secs", String(s)],
  peerjs: ["relay", "--url", `${url}/peerjs`, "--proto", "peerjs", "--rooms", rooms, "--secs", String(s)],
  join: ["join", "--url", url, "--count", String(50 * s)],
  yjs: ["yjs", "--url", `${url}/yjs`, "--subscribers", rooms, "--secs", String(s)],
})[mode];
spawnSync(loadgen, load(1)); // warm up
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 });
await call("Profiler.start");
const run = spawnSync(loadgen, load(Number(secs)), { encoding: "utf8" });
const { result } = await call("Profiler.stop");
ws.close();
await mf.dispose();
console.log(`${mode}: ${run.stdout.trim().split("\n").pop()}`);

const profile = result.profile;
writeFileSync(join(root, "target", "profile.cpuprofile"), JSON.stringify(profile));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
// With the inspector attached every console.log is sent to it, which makes logging far slower
// than it is in production: samples under a log call are counted apart and left out.
const underLog = (id) => {
  for (let x = id; x !== undefined; x = parent.get(x)) {
    if (nodes.get(x).callFrame.functionName.startsWith("__wbg_log_")) return true;
  }
  return false;
};
const self = new Map();
let logged = 0;
for (const id of profile.samples) {
  if (underLog(id)) {
    logged++;
    continue;
  }
  const { functionName, url: file } = nodes.get(id).callFrame;
  const key = `${functionName || "(native)"}${file ? `  [${file.split("/").pop()}]` : ""}`;
  self.set(key, (self.get(key) || 0) + 1);
}
const total = profile.samples.length - logged;
console.log(`${profile.samples.length} samples; ${logged} under console.log (slow only with the inspector) left out`);
console.log(`self time of the other ${total}:`);
for (const [key, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${key}`);
}
