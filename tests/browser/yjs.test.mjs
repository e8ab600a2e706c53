// Browser test: the unmodified `yjs` and `y-webrtc` packages (pinned in package.json), bundled
// with esbuild into an app page on another origin, pointed at edge-signal's y-webrtc signaling
// endpoint with `signaling: ["ws://…/yjs/<namespace>"]` (docs/yjs.md). Every person is a page
// in its own browser context, so y-webrtc's BroadcastChannel cannot link them: documents sync
// only over WebRTC data channels set up through the signaling server, and each test checks that
// they did (connected WebRTC peers, no BroadcastChannel peers, data channel messages both ways on
// candidate pairs between addresses of this machine; no ICE servers).
//
// The server under test is `wrangler dev` (/yjs/<namespace>). With YJS_SIGNALING=node it is
// y-webrtc's own server instead (`node node_modules/y-webrtc/bin/server.js`, which ignores the
// path): the reference the endpoint copies, and the check that these tests are right.
//
//   node --test tests/browser/yjs.test.mjs
//   YJS_SIGNALING=node node --test tests/browser/yjs.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as esbuild from "esbuild";
import {
  OUT, ROOT, freePortNumber, launchBrowser, launchFirefox, newFirefoxPerson, newPerson, spawnGroup,
  startServer, uniqueRoom,
} from "./harness.mjs";

const NODE = process.env.YJS_SIGNALING === "node";
if (process.env.YJS_SIGNALING && !NODE) throw new Error(`YJS_SIGNALING: "node" or unset, not "${process.env.YJS_SIGNALING}"`);
const STATE = join(OUT, NODE ? "yjs-node" : "wrangler-yjs");

// lib0's websocket client closes a signaling socket that has received nothing for 30 s (its
// ping, 15 s after the last pong, is answered by a pong that counts), checking every 15 s: a
// socket whose pings go unanswered closes 30 to 45 s into the silence. Idle past that.
const IDLE_MS = 50_000;

// The app: what an app's bundler makes of `import "yjs"` and `import "y-webrtc"`, plus one helper
// per action and a report of the state the tests check.
const APP_SOURCE = `
import * as Y from "yjs";
import { WebrtcProvider } from "y-webrtc";

const app = (window.yjsApp = {
  doc: null,
  provider: null,
  log: { connects: 0, disconnects: 0, publishes: [], synced: [], rejections: [] },

  /** A Y.Doc and its WebrtcProvider in \`topic\` (y-webrtc's room name) on \`signaling\`. */
  async start({ topic, signaling, password }) {
    const doc = new Y.Doc();
    const provider = new WebrtcProvider(topic, doc, {
      signaling: [signaling],
      password: password || null,
      // Loopback only: host candidates, no STUN or TURN.
      peerOpts: { config: { iceServers: [] } },
    });
    app.doc = doc;
    app.provider = provider;
    // The signaling socket (lib0's WebsocketClient) connects asynchronously: these see its first
    // connect.
    const conn = provider.signalingConns[0];
    conn.on("connect", () => app.log.connects++);
    conn.on("disconnect", () => app.log.disconnects++);
    conn.on("message", (m) => {
      if (m && m.type === "publish") {
        app.log.publishes.push({ topic: m.topic, clients: m.clients, data: typeof m.data });
      }
    });
    provider.on("synced", ({ synced }) => app.log.synced.push(synced));
    // The provider opens its room once the (password's) key is derived.
    await provider.key;
    return provider.room !== null;
  },

  set(key, value) { app.doc.getMap("m").set(key, value); },
  append(text) { const t = app.doc.getText("t"); t.insert(t.length, text); },

  state() {
    const room = app.provider.room;
    const conns = [...room.webrtcConns.values()];
    return {
      map: app.doc.getMap("m").toJSON(),
      text: app.doc.getText("t").toString(),
      webrtcConns: room.webrtcConns.size,
      connectedPeers: conns.filter((c) => c.connected).length,
      syncedPeers: conns.filter((c) => c.synced).length,
      bcConns: room.bcConns.size,
      synced: room.synced,
      signalingConnected: app.provider.signalingConns.every((c) => c.connected),
      connects: app.log.connects,
      disconnects: app.log.disconnects,
      publishes: app.log.publishes,
      rejections: app.log.rejections.length,
    };
  },

  /**
   * Per WebRTC peer: its selected candidate pair's addresses, every candidate pair that carried
   * bytes (ICE may switch pairs after the first messages), and its data channels' messages.
   */
  async paths() {
    const out = [];
    for (const conn of app.provider.room.webrtcConns.values()) {
      const stats = [...(await conn.peer._pc.getStats()).values()];
      const byId = new Map(stats.map((s) => [s.id, s]));
      const address = (id) => { const c = byId.get(id) || {}; return c.address || c.ip; };
      const pairs = stats.filter((s) => s.type === "candidate-pair");
      const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
      const selected = transport ? byId.get(transport.selectedCandidatePairId)
        : pairs.find((s) => s.state === "succeeded" && (s.selected || s.nominated));
      const channels = stats.filter((s) => s.type === "data-channel");
      out.push({
        selected: selected && { local: address(selected.localCandidateId), remote: address(selected.remoteCandidateId) },
        used: pairs.filter((s) => s.bytesSent > 0 || s.bytesReceived > 0).map((s) => ({
          local: address(s.localCandidateId), remote: address(s.remoteCandidateId),
          bytesSent: s.bytesSent, bytesReceived: s.bytesReceived,
        })),
        messagesSent: channels.reduce((n, c) => n + (c.messagesSent || 0), 0),
        messagesReceived: channels.reduce((n, c) => n + (c.messagesReceived || 0), 0),
      });
    }
    return out;
  },
});

// A password room's messages in another key fail to decrypt in y-webrtc (an unhandled
// rejection): counted here, not reported as page errors.
window.addEventListener("unhandledrejection", (e) => {
  app.log.rejections.push(String(e.reason && e.reason.message || e.reason));
  e.preventDefault();
});
`;

