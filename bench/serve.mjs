// Serves a worker through Miniflare directly (workerd, no wrangler dev proxy: closest to
// production) for `make bench`:
//   node bench/serve.mjs <edge|edge-webhooks|floor|floor-wasm> <port> [build dir]
// (`edge-webhooks`: the same with WEBHOOK_URL set, to a receiver in this process that answers
// every delivery 204; `floor-wasm`: the floor, with this worker's wasm module loaded beside it
// and never used, so that a fresh process shows what loading the module costs)
// (the build dir, `build` by default, lets `make bench-ab` serve another commit's build).
// Prints "ready <port> <workerd pid>" once it answers, then serves until killed.
import { Miniflare } from "miniflare";
import { createServer } from "node:http";
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [target, port, buildDir = join(root, "build")] = process.argv.slice(2);
const common = { host: "127.0.0.1", port: Number(port), compatibilityDate: "2026-04-01" };
// Every target names its modules. Given only an entry script (`scriptPath` with `modules: true`
// or `modulesRules`), Miniflare finds the imports itself by parsing the script with acorn in
// this process before workerd starts: about 55 ms of a fresh process of this worker (measured
// ad hoc, 5 starts each way, in turns) went to a cold JavaScript parser reading the 34 KB
// index.js, which neither `wrangler dev` (esbuild bundles) nor Cloudflare does.
const floorModules = [{ type: "ESModule", path: join(root, "bench/floor.js") }];
const floorObjects = {
  ROOMS: { className: "FloorRoom", useSQLite: true },
  TOPICS: { className: "FloorTopics", useSQLite: true },
  PEERJS: { className: "FloorPeer", useSQLite: true },
};
const options = {
  edge: {
    ...common,
    modulesRoot: buildDir,
    modules: [
      { type: "ESModule", path: join(buildDir, "index.js") },
      { type: "CompiledWasm", path: join(buildDir, "index_bg.wasm") },
    ],
    durableObjects: {
      ROOMS: { className: "RoomObject", useSQLite: true },
      PEERS: { className: "PeerObject", useSQLite: true },
    },
    // Count handled frames, and lift the per-connection message and byte budgets: the bench
    // measures the relay, and a closed-loop pair sends far more than a real call's budget allows.
    bindings: {
      BENCH_COUNTERS: "1",
      RATE_LIMIT_BURST: "1000000",
      RATE_LIMIT_PER_SEC: "1000000",
      RATE_LIMIT_BYTES_BURST: "1073741824",
      RATE_LIMIT_BYTES_PER_SEC: "1073741824",
    },
  },
  floor: { ...common, modulesRoot: root, modules: floorModules, durableObjects: floorObjects },
  // workerd decodes and validates every function of a wasm module when it loads the worker,
  // whether or not the module is ever instantiated (its V8 compiles a function lazily, with
  // Liftoff, at its first call: `--wasm-lazy-compilation` is on and `--wasm-lazy-validation`
  // off, as workerd's `v8Flags: ["--help"]` lists them). This target's start minus the floor's
  // is what this worker's module costs by its size alone.
  "floor-wasm": {
    ...common,
    modulesRoot: root,
    modules: [
      {
        type: "ESModule",
        path: join(root, "bench/floor-wasm.mjs"),
        contents:
          'import module from "./index_bg.wasm";\n' +
          'export * from "./floor.js";\nexport { default } from "./floor.js";\n' +
          "globalThis.unusedModule = module;\n",
      },
      ...floorModules,
      { type: "CompiledWasm", path: join(root, "bench/index_bg.wasm"), contents: readFileSync(join(buildDir, "index_bg.wasm")) },
    ],
    durableObjects: floorObjects,
  },
}[target === "edge-webhooks" ? "edge" : target];
if (target === "edge-webhooks") {
  const receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  options.bindings = {
    ...options.bindings,
    WEBHOOK_URL: `http://127.0.0.1:${receiver.address().port}/hook`,
    WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  };
}
if (!options) {
  console.error("usage: node bench/serve.mjs <edge|edge-webhooks|floor|floor-wasm> <port> [build dir]");
  process.exit(2);
}
const mf = new Miniflare(options);
await mf.ready;
// The workerd child of this process, for the resident-memory figures.
const pid = execSync(`pgrep -P ${process.pid} workerd || pgrep -P ${process.pid}`).toString().trim().split("\n")[0];
console.log(`ready ${port} ${pid}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
