// Browser test: the unmodified `peerjs` client (npm peerjs, pinned in package.json) in Chromium,
// from an app page on another origin, pointed at edge-signal with `{ host, port, path: "/peerjs" }`
// (docs/peerjs.md). ICE servers come from the documented endpoint, /peerjs/{key}/ice-servers.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, launchBrowser, newPerson, startServer, uniqueRoom, until } from "./harness.mjs";

const PEERJS = readFileSync(join(ROOT, "node_modules", "peerjs", "dist", "peerjs.min.js"));

// The app: peerjs from its own origin, as an app bundles it, and one helper per action.
const APP_PAGE = `<!doctype html>
<meta charset="utf-8"><title>a PeerJS app</title>
<script src="/peerjs.min.js"></script>
<script>
  const server = new URL(new URLSearchParams(location.search).get("server"));
  window.app = { opens: [], errors: [], data: [], connections: [], streams: [] };
  // The documented snippet: ICE servers from edge-signal, then a Peer on its host.
  window.makePeer = async (id, key) => {
    const res = await fetch(server.origin + "/peerjs/" + key + "/ice-servers");
    const { iceServers } = await res.json();
    const peer = new Peer(id || undefined, {
      host: server.hostname, port: Number(server.port), path: "/peerjs", key,
      secure: server.protocol === "https:", config: { iceServers }, debug: 1,
    });
    window.peer = peer;
    peer.on("open", (id) => app.opens.push(id));
    peer.on("error", (err) => app.errors.push(err.type));
    peer.on("connection", (conn) => {
      app.connections.push(conn.peer);
      conn.on("data", (d) => { app.data.push(d); if (d === "ping") conn.send("pong from " + peer.id); });
    });
    peer.on("call", async (call) => {
      const local = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      call.answer(local);
      call.on("stream", (s) => window.show(s));
    });
    return peer;
  };
  // PeerJS fires "stream" once per track of the same stream: one video per stream.
  window.show = (stream) => {
    if (app.streams.some((s) => s.id === stream.id)) return;
    const video = document.createElement("video");
    video.muted = true; video.autoplay = true; video.playsInline = true;
    video.srcObject = stream;
    document.body.append(video);
    app.streams.push({ id: stream.id, video: stream.getVideoTracks().length });
  };
  window.send = (to, text) => {
    const conn = peer.connect(to, { reliable: true });
    conn.on("open", () => conn.send(text));
    conn.on("data", (d) => app.data.push(d));
  };
  window.callPeer = async (to) => {
    const local = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    const call = peer.call(to, local);
    call.on("stream", (s) => window.show(s));
  };
  // Width of every remote video that is playing: frames are arriving.
  window.playing = () => [...document.querySelectorAll("video")].filter((v) => v.videoWidth > 0).length;
</script>`;

let worker;
let app;
let browser;
let appOrigin;

before(async () => {
  worker = await startServer({ ICE_SERVERS: "[]", PEERJS_EXPIRE_MS: "1500" }, "wrangler-peerjs");
  app = createServer((req, res) => {
    if (req.url === "/peerjs.min.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(PEERJS);
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(APP_PAGE);
  });
  await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
  appOrigin = `http://127.0.0.1:${app.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  app?.close();
  worker?.stop();
});

/** A page of the app with a Peer on `key` (with `id`, or one from the server); its id. */
async function person(key, id) {
  const page = await newPerson(browser);
  await page.goto(`${appOrigin}/?server=${encodeURIComponent(worker.origin)}`);
  await page.evaluate(([id, key]) => window.makePeer(id, key), [id, key]);
  return page;
}

async function opened(page) {
  return until(page, () => window.app.opens[0] || (window.app.errors.length && "error: " + window.app.errors), null, {
    what: "the peer's open",
    timeout: 15_000,
  });
}

const errors = (page) => page.evaluate(() => window.app.errors);

test("given and assigned ids open; data and video flow both ways", async () => {
  assert.notEqual(appOrigin, worker.origin, "two origins");
  const key = uniqueRoom("pjs");
  const alice = await person(key, "alice 1");
  assert.equal(await opened(alice), "alice 1");
  const bob = await person(key, null);
  const bobId = await opened(bob);
  assert.match(bobId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  await bob.evaluate(() => window.send("alice 1", "ping"));
  await until(alice, () => window.app.data.includes("ping"), null, { what: "ping at alice" });
  await until(bob, () => window.app.data.includes("pong from alice 1"), null, { what: "pong at bob" });
  assert.deepEqual(await alice.evaluate(() => window.app.connections), [bobId]);

  await alice.evaluate((to) => window.callPeer(to), bobId);
  for (const page of [alice, bob]) {
    await until(page, () => window.playing() > 0, null, { what: "remote video playing" });
    // One stream with its video track.
    assert.deepEqual(await page.evaluate(() => window.app.streams.map((s) => s.video)), [1]);
  }
  assert.deepEqual(await errors(alice), []);
  assert.deepEqual(await errors(bob), []);
  for (const page of [alice, bob]) await page.context().close();
});

test("a taken id is unavailable-id; an unknown id and another key's peer are peer-unavailable", async () => {
  const key = uniqueRoom("pjs");
  const alice = await person(key, "alice");
  await opened(alice);
  const copycat = await person(key, "alice");
  await until(copycat, () => window.app.errors.includes("unavailable-id"), null, { what: "unavailable-id" });
  assert.deepEqual(await copycat.evaluate(() => window.app.opens), []);

  await alice.evaluate(() => window.send("nobody-here", "hello?"));
  await until(alice, () => window.app.errors.includes("peer-unavailable"), null, { what: "peer-unavailable" });

  const elsewhere = await person(uniqueRoom("pjs-other"), "carol");
  await opened(elsewhere);
  await elsewhere.evaluate(() => window.send("alice", "across keys?"));
  await until(elsewhere, () => window.app.errors.includes("peer-unavailable"), null, { what: "peer-unavailable across keys" });
  assert.deepEqual(await alice.evaluate(() => window.app.data), []);
  for (const page of [alice, copycat, elsewhere]) await page.context().close();
});

test("disconnect() then reconnect() keeps the id, and peers reach it again", async () => {
  const key = uniqueRoom("pjs");
  const alice = await person(key, "alice");
  await opened(alice);
  const bob = await person(key, "bob");
  await opened(bob);
  await alice.evaluate(() => window.peer.disconnect());
  await until(alice, () => window.peer.disconnected, null, { what: "disconnected" });
  await alice.evaluate(() => window.peer.reconnect());
  await until(alice, () => window.app.opens.length === 2 && !window.peer.disconnected, null, { what: "second open" });
  assert.deepEqual(await alice.evaluate(() => window.app.opens), ["alice", "alice"]);
  await bob.evaluate(() => window.send("alice", "ping"));
  await until(bob, () => window.app.data.includes("pong from alice"), null, { what: "pong after reconnect" });
  assert.deepEqual(await errors(alice), []);
  for (const page of [alice, bob]) await page.context().close();
});
