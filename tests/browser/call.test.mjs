// Browser tests: real Chromium pages on the room URL, against a real `wrangler dev`, with fake
// media devices. Run by `make test` (node --test tests/browser/).
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  OUT, launchBrowser, newPerson, pathsShown, peerStates, startServer, uniqueRoom,
  waitForConnectedPeers,
} from "./harness.mjs";

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
  // No STUN server: the test machine has no route out, and host candidates connect on it.
  server = await startServer({ ICE_SERVERS: "[]" });
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
