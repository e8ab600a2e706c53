// bench/floor.js, the runtime floor `make bench` compares this worker with, answers a client's
// close with its own, as this worker does: a floor that skipped it would do less than any
// correct relay must, and its clients' closes would end unclean.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");
const mf = new Miniflare({
  modules: true,
  compatibilityDate: "2026-04-01", // bench/serve.mjs's
  scriptPath: join(ROOT, "bench", "floor.js"),
  durableObjects: {
    ROOMS: { className: "FloorRoom", useSQLite: true },
    TOPICS: { className: "FloorTopics", useSQLite: true },
    PEERJS: { className: "FloorPeer", useSQLite: true },
  },
});
after(() => mf.dispose());

/** The client end of a socket to `path`, once the floor has sent its first frame. */
async function connect(path) {
  const res = await mf.dispatchFetch(`http://floor${path}`, { headers: { Upgrade: "websocket" } });
  assert.equal(res.status, 101);
  const ws = res.webSocket;
  const first = new Promise((resolve) => ws.addEventListener("message", resolve, { once: true }));
  ws.accept();
  return { ws, first };
}

/** The close event the floor's answer raises, or null if none comes within `ms`. */
function closed(ws, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    ws.addEventListener("close", (e) => {
      clearTimeout(timer);
      resolve(e);
    });
  });
}

for (const [what, path, code] of [
  ["a room", "/rooms/r1?peer=alice", 4000],
  ["a y-webrtc namespace", "/yjs/ns1", 1000],
  ["a PeerJS id", "/peerjs?key=k&id=alice", 3001],
]) {
  test(`the floor answers a client's close on ${what} with the same code`, async () => {
    const { ws, first } = await connect(path);
    if (!path.startsWith("/yjs")) await first; // welcome, OPEN; y-webrtc's server speaks second
    const answer = closed(ws, 3000);
    ws.close(code, "bye");
    const event = await answer;
    assert.ok(event, "no close frame came back within 3 s");
    assert.equal(event.code, code);
  });
}