const APP_PAGE = `<!doctype html>
<meta charset="utf-8"><title>a Yjs app</title>
<script src="/app.js"></script>`;

// This machine's own addresses: where WebRTC host candidates can be.
const OWN_ADDRESSES = new Set(["127.0.0.1", "::1",
  ...Object.values(networkInterfaces()).flat().map((i) => i.address)]);

let signaling; // { origin, stop }
let app;
let appOrigin;
let chromium;
let firefox;

/** y-webrtc's own signaling server on a free loopback port; resolves once it answers. */
async function startNodeSignaling() {
  mkdirSync(STATE, { recursive: true });
  const port = await freePortNumber();
  const log = openSync(join(STATE, "server.log"), "w");
  // server.js listens on every interface (`server.listen(port)`); this preload binds its
  // listen to loopback, the server itself unchanged.
  const loopback = "data:text/javascript," + encodeURIComponent(`
    import http from "node:http";
    const listen = http.Server.prototype.listen;
    http.Server.prototype.listen = function (port, ...rest) {
      return listen.call(this, { port: Number(port), host: "127.0.0.1" }, ...rest);
    };`);
  const script = join(ROOT, "node_modules", "y-webrtc", "bin", "server.js");
  const { stop } = spawnGroup("node", ["--import", loopback, script], log, {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port) },
  });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await (await fetch(origin)).text()) === "okay") return { origin, stop };
    } catch {}
    if (Date.now() > deadline) {
      stop();
      throw new Error(`y-webrtc's server did not start; see ${join(STATE, "server.log")}`);
    }
    await sleep(100);
  }
}

