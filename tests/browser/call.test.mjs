// Browser tests: real Chromium pages on the room URL, against a real `wrangler dev`, with fake
// media devices. Run by `make test` (node --test tests/browser/).
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  OUT, launchBrowser, newPerson, pathsShown, peerStates, restartServer, startServer, stopServer,
  uniqueRoom, waitForConnectedPeers,
} from "./harness.mjs";

// No STUN server: the test machine has no route out, and host candidates connect on it.
const VARS = { ICE_SERVERS: "[]" };
let server;
let browser;
const pages = [];

async function openRoom(room, query = "", opts) {
  const page = await newPerson(browser, opts);
  pages.push(page);
  await page.goto(`${server.origin}/rooms/${room}${query}`);
  return page;
}

async function sendChat(page, text) {
  await page.fill("#chat-input", text);
  await page.click("#chat-form button");
}

async function waitForChat(page, text) {
  await page.waitForFunction((text) => document.getElementById("chat-log").textContent.includes(text), text, {
    timeout: 10_000,
  });
}

async function remoteVideoWidths(page) {
  return page.$$eval(".tile.remote video", (videos) => videos.map((v) => v.videoWidth));
}

/** Waits until every remote video of the page has decoded frames. */
async function waitForRemoteVideo(page) {
  await page.waitForFunction(
    () => {
      const videos = [...document.querySelectorAll(".tile.remote video")];
      return videos.length > 0 && videos.every((v) => v.videoWidth > 0);
    },
    null,
    { timeout: 30_000 },
  );
}

const stat = (page, name) => page.evaluate((name) => window.edgeSignal.room.stats[name], name);

before(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer(VARS);
  browser = await launchBrowser();
});

// Each test's pages end with it: calls left running would load the 2-core machine for the next.
afterEach(async () => {
  for (const page of pages.splice(0)) await page.context().close().catch(() => {});
});

after(async () => {
  await browser?.close();
  server?.stop();
});

