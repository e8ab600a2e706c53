// Browser tests of the client library's lifecycle in Chromium: join() settles with a typed
// EdgeSignalError for every refusal and failure, leave() during a pending join holds no seat,
// reconnect() never opens two sockets, and a seat taken over elsewhere (4009) is final.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { launchBrowser, newPerson, startServer, uniqueRoom } from "./harness.mjs";

const ADMIN = "browser-admin-secret";
let server;
let misconfigured;
let otherSite;
let browser;
const pages = [];

/**
 * A page with the client library loaded (and the sockets it opens counted): on the worker's own
 * origin, or on another site's (no CSP there, so it may connect anywhere).
 */
async function clientPage(origin = server.origin) {
  const page = await newPerson(browser);
  pages.push(page);
  await page.goto(`${origin}/`);
  await page.evaluate(async (server) => {
    const lib = await import(`${server}/edge-signal.js`);
    window.lib = lib;
    window.sockets = 0;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.sockets++;
      }
    };
  }, server.origin);
  return page;
}

/** join() in the page: what it resolved to, or the error's code and name, and how long it took. */
function joinIn(page, room, options = {}) {
  return page.evaluate(async ([room, options]) => {
    const started = Date.now();
    const r = new window.lib.Room(room, options);
    window.rooms = [...(window.rooms || []), r];
    try {
      const welcome = await r.join();
      return { ok: true, peer: welcome.peer, ms: Date.now() - started };
    } catch (err) {
      return { ok: false, code: err.code, name: err.name, typed: err instanceof window.lib.EdgeSignalError, message: err.message, ms: Date.now() - started };
    }
  }, [room, options]);
}

before(async () => {
  // Another site (another origin) whose pages the worker does not allow.
  otherSite = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>another site</title>");
  });
  await new Promise((resolve) => otherSite.listen(0, "127.0.0.1", resolve));
  server = await startServer(
    { ICE_SERVERS: "[]", ALLOWED_ORIGINS: "https://app.example.com", ADMIN_SECRET: ADMIN },
    "wrangler-client",
  );
  misconfigured = await startServer({ ROOM_CAPACITY: "lots" }, "wrangler-client-misconfigured");
  browser = await launchBrowser();
});

after(async () => {
  for (const page of pages) await page.context().close().catch(() => {});
  await browser?.close();
  server?.stop();
  misconfigured?.stop();
  otherSite?.close();
});