async function bundle() {
  const result = await esbuild.build({
    stdin: { contents: APP_SOURCE, resolveDir: ROOT, sourcefile: "yjs-app.js", loader: "js" },
    bundle: true,
    format: "iife",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  const js = result.outputFiles[0].contents;
  mkdirSync(STATE, { recursive: true });
  writeFileSync(join(STATE, "app.js"), js); // for reading, when a test fails
  return js;
}

before(async () => {
  const [js, server] = await Promise.all([
    bundle(),
    NODE ? startNodeSignaling() : startServer({}, "wrangler-yjs"),
  ]);
  signaling = server;
  app = createServer((req, res) => {
    if (req.url === "/app.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(js);
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(APP_PAGE);
  });
  await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
  appOrigin = `http://127.0.0.1:${app.address().port}`;
  [chromium, firefox] = await Promise.all([launchBrowser(), launchFirefox()]);
});

after(async () => {
  await chromium?.close();
  await firefox?.close();
  app?.close();
  signaling?.stop();
});

/** The signaling URL of `namespace`. */
const signalingUrl = (namespace) => `${signaling.origin.replace(/^http/, "ws")}/yjs/${namespace}`;

/**
 * A person: the app page in its own browser context (closed when test `t` ends) with a document
 * in `topic` of `namespace`.
 */
async function person(t, engine, namespace, topic, password) {
  const page = engine === "firefox" ? await newFirefoxPerson(firefox) : await newPerson(chromium);
  t.after(() => page.context().close().catch(() => {}));
  await page.goto(`${appOrigin}/`);
  const opened = await page.evaluate((args) => window.yjsApp.start(args),
    { topic, signaling: signalingUrl(namespace), password });
  assert.ok(opened, "the provider opened its room");
  page.engine = engine;
  return page;
}

const state = (page) => page.evaluate(() => window.yjsApp.state());
const set = (page, key, value) => page.evaluate(([k, v]) => window.yjsApp.set(k, v), [key, value]);
const append = (page, text) => page.evaluate((text) => window.yjsApp.append(text), text);

/** Polls the page's state until `check(state)` is true; returns that state. */
async function eventually(page, check, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const s = await state(page);
    if (check(s)) return s;
    if (Date.now() > deadline) {
      const { publishes, ...rest } = s;
      throw new Error(`${page.engine}: timed out after ${timeout} ms waiting for ${what}; state ` +
        `${JSON.stringify({ ...rest, publishes: publishes.length })}`);
    }
    await sleep(150);
  }
}

/**
 * Asserts the page is synced with `n` peers over WebRTC and nothing else: `n` connected WebRTC
 * peers and the room synced, no BroadcastChannel peers, each peer's data channel with messages
 * both ways on candidate pairs between this machine's own addresses; its signaling socket up,
 * and every publish it got was of its own topic, with a subscriber count.
 */
async function overWebrtc(page, n, topic) {
  // (y-webrtc marks a peer synced only when its sync step 2 arrives before the room is synced: a
  // latecomer's peers stay unmarked, so the room's flag is what counts.)
  const s = await eventually(page, (s) => s.connectedPeers === n && s.synced,
    `${n} connected WebRTC peer(s), the room synced`);
  assert.equal(s.webrtcConns, n, "WebRTC connections");
  assert.equal(s.bcConns, 0, "no BroadcastChannel peers");
  assert.ok(s.signalingConnected, "signaling connected");
  assert.ok(s.publishes.length > 0, "signaling messages arrived");
  for (const p of s.publishes) {
    assert.equal(p.topic, topic, "a publish of the page's own topic");
    assert.ok(Number.isInteger(p.clients) && p.clients >= 1, `a subscriber count: ${JSON.stringify(p)}`);
  }
  // Stats lag a moment behind a data channel's first messages: poll them briefly.
  const carried = (p) => p.selected && p.messagesSent > 0 && p.messagesReceived > 0 &&
    p.used.some((u) => u.bytesSent > 0) && p.used.some((u) => u.bytesReceived > 0);
  let paths;
  for (let deadline = Date.now() + 5_000; ; await sleep(200)) {
    paths = await page.evaluate(() => window.yjsApp.paths());
    if (paths.every(carried) || Date.now() > deadline) break;
  }
  assert.equal(paths.length, n);
  for (const p of paths) {
    assert.ok(carried(p), `${page.engine}: data channel messages and bytes both ways: ${JSON.stringify(p)}`);
    for (const { local, remote } of [p.selected, ...p.used]) {
      assert.ok(OWN_ADDRESSES.has(local) && OWN_ADDRESSES.has(remote), `addresses of this machine: ${JSON.stringify(p)}`);
    }
  }
  return s;
}

/** Writes on `a`, sees it on `b`, then the other way; text and map. */
async function bothWays(a, b, tag) {
  await append(a, `${tag}: hello`);
  await set(a, `${tag}-a`, a.engine);
  await eventually(b, (s) => s.text === `${tag}: hello` && s.map[`${tag}-a`] === a.engine, `a's edit at b (${tag})`);
  await append(b, " world");
  await set(b, `${tag}-b`, b.engine);
  await eventually(a, (s) => s.text === `${tag}: hello world` && s.map[`${tag}-b`] === b.engine, `b's edit at a (${tag})`);
}

describe(`y-webrtc on ${NODE ? "y-webrtc's own server (YJS_SIGNALING=node)" : "/yjs/{namespace} (wrangler dev)"}`, { concurrency: 3 }, () => {
  const namespace = uniqueRoom("yjs");

  // The slow one first, so the others run while it waits.
  test(`after ${IDLE_MS / 1000} s idle the signaling is still up and a newcomer syncs`, { timeout: IDLE_MS + 90_000 }, async (t) => {
    const topic = uniqueRoom("idle");
    const a = await person(t, "chromium", namespace, topic);
    const b = await person(t, "chromium", namespace, topic);
    await bothWays(a, b, "idle");
    await overWebrtc(a, 1, topic);
    await overWebrtc(b, 1, topic);
    await sleep(IDLE_MS);
    for (const page of [a, b]) {
      const s = await state(page);
      assert.ok(s.signalingConnected, "signaling still connected");
      assert.equal(s.connects, 1, "never reconnected");
      assert.equal(s.disconnects, 0, "never disconnected");
    }
    // The newcomer's announcement must reach a and b over their idle sockets, and their offers
    // come back over them.
    const c = await person(t, "chromium", namespace, topic);
    await eventually(c, (s) => s.text === "idle: hello world", "the old edits at the newcomer");
    await set(a, "after-idle", "a");
    await eventually(c, (s) => s.map["after-idle"] === "a", "an edit after the idle time");
    await overWebrtc(c, 2, topic);
    for (const page of [a, b]) {
      const s = await overWebrtc(page, 2, topic);
      assert.equal(s.disconnects, 0);
    }
  });

  test("two documents sync both ways over WebRTC (Chromium and Chromium)", { timeout: 90_000 }, async (t) => {
    const topic = uniqueRoom("doc");
    const a = await person(t, "chromium", namespace, topic);
    const b = await person(t, "chromium", namespace, topic);
    await bothWays(a, b, "cc");
    const sa = await overWebrtc(a, 1, topic);
    const sb = await overWebrtc(b, 1, topic);
    assert.deepEqual(sa.map, sb.map);
    assert.equal(sa.text, "cc: hello world");
    for (const s of [sa, sb]) {
      assert.equal(s.connects, 1);
      assert.equal(s.disconnects, 0);
      assert.equal(s.rejections, 0);
    }
  });

  test("a third joins late, catches up, and its edits reach both", { timeout: 90_000 }, async (t) => {
    const topic = uniqueRoom("late");
    const a = await person(t, "chromium", namespace, topic);
    const b = await person(t, "chromium", namespace, topic);
    await bothWays(a, b, "late");
    for (let i = 0; i < 20; i++) await set(a, `k${i}`, i);
    await eventually(b, (s) => s.map.k19 === 19, "a's 20 keys at b");
    const c = await person(t, "chromium", namespace, topic);
    const sc = await eventually(c, (s) => s.text === "late: hello world" && s.map.k19 === 19 &&
      Object.keys(s.map).length === 22, "everything at the latecomer");
    assert.deepEqual(sc.map, (await state(a)).map);
    await set(c, "from-c", "late");
    for (const page of [a, b]) await eventually(page, (s) => s.map["from-c"] === "late", "the latecomer's edit");
    for (const page of [a, b, c]) await overWebrtc(page, 2, topic);
  });

  test("another topic stays apart: its document receives nothing", { timeout: 90_000 }, async (t) => {
    const topic = uniqueRoom("here");
    const elsewhere = uniqueRoom("there");
    // The loner joins first, so it would hear the others' announcements if they leaked.
    const loner = await person(t, "chromium", namespace, elsewhere);
    await set(loner, "loner", true);
    const a = await person(t, "chromium", namespace, topic);
    const b = await person(t, "chromium", namespace, topic);
    await bothWays(a, b, "apart");
    await overWebrtc(a, 1, topic);
    await overWebrtc(b, 1, topic);
    await sleep(1_000);
    const s = await state(loner);
    assert.deepEqual(s.map, { loner: true });
    assert.equal(s.text, "");
    assert.equal(s.webrtcConns, 0);
    assert.ok(s.signalingConnected);
    // Only its own announcement, echoed to it as the topic's one subscriber.
    assert.ok(s.publishes.every((p) => p.topic === elsewhere), JSON.stringify(s.publishes));
    for (const page of [a, b]) assert.equal((await state(page)).map.loner, undefined);
  });

  test("a password room syncs; a wrong password gets nothing", { timeout: 90_000 }, async (t) => {
    const topic = uniqueRoom("secret");
    // The intruder joins first, so it gets the others' announcements and offers.
    const intruder = await person(t, "chromium", namespace, topic, "battery staple");
    const a = await person(t, "chromium", namespace, topic, "correct horse");
    const b = await person(t, "chromium", namespace, topic, "correct horse");
    await bothWays(a, b, "pw");
    await set(intruder, "intruder", true);
    for (const page of [a, b]) {
      const s = await overWebrtc(page, 1, topic);
      // y-webrtc encrypts signaling data: the server relays base64 strings.
      assert.ok(s.publishes.every((p) => p.data === "string"), JSON.stringify(s.publishes));
    }
    await sleep(500);
    const si = await state(intruder);
    assert.deepEqual(si.map, { intruder: true });
    assert.equal(si.text, "");
    assert.equal(si.connectedPeers, 0);
    // It was in the topic: it got the others' messages, and could not decrypt them.
    assert.ok(si.publishes.some((p) => p.topic === topic) && si.rejections > 0, JSON.stringify(si));
    for (const page of [a, b]) assert.equal((await state(page)).map.intruder, undefined);
  });

  for (const [first, second] of [["chromium", "firefox"], ["firefox", "chromium"]]) {
    test(`${first} then ${second}: sync both ways over WebRTC`, { timeout: 90_000 }, async (t) => {
      const topic = uniqueRoom(`${first[0]}${second[0]}`);
      const a = await person(t, first, namespace, topic);
      const b = await person(t, second, namespace, topic);
      await bothWays(a, b, `${first[0]}${second[0]}`);
      const sa = await overWebrtc(a, 1, topic);
      const sb = await overWebrtc(b, 1, topic);
      assert.deepEqual(sa.map, sb.map);
      assert.equal(sa.text, sb.text);
    });
  }

  // y-webrtc's server has one set of topics for every path: only ours keeps namespaces apart.
  test("the same topic in another namespace stays apart", {
    timeout: 90_000, skip: NODE && "y-webrtc's server ignores the path",
  }, async (t) => {
    const topic = uniqueRoom("ns");
    const other = await person(t, "chromium", uniqueRoom("yjs-other"), topic);
    await set(other, "other", true);
    const a = await person(t, "chromium", namespace, topic);
    const b = await person(t, "chromium", namespace, topic);
    await bothWays(a, b, "ns");
    await overWebrtc(a, 1, topic);
    await overWebrtc(b, 1, topic);
    await sleep(1_000);
    const s = await state(other);
    assert.deepEqual(s.map, { other: true });
    assert.equal(s.webrtcConns, 0);
    // Its own announcement at most, with itself the one subscriber.
    assert.ok(s.publishes.every((p) => p.clients === 1), JSON.stringify(s.publishes));
    for (const page of [a, b]) assert.equal((await state(page)).map.other, undefined);
  });
});