describe("the room page in Chromium", () => {
  test("two pages on one room URL are in a call: connected, data both ways, video both ways", async () => {
    const room = uniqueRoom("two");
    const alice = await openRoom(room);
    // Alone, the page says so and points at the link to share.
    await alice.waitForFunction(() => document.body.dataset.alone === "true", null, { timeout: 10_000 });
    assert.match(await alice.textContent("#status"), /waiting for someone · share this link/);
    const bob = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);

    await sendChat(alice, "hello from alice");
    await waitForChat(bob, "hello from alice");
    await sendChat(bob, "hello from bob");
    await waitForChat(alice, "hello from bob");

    // No STUN or TURN server here: the call is host to host, and each tile says so.
    for (const page of [alice, bob]) {
      assert.deepEqual(await pathsShown(page, 1, "host"), [{ path: "host", text: "connected · direct" }]);
      assert.match(await page.textContent("#status"), /in the room with 1 other/);
    }

    await waitForRemoteVideo(alice);
    await waitForRemoteVideo(bob);
    for (const page of [alice, bob]) {
      const widths = await remoteVideoWidths(page);
      assert.equal(widths.length, 1);
      assert.ok(widths[0] > 0, `remote videoWidth ${widths[0]}`);
    }
    await alice.screenshot({ path: join(OUT, "two-party-call.png") });

    // How many ICE candidates each side sent for this call (tunes the hardening rate limits).
    await new Promise((r) => setTimeout(r, 1500)); // let gathering finish
    const sent = [await stat(alice, "candidatesSent"), await stat(bob, "candidatesSent")];
    const line = `ICE candidates sent per call: alice ${sent[0]}, bob ${sent[1]}, total ${sent[0] + sent[1]}`;
    console.log(line);
    writeFileSync(join(OUT, "ice-candidates.txt"), `${line}\n`);
    assert.ok(sent[0] > 0 && sent[1] > 0);
  });

  test("three pages at ?capacity=3 form a full mesh", async () => {
    const room = uniqueRoom("mesh");
    const trio = [];
    for (let i = 0; i < 3; i++) trio.push(await openRoom(room, "?capacity=3"));
    for (const page of trio) await waitForConnectedPeers(page, 2);
    const capacity = await trio[0].evaluate(() => window.edgeSignal.room.capacity);
    assert.equal(capacity, 3);
    for (const page of trio) {
      await waitForRemoteVideo(page);
      assert.deepEqual(Object.values(await peerStates(page)), ["connected", "connected"]);
    }
  });

  test("?name= is the name the others see: on the tile, in the chat, in who left", async () => {
    const room = uniqueRoom("names");
    const ada = await openRoom(room, "?name=Ada");
    const grace = await openRoom(room, "?name=Grace%20Hopper");
    await waitForConnectedPeers(ada, 1);
    await waitForConnectedPeers(grace, 1);
    // Grace learned Ada's name from welcome, Ada learned Grace's from peer_joined.
    assert.equal(await grace.textContent(".tile.remote .peer-id"), "Ada");
    assert.equal(await ada.textContent(".tile.remote .peer-id"), "Grace Hopper");
    assert.equal(await ada.textContent("#local-id"), "(Ada)");
    await sendChat(grace, "hello Ada");
    await waitForChat(ada, "Grace Hopper: hello Ada");
    await grace.close();
    await ada.waitForFunction(() => /Grace Hopper (left the room|lost the connection and left)/.test(document.getElementById("notice").textContent), null, { timeout: 10_000 });
  });

  test("a third page in a capacity-2 room shows the room-full message", async () => {
    const room = uniqueRoom("full");
    const a = await openRoom(room);
    const b = await openRoom(room);
    await waitForConnectedPeers(a, 1);
    await waitForConnectedPeers(b, 1);
    const c = await openRoom(room);
    await c.waitForSelector("body[data-full=true] #notice:not([hidden])", { timeout: 10_000 });
    assert.match(await c.textContent("#notice"), /room is full/);
    // Refused: the camera is stopped and what cannot work is disabled (copying the link still can).
    assert.deepEqual(await c.evaluate(() => ({
      camera: document.getElementById("local-video").srcObject,
      live: window.edgeSignal.stream?.getTracks().filter((t) => t.readyState === "live").length ?? 0,
      disabled: [...document.querySelectorAll(".controls button")].map((b) => [b.id, b.disabled]),
    })), {
      camera: null,
      live: 0,
      disabled: [["mute", true], ["camera", true], ["copy-link", false], ["leave", true]],
    });
    assert.equal(Object.keys(await peerStates(a)).length, 1, "the room is untouched");
  });

  test("closing a page shows the peer gone within 2 s; reloading rejoins the call", async () => {
    const room = uniqueRoom("close");
    const alice = await openRoom(room);
    const bob = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);

    const closedAt = Date.now();
    await bob.close();
    await alice.waitForFunction(() => document.querySelectorAll(".tile.remote").length === 0, null, {
      timeout: 2_000,
    });
    console.log(`peer gone after ${Date.now() - closedAt} ms`);
    // And says who left, then that it waits again.
    assert.match(await alice.textContent("#notice"), /lost the connection and left|left the room/);
    await alice.waitForFunction(() => document.body.dataset.alone === "true");

    await alice.reload();
    const carol = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(carol, 1);
    await waitForRemoteVideo(alice);
  });

  test("the client library reconnects after its socket is killed, and the call recovers", async () => {
    const room = uniqueRoom("blip");
    const alice = await openRoom(room);
    const bob = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);
    const before = await alice.evaluate(() => window.edgeSignal.room.peerId);

    await alice.evaluate(() => window.edgeSignal.room.ws.close()); // the socket, not the page
    await alice.waitForFunction(() => window.edgeSignal.room.stats.reconnects >= 1, null, { timeout: 5_000 });
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);
    assert.equal(await alice.evaluate(() => window.edgeSignal.room.peerId), before, "rejoined with its id");
    await sendChat(bob, "still there?");
    await waitForChat(alice, "still there?");
    await waitForRemoteVideo(bob);
  });

  test("a reconnect that resumes the seat keeps the call: the other side sees no departure", async () => {
    const room = uniqueRoom("resume");
    const alice = await openRoom(room);
    const bob = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);
    await bob.evaluate(() => {
      window.departures = 0;
      window.edgeSignal.room.addEventListener("peerleft", () => window.departures++);
    });
    const pcBefore = await alice.evaluate(() => [...window.edgeSignal.room.peers.values()][0].pc.connectionState);
    assert.equal(pcBefore, "connected");

    // As after a network change: a new socket resumes the seat while the old one is still open.
    const resumed = alice.evaluate(
      () => new Promise((resolve) => {
        window.edgeSignal.room.addEventListener("welcome", (e) => resolve(e.detail.resumed), { once: true });
        window.edgeSignal.room.reconnect();
      }),
    );
    assert.equal(await resumed, true);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await bob.evaluate(() => window.departures), 0, "bob saw no peer_left");
    assert.deepEqual(Object.values(await peerStates(bob)), ["connected"]);
    assert.deepEqual(Object.values(await peerStates(alice)), ["connected"]);
    await sendChat(bob, "after resume");
    await waitForChat(alice, "after resume");
    // Signaling still flows through the new socket: a renegotiation completes.
    await sendChat(alice, "and back");
    await waitForChat(bob, "and back");
  });

  test("a denied camera joins receive-only, and a track added later renegotiates into the call", async () => {
    const room = uniqueRoom("recvonly");
    const alice = await newPerson(browser);
    pages.push(alice);
    // The user says no to the camera prompt.
    await alice.addInitScript(() => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("denied", "NotAllowedError"));
    });
    await alice.goto(`${server.origin}/rooms/${room}`);
    await alice.waitForSelector("#notice:not([hidden])");
    assert.match(await alice.textContent("#notice"), /receive-only/);
    const bob = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);
    await waitForRemoteVideo(alice); // alice sees bob without sending anything

    // alice now shares a canvas: the library adds the track to the call and renegotiates.
    await alice.evaluate(() => {
      const canvas = document.createElement("canvas");
      canvas.width = 320;
      canvas.height = 240;
      const ctx = canvas.getContext("2d");
      setInterval(() => {
        ctx.fillStyle = `hsl(${Date.now() % 360} 80% 50%)`;
        ctx.fillRect(0, 0, 320, 240);
      }, 50);
      const stream = canvas.captureStream(20);
      window.edgeSignal.room.addTrack(stream.getVideoTracks()[0], stream);
    });
    await waitForRemoteVideo(bob);
    assert.equal((await remoteVideoWidths(bob))[0], 320);
  });

  test("the landing page's New room goes to an unguessable room", async () => {
    const page = await newPerson(browser);
    pages.push(page);
    await page.goto(`${server.origin}/`);
    await Promise.all([page.waitForURL(/\/rooms\/[A-Za-z0-9_-]{22}$/), page.click("#new-room")]);
    await page.waitForSelector("body[data-joined=true]", { timeout: 10_000 });
    await page.goto(`${server.origin}/`);
    await page.fill("#room-name", "named-room");
    await Promise.all([page.waitForURL(/\/rooms\/named-room$/), page.click("#join-form button")]);
  });

  test("the room page fits a phone-sized viewport", async () => {
    const room = uniqueRoom("phone");
    const phone = await openRoom(room, "", { viewport: { width: 375, height: 667 } });
    await phone.waitForSelector("body[data-joined=true]", { timeout: 10_000 });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
    for (const id of ["mute", "camera", "copy-link", "leave"]) {
      assert.ok(await phone.isVisible(`#${id}`), `${id} visible`);
    }
  });
});

