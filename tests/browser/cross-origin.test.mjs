// Browser test: the documented integration, from an app's own origin. A page served by another
// server (another port: another origin) imports the client library from the worker, joins a
// room on it, and two such pages connect and exchange data over WebRTC. Browsers refuse a module
// from another origin without CORS: this is what `Access-Control-Allow-Origin` on
// /edge-signal.js is for.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { launchBrowser, newPerson, startServer, uniqueRoom } from "./harness.mjs";

const APP_PAGE = `<!doctype html>
<meta charset="utf-8"><title>someone's app</title>
<script type="module">
  const params = new URLSearchParams(location.search);
  const server = params.get("server");
  window.app = { data: [], error: null };
  try {
    const { Room } = await import(server + "/edge-signal.js");
    const room = new Room(params.get("room"), { server });
    window.app.room = room;
    room.addEventListener("data", (e) => window.app.data.push(e.detail.data));
    room.addEventListener("channelopen", (e) => room.send("hello from " + room.peerId, e.detail.peer));
    window.app.welcome = await room.join();
  } catch (err) {
    window.app.error = String(err && err.message || err);
  }
</script>`;

let worker;
let app;
let browser;

before(async () => {
  worker = await startServer({ ICE_SERVERS: "[]" }, "wrangler-cross-origin");
  app = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(APP_PAGE);
  });
  await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  app?.close();
  worker?.stop();
});

test("a page on another origin imports /edge-signal.js, joins and connects", async () => {
  const appOrigin = `http://127.0.0.1:${app.address().port}`;
  assert.notEqual(appOrigin, worker.origin, "two origins");
  const room = uniqueRoom("xorigin");
  const url = `${appOrigin}/?server=${encodeURIComponent(worker.origin)}&room=${room}`;
  const pages = [];
  for (let i = 0; i < 2; i++) {
    const page = await newPerson(browser);
    pages.push(page);
    await page.goto(url);
    await page.waitForFunction(() => window.app && (window.app.welcome || window.app.error), null, {
      timeout: 15_000,
    });
    assert.equal(await page.evaluate(() => window.app.error), null);
  }
  const ids = await Promise.all(pages.map((p) => p.evaluate(() => window.app.room.peerId)));
  for (const [i, page] of pages.entries()) {
    await page.waitForFunction((n) => window.app.data.length >= n, 1, { timeout: 30_000 });
    assert.deepEqual(await page.evaluate(() => window.app.data), [`hello from ${ids[1 - i]}`]);
  }
  for (const page of pages) await page.context().close();
});
