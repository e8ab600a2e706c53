// Browser test: the room page on a deployment with AUTH_SECRET. A token in the page's URL
// (`?token=` or `#token=`) is passed to the client, which sends it in Sec-WebSocket-Protocol;
// the page joins, and the token is taken out of the address bar. Without one, the page shows
// the refusal.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { launchBrowser, newPerson, startServer, uniqueRoom } from "./harness.mjs";

const SECRET = "browser-test-secret-0123456789";
let server;
let browser;

/** An HS256 join token, as any back end would mint one (docs/security.md). */
function mint(room, peer, meta) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const claims = { room, peer, exp: Math.floor(Date.now() / 1000) + 600, ...(meta ? { meta } : {}) };
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
}

before(async () => {
  server = await startServer({ ICE_SERVERS: "[]", AUTH_SECRET: SECRET }, "wrangler-token");
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test("the room page joins with a token from its URL and takes it out of the address bar", async () => {
  const room = uniqueRoom("signed");
  for (const [peer, where] of [["alice", "?"], ["bob", "#"]]) {
    const page = await newPerson(browser);
    await page.goto(`${server.origin}/rooms/${room}${where}token=${mint(room, peer)}`);
    await page.waitForFunction(() => document.body.dataset.joined === "true", null, { timeout: 15_000 });
    assert.equal(await page.evaluate(() => window.edgeSignal.room.peerId), peer);
    assert.ok(!page.url().includes("token"), page.url());
  }
  const stranger = await newPerson(browser);
  await stranger.goto(`${server.origin}/rooms/${room}`);
  await stranger.waitForFunction(() => !document.getElementById("notice").hidden, null, { timeout: 15_000 });
  // The server's reason, and what to do about it; the camera stopped.
  assert.match(await stranger.textContent("#notice"), /not allowed to join this room: a token is required.*join token/);
  assert.equal(await stranger.evaluate(() => document.body.dataset.refused), "true");
  assert.equal(await stranger.evaluate(() => document.getElementById("local-video").srcObject), null);
});

test("signed: the others see the token's meta claim; the client's meta option is refused", async () => {
  const room = uniqueRoom("signed-meta");
  const page = await newPerson(browser);
  await page.goto(`${server.origin}/`);
  const ada = { name: "Ada" };
  const seen = await page.evaluate(async ([server, room, tokens]) => {
    const { Room } = await import(`${server}/edge-signal.js`);
    const alice = new Room(room, { token: tokens.alice });
    const joined = new Promise((res) => alice.addEventListener("peerjoined", (e) => res(e.detail), { once: true }));
    await alice.join();
    // `{}` is no metadata: not sent, so a signed server does not refuse it.
    const bob = new Room(room, { token: tokens.bob, meta: {} });
    const welcome = await bob.join();
    // Metadata of one's own, on a signed deployment: the server refuses it (400 bad_request).
    const forged = await new Room(room, { token: tokens.carol, meta: { name: "Not Carol" } }).join()
      .then(() => "joined", (err) => err.code);
    return { welcome: welcome.meta, joined: await joined, forged };
  }, [server.origin, room, { alice: mint(room, "alice", ada), bob: mint(room, "bob"), carol: mint(room, "carol") }]);
  assert.deepEqual(seen, { welcome: { alice: ada }, joined: { peer: "bob" }, forged: "bad_request" });
});