/** The page's own peer id. */
const peerIdOf = (page) => page.evaluate(() => window.edgeSignal.room.peerId);

/** Whether the page's status line matches `pattern` (a RegExp's source), within `timeout`. */
async function waitForStatus(page, pattern, timeout = 10_000) {
  await page.waitForFunction((pattern) => new RegExp(pattern).test(document.getElementById("status").textContent),
    pattern, { timeout }).catch(async (err) => {
    throw new Error(`status says ${JSON.stringify(await page.textContent("#status"))}, not /${pattern}/: ${err.message}`);
  });
}

/**
 * Watches the page's calls from now on (window.watch): the RTCPeerConnection of each remote peer
 * as it is now (`pcs`, by peer id) and every connection state it goes through (`states`), how
 * many RTCPeerConnections the page makes from now on (`created`), the room's `welcome`,
 * `peerleft` and `peerstate` events, and, sampled every 200 ms, the longest stretch in which the
 * remote video showed no new frame (`longestGapMs`: a call that is torn down and set up again
 * shows a gap of seconds there).
 */
async function watchCalls(page) {
  await page.evaluate(() => {
    const room = window.edgeSignal.room;
    const w = (window.watch = { pcs: {}, states: [], created: 0, welcomes: [], left: [], peerstates: [], longestGapMs: 0 });
    for (const [id, p] of room.peers) {
      w.pcs[id] = p.pc;
      p.pc.addEventListener("connectionstatechange", () => w.states.push(`${id}: ${p.pc.connectionState}`));
    }
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        w.created++;
      }
    };
    room.addEventListener("welcome", (e) => w.welcomes.push(e.detail));
    room.addEventListener("peerleft", (e) => w.left.push(e.detail));
    room.addEventListener("peerstate", (e) => w.peerstates.push(e.detail));
    let last = { video: null, frames: 0, at: Date.now() };
    setInterval(() => {
      const video = document.querySelector(".tile.remote video");
      const frames = video?.getVideoPlaybackQuality().totalVideoFrames ?? 0;
      const now = Date.now();
      const progressed = video && video === last.video && frames > last.frames;
      last = { video, frames, at: progressed ? now : last.at };
      w.longestGapMs = Math.max(w.longestGapMs, now - last.at);
    }, 200);
  });
}