describe("the client library in Chromium", () => {
  test("join() rejects with a typed error, within seconds, for every refusal and failure", async () => {
    const page = await clientPage();
    const room = uniqueRoom("refused");
    const cases = [
      ["a bad room name", "no spaces", {}, "bad_request"],
      ["a bad peer id", room, { peer: "a/b" }, "bad_request"],
      ["a capacity over the server's maximum", room, { capacity: 99 }, "bad_request"],
      ["metadata that is not an object", room, { meta: ["Ada"] }, "bad_request"],
      // Checked by the server only: its refusal, asked over HTTP, names the limit.
      ["metadata over 1,024 bytes", room, { meta: { name: "a".repeat(1100) } }, "bad_request"],
    ];
    // From another site's page, which may connect anywhere (the worker's pages allow only their
    // own origin), and which this server does not allow.
    const elsewhere = await clientPage(`http://127.0.0.1:${otherSite.address().port}`);
    const remote = [
      ["an unreachable server", room, { server: "http://127.0.0.1:9" }, "unreachable"],
      ["a misconfigured server", room, { server: misconfigured.origin }, "server_misconfigured"],
      ["an origin the server does not allow", room, { server: server.origin }, "forbidden_origin"],
    ];
    for (const [p, [what, name, options, code]] of [
      ...cases.map((c) => [page, c]),
      ...remote.map((c) => [elsewhere, c]),
    ]) {
      const outcome = await joinIn(p, name, options);
      assert.equal(outcome.ok, false, what);
      assert.equal(outcome.code, code, `${what}: ${outcome.message}`);
      assert.ok(outcome.typed && outcome.name === "EdgeSignalError", what);
      assert.ok(outcome.ms < 10_000, `${what} took ${outcome.ms} ms`);
    }
    // A full room: the server's error frame and 4001.
    const full = uniqueRoom("full");
    assert.equal((await joinIn(page, full)).ok, true);
    assert.equal((await joinIn(page, full)).ok, true);
    const third = await joinIn(page, full);
    assert.deepEqual([third.code, third.typed], ["room_full", true]);
  });

  test("leave() during a pending join holds no seat (React StrictMode's mount, unmount, mount)", async () => {
    const page = await clientPage();
    const room = uniqueRoom("strict");
    const outcome = await page.evaluate(async (room) => {
      const first = new window.lib.Room(room);
      const pending = first.join().then(() => "joined", (err) => err.code);
      first.leave(); // the effect's cleanup, before the welcome
      const second = new window.lib.Room(room);
      window.second = second;
      await second.join();
      return pending;
    }, room);
    assert.equal(outcome, "left");
    // The room is a two-seat room: the first socket's seat must have been given back.
    const other = await clientPage();
    const deadline = Date.now() + 5_000;
    for (;;) {
      const joined = await joinIn(other, room);
      if (joined.ok) break;
      assert.ok(Date.now() < deadline, `the ghost still holds a seat: ${joined.code}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const res = await fetch(`${server.origin}/api/rooms/${room}`);
    assert.equal((await res.json()).peers, 2);
  });

  test("reconnect() during a backoff or while connecting opens one socket", async () => {
    const page = await clientPage();
    const room = uniqueRoom("once");
    assert.equal((await joinIn(page, room)).ok, true);
    const opened = await page.evaluate(async () => {
      const r = window.rooms[0];
      const before = window.sockets;
      r.ws.close(); // a blip: the client schedules a reconnect after a backoff
      await new Promise((res) => r.addEventListener("reconnecting", res, { once: true }));
      r.reconnect(); // during the backoff: connect now instead
      r.reconnect(); // while that socket is connecting: nothing more
      await new Promise((res) => r.addEventListener("welcome", res, { once: true }));
      await new Promise((res) => setTimeout(res, 3_000)); // any leftover timer would fire by now
      return window.sockets - before;
    });
    assert.equal(opened, 1);
  });

  test("a seat taken over by another socket (4009) is final, not retried", async () => {
    const page = await clientPage();
    const room = uniqueRoom("taken");
    assert.equal((await joinIn(page, room)).ok, true);
    const outcome = await page.evaluate(async (room) => {
      const first = window.rooms[0];
      const closed = new Promise((res) => first.addEventListener("closed", (e) => res(e.detail), { once: true }));
      // Another tab presents the seat's resume secret (here: the same page, a second client).
      const second = new window.lib.Room(room, { peer: first.peerId });
      second._resume = first._resume;
      await second.join();
      const detail = await closed;
      const before = window.sockets;
      await new Promise((res) => setTimeout(res, 3_000));
      return { code: detail.code, error: detail.error?.code, retried: window.sockets - before };
    }, room);
    assert.deepEqual(outcome, { code: 4009, error: "resumed_elsewhere", retried: 0 });
  });

  test("a peer that joins while another's socket is dying is connected to it once it resumes", async () => {
    const room = uniqueRoom("resume-join");
    // Each page joins and records which peers' reliable channels opened.
    const join = (page) => page.evaluate(async (room) => {
      const r = new window.lib.Room(room, { capacity: 3 });
      window.r = r;
      window.open = [];
      window.got = [];
      r.addEventListener("channelopen", (e) => window.open.push(e.detail.peer));
      r.addEventListener("data", (e) => window.got.push(`${e.detail.peer}: ${e.detail.data}`));
      return (await r.join()).peer;
    }, room);
    const openTo = (page, peer) => page.waitForFunction((peer) => window.open.includes(peer), peer, { timeout: 15_000 });
    const [a, b, c] = [await clientPage(), await clientPage(), await clientPage()];
    const [idA, idB] = [await join(a), await join(b)];
    await openTo(a, idB);
    // A's socket goes deaf (as one does before the browser notices a network change): what the
    // server relays to A now is lost, C's offer among it.
    await a.evaluate(() => { window.r.ws.onmessage = null; });
    const idC = await join(c);
    await openTo(c, idB);
    // A notices and resumes its seat: C is new to A, and A must still get a call with C.
    const resumed = await a.evaluate(() => new Promise((resolve) => {
      window.r.addEventListener("welcome", (e) => resolve(e.detail), { once: true });
      window.r.reconnect();
    }));
    assert.equal(resumed.resumed, true);
    assert.deepEqual([...resumed.peers].sort(), [idB, idC].sort());
    await openTo(a, idC);
    await openTo(c, idA);
    await a.evaluate((idC) => window.r.send("hello C", idC), idC);
    await c.waitForFunction((line) => window.got.includes(line), `${idA}: hello C`, { timeout: 5_000 });
  });

  test("each peer's metadata reaches the others: welcome, peerjoined, the call, and after a resume", async () => {
    const room = uniqueRoom("meta");
    const [a, b] = [await clientPage(), await clientPage()];
    const ada = { name: "Ada", avatar: "https://example.com/ada.png" };
    const idA = await a.evaluate(async ([room, meta]) => {
      const r = new window.lib.Room(room, { meta });
      window.r = r;
      window.joined = new Promise((res) => r.addEventListener("peerjoined", (e) => res(e.detail), { once: true }));
      return (await r.join()).peer;
    }, [room, ada]);
    const seen = await b.evaluate(async (room) => {
      const r = new window.lib.Room(room, { meta: { name: "Bo" } });
      window.r = r;
      const welcome = await r.join();
      return { meta: welcome.meta, call: r.peers.get(welcome.peers[0]).meta };
    }, room);
    assert.deepEqual(seen, { meta: { [idA]: ada }, call: ada });
    const joined = await a.evaluate(async () => {
      const detail = await window.joined;
      return { detail, call: window.r.peers.get(detail.peer).meta };
    });
    assert.deepEqual(joined.detail.meta, { name: "Bo" });
    assert.deepEqual(joined.call, { name: "Bo" });
    // B's socket drops and its seat is resumed: the resumed welcome still carries A's metadata.
    const resumed = await b.evaluate(() => new Promise((resolve) => {
      window.r.addEventListener("welcome", (e) => resolve(e.detail), { once: true });
      window.r.reconnect();
    }));
    assert.deepEqual([resumed.resumed, resumed.meta], [true, { [idA]: ada }]);
  });

  test("the app's server: servermessage events, and a kick that is final (kicked, 4010, not retried)", async () => {
    const room = uniqueRoom("admin");
    const page = await clientPage();
    const peer = await page.evaluate(async (room) => {
      const r = new window.lib.Room(room);
      window.r = r;
      window.told = [];
      r.addEventListener("servermessage", (e) => window.told.push(e.detail.data));
      window.roomClosed = new Promise((res) => r.addEventListener("closed", (e) => res(e.detail), { once: true }));
      return (await r.join()).peer;
    }, room);
    const admin = (method, path, body) => fetch(`${server.origin}/api/admin/rooms/${room}${path}`, {
      method, body, headers: { Authorization: `Bearer ${ADMIN}` },
    });
    const res = await admin("POST", "/messages", JSON.stringify({ data: { poll: "lunch?" } }));
    assert.deepEqual(await res.json(), { delivered: 1 });
    await page.waitForFunction(() => window.told.length === 1, null, { timeout: 5_000 });
    assert.deepEqual(await page.evaluate(() => window.told), [{ poll: "lunch?" }]);
    assert.equal((await admin("DELETE", `/peers/${peer}`)).status, 204);
    const outcome = await page.evaluate(async () => {
      const detail = await window.roomClosed;
      const before = window.sockets;
      await new Promise((res) => setTimeout(res, 2_000));
      return { code: detail.code, error: detail.error?.code, typed: detail.error instanceof window.lib.EdgeSignalError, retried: window.sockets - before };
    });
    assert.deepEqual(outcome, { code: 4010, error: "kicked", typed: true, retried: 0 });
  });

  test("replaceTrack() swaps what a call sends without renegotiating; send() to no call throws not_connected", async () => {
    const room = uniqueRoom("replace");
    const [a, b] = [await clientPage(), await clientPage()];
    const join = (page, withCamera) => page.evaluate(async ([room, withCamera]) => {
      const stream = withCamera ? await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } }) : undefined;
      const r = new window.lib.Room(room, { stream });
      window.r = r;
      window.offers = 0;
      const signal = r._signal.bind(r);
      r._signal = (msg) => {
        if (msg.type === "offer") window.offers++;
        signal(msg);
      };
      r.addEventListener("track", (e) => {
        if (e.detail.track.kind !== "video") return;
        const video = Object.assign(document.createElement("video"), { autoplay: true, muted: true, srcObject: e.detail.streams[0] });
        document.body.append(video);
        window.remote = video;
      });
      return (await r.join()).peer;
    }, [room, withCamera]);
    await join(a, true);
    await join(b, false);
    const width = () => b.evaluate(() => window.remote?.videoWidth || 0);
    await b.waitForFunction(() => window.remote?.videoWidth === 640, null, { timeout: 15_000 });
    await a.waitForFunction(() => [...window.r.peers.values()].every((p) => p.pc.signalingState === "stable"), null, { timeout: 5_000 });
    const result = await a.evaluate(async () => {
      const canvas = Object.assign(document.createElement("canvas"), { width: 320, height: 240 });
      const ctx = canvas.getContext("2d");
      setInterval(() => { ctx.fillStyle = `hsl(${Date.now() % 360} 50% 50%)`; ctx.fillRect(0, 0, 320, 240); }, 50);
      const screen = canvas.captureStream(20).getVideoTracks()[0];
      const camera = window.r.localStream.getVideoTracks()[0];
      const offersBefore = window.offers;
      await window.r.replaceTrack(camera, screen);
      let notConnected = null;
      try {
        window.r.send("x", "nobody");
      } catch (err) {
        notConnected = [err.name, err.code];
      }
      return { offersBefore, stream: window.r.localStream.getVideoTracks().map((t) => t === screen), notConnected };
    });
    await b.waitForFunction(() => window.remote?.videoWidth === 320, null, { timeout: 15_000 });
    assert.equal(await width(), 320);
    assert.deepEqual(result.stream, [true], "the local stream holds the new track");
    assert.deepEqual(result.notConnected, ["EdgeSignalError", "not_connected"]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await a.evaluate(() => window.offers), result.offersBefore, "no renegotiation");
  });
});