/** RTP bytes received so far on the RTCPeerConnections watchCalls recorded (closed ones: 0). */
function inboundBytes(page) {
  return page.evaluate(async () => {
    let bytes = 0;
    for (const pc of Object.values(window.watch.pcs)) {
      if (pc.connectionState === "closed") continue;
      (await pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp") bytes += r.bytesReceived;
      });
    }
    return bytes;
  });
}

describe("a server restart mid-call (the server loses every room)", () => {
  test("the call goes on through the outage and the rejoin: the same RTCPeerConnections stay connected, nobody leaves, data and video flow after", async () => {
    const room = uniqueRoom("restart");
    const alice = await openRoom(room);
    const bob = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);
    await waitForRemoteVideo(alice);
    await waitForRemoteVideo(bob);
    const ids = { alice: await peerIdOf(alice), bob: await peerIdOf(bob) };
    for (const page of [alice, bob]) await watchCalls(page);

    const stoppedAt = Date.now();
    await stopServer(server);
    // Signaling is gone: each page says so, and that the call goes on; and it does (chat over
    // the data channel, peer to peer).
    for (const page of [alice, bob]) await waitForStatus(page, "signaling lost · reconnecting… \\(calls already running go on\\)");
    await sendChat(alice, "during the outage");
    await waitForChat(bob, "during the outage");
    await sendChat(bob, "still here");
    await waitForChat(alice, "still here");

    server = await restartServer(server, VARS);
    // Both rejoin the new server, which never heard of their seats (resumed: false), and are in
    // the room with each other again.
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => window.watch.welcomes.length > 0, null, { timeout: 30_000 });
    }
    for (const page of [alice, bob]) await waitForStatus(page, "in the room with 1 other", 30_000);
    console.log(`signaling back after ${Date.now() - stoppedAt} ms`);
    // Long enough for a call that is set up again to show it (the rejoin's offer and answer).
    await new Promise((r) => setTimeout(r, 3_000));

    for (const [page, other] of [[alice, ids.bob], [bob, ids.alice]]) {
      const seen = await page.evaluate((other) => {
        const w = window.watch;
        return {
          resumed: [...new Set(w.welcomes.map((x) => x.resumed))],
          samePc: window.edgeSignal.room.peers.get(other)?.pc === w.pcs[other],
          state: w.pcs[other].connectionState,
          states: w.states,
          created: w.created,
          left: w.left,
          peerstates: w.peerstates,
        };
      }, other);
      assert.deepEqual(seen, {
        resumed: [false], samePc: true, state: "connected", states: [], created: 0, left: [], peerstates: [],
      }, `${other === ids.bob ? "alice" : "bob"}'s call`);
      assert.deepEqual(Object.values(await peerStates(page)), ["connected"]);
    }

    // The call carries media and data after, on the same connections.
    for (const page of [alice, bob]) {
      const bytes = await inboundBytes(page);
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok(await inboundBytes(page) > bytes, "RTP still arrives on the kept connection");
      const gap = await page.evaluate(() => window.watch.longestGapMs);
      console.log(`longest stretch without a new remote video frame: ${gap} ms`);
      assert.ok(gap < 3_000, `the remote video stalled for ${gap} ms`);
    }
    await sendChat(alice, "after the restart");
    await waitForChat(bob, "after the restart");
    await sendChat(bob, "and back");
    await waitForChat(alice, "and back");
  });

  // A page that starts over (a reload, the app's fixed peer id kept) while the other side still
  // holds a connected call with its old page: the other side keeps that call through its rejoin,
  // then learns from the new page's signaling (another session, another certificate) that its
  // side is new, and starts a fresh connection instead of feeding it to the old one.
  for (const order of ["after", "before"]) {
    test(`a page that starts over with the same peer id, joining ${order} the other rejoins, gets a new call in place of the kept one`, async () => {
      const room = uniqueRoom(`renew-${order}`);
      const alice = await openRoom(room);
      const bob = await openRoom(room);
      await waitForConnectedPeers(alice, 1);
      await waitForConnectedPeers(bob, 1);
      const ids = { alice: await peerIdOf(alice), bob: await peerIdOf(bob) };
      await watchCalls(alice);
      // Holds a Room's reconnects (its backoff timer and any later one) until released.
      const hold = (page) => page.evaluate(() => {
        const r = window.edgeSignal.room;
        r._connect = () => {};
        clearTimeout(r._retryTimer);
      });

      await stopServer(server);
      await waitForStatus(alice, "reconnecting");
      // Bob's old page never comes back and never closes its connections: alice's call with it
      // stays connected until bob's new page (a second Room, same id, in the same tab) joins.
      await hold(bob);
      if (order === "before") await hold(alice);
      server = await restartServer(server, VARS);
      if (order === "after") {
        await alice.waitForFunction(() => window.watch.welcomes.length > 0, null, { timeout: 30_000 });
        assert.equal(await alice.evaluate((bob) => window.edgeSignal.room.peers.get(bob)?.pc.connectionState, ids.bob),
          "connected", "the call with bob's old page is kept while bob is away");
      }
      const startedOver = Date.now();
      const welcome = await bob.evaluate(async ([name, peer]) => {
        const Room = window.edgeSignal.room.constructor;
        const fresh = (window.fresh = new Room(name, { peer, stream: window.edgeSignal.stream }));
        window.freshData = [];
        fresh.addEventListener("data", (e) => window.freshData.push(String(e.detail.data)));
        const w = await fresh.join();
        return { peer: w.peer, peers: w.peers, resumed: w.resumed };
      }, [room, ids.bob]);
      assert.deepEqual(welcome, { peer: ids.bob, peers: order === "after" ? [ids.alice] : [], resumed: false });
      if (order === "before") {
        await alice.evaluate(() => {
          const r = window.edgeSignal.room;
          delete r._connect;
          r.reconnect();
        });
      }

      // Alice's call with bob is a new connection, to bob's new page, carrying data both ways.
      await alice.waitForFunction((bob) => {
        const p = window.edgeSignal.room.peers.get(bob);
        return p && p.pc !== window.watch.pcs[bob] && p.pc.connectionState === "connected" &&
          p.channel?.readyState === "open";
      }, ids.bob, { timeout: 30_000 });
      await bob.waitForFunction((alice) => {
        const p = window.fresh.peers.get(alice);
        return p?.pc.connectionState === "connected" && p.channel?.readyState === "open";
      }, ids.alice, { timeout: 30_000 });
      console.log(`new call ${order} the rejoin: connected ${Date.now() - startedOver} ms after the new page joined`);
      assert.equal(await alice.evaluate((bob) => window.watch.pcs[bob].connectionState, ids.bob), "closed");
      await waitForConnectedPeers(alice, 1);
      await bob.evaluate((alice) => window.fresh.send("from the new page", alice), ids.alice);
      await waitForChat(alice, "from the new page");
      await sendChat(alice, "welcome back");
      await bob.waitForFunction(() => window.freshData.includes("welcome back"), null, { timeout: 10_000 });
      assert.deepEqual(await alice.evaluate(() => window.watch.left), [], "bob never left");
    });
  }

  test("a peer whose page closes while the server is gone is dropped: its tile goes, and the page says it left", async () => {
    const room = uniqueRoom("gone");
    const alice = await openRoom(room);
    const bob = await openRoom(room);
    await waitForConnectedPeers(alice, 1);
    await waitForConnectedPeers(bob, 1);
    const ids = { alice: await peerIdOf(alice), bob: await peerIdOf(bob) };
    await watchCalls(alice);

    await stopServer(server);
    await waitForStatus(alice, "reconnecting");
    // Bob does not reconnect: alice rejoins alone, and keeps the call while bob may still come.
    await bob.evaluate(() => {
      const r = window.edgeSignal.room;
      r._connect = () => {};
      clearTimeout(r._retryTimer);
    });
    server = await restartServer(server, VARS);
    await alice.waitForFunction(() => window.watch.welcomes.length > 0, null, { timeout: 30_000 });
    assert.deepEqual(await peerStates(alice), { [ids.bob]: "connected" });
    assert.match(await alice.textContent("#status"), /in the room with 1 other/);

    // Bob's page closes: alice's call with it ends (its connection drops; at the latest
    // REJOIN_GRACE_MS after the rejoin), and alice's page says bob left.
    const closedAt = Date.now();
    await bob.context().close();
    await alice.waitForFunction(() => document.querySelectorAll(".tile.remote").length === 0, null, { timeout: 40_000 });
    console.log(`gone peer dropped ${Date.now() - closedAt} ms after its page closed`);
    assert.match(await alice.textContent("#notice"), /lost the connection and left/);
    await waitForStatus(alice, "waiting for someone");
    assert.deepEqual(await alice.evaluate(() => window.watch.left), [{ peer: ids.bob, reason: "disconnect" }]);
    assert.equal(await alice.evaluate(() => window.edgeSignal.room.peers.size), 0);
  });
});
