// Browser tests across engines: the room page in Debian's firefox-esr calling Chromium, and
// Firefox calling Firefox, against a real `wrangler dev`, with fake media on both sides.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  OUT, launchBrowser, launchFirefox, newFirefoxPerson, newPerson, startServer, uniqueRoom, until,
} from "./harness.mjs";

let server;
let chromium;
let firefox;
const pages = [];

async function openRoom(engine, room) {
  const page = engine === "firefox" ? await newFirefoxPerson(firefox) : await newPerson(chromium);
  pages.push(page);
  await page.goto(`${server.origin}/rooms/${room}`);
  return page;
}

/** Waits until the page shows `n` remote peers, all connected, and returns their states. */
function connected(page, n) {
  return until(page, (n) => {
    const tiles = [...document.querySelectorAll(".tile.remote")];
    // The chat goes over the data channels, which may open a moment after the call connects.
    // Polled from right after navigation: the page's module may not have run yet.
    const peers = window.edgeSignal?.room?.peers;
    if (!peers) return false;
    const channels = [...peers.values()].map((p) => p.channel?.readyState);
    return tiles.length === n && tiles.every((t) => t.dataset.state === "connected") &&
      channels.length === n && channels.every((c) => c === "open") && tiles.map((t) => t.dataset.state);
  }, n, { what: `${n} connected peer(s) with open data channels` });
}

function chat(page, text) {
  return page.evaluate((text) => {
    document.getElementById("chat-input").value = text;
    document.getElementById("chat-form").requestSubmit();
  }, text);
}

function seesChat(page, text) {
  return until(page, (text) => document.getElementById("chat-log").textContent.includes(text), text, {
    timeout: 10_000, what: `the chat line "${text}"`,
  });
}

/** Waits until every remote video has decoded frames; returns their widths. */
function remoteVideo(page) {
  return until(page, () => {
    const videos = [...document.querySelectorAll(".tile.remote video")];
    return videos.length > 0 && videos.every((v) => v.videoWidth > 0) && videos.map((v) => v.videoWidth);
  }, null, { what: "remote video frames" });
}

before(async () => {
  server = await startServer({ ICE_SERVERS: "[]" }, "wrangler-firefox");
  [chromium, firefox] = await Promise.all([launchBrowser(), launchFirefox()]);
});

afterEach(async () => {
  for (const page of pages.splice(0)) await page.context().close().catch(() => {});
});

after(async () => {
  await chromium?.close();
  await firefox?.close();
  server?.stop();
});

describe("the room page across engines", () => {
  for (const [first, second] of [["chromium", "firefox"], ["firefox", "chromium"], ["firefox", "firefox"]]) {
    test(`${first} then ${second}: connected, chat both ways, video both ways`, async () => {
      const room = uniqueRoom(`${first[0]}${second[0]}`);
      const a = await openRoom(first, room);
      const b = await openRoom(second, room);
      assert.deepEqual(await connected(a, 1), ["connected"]);
      assert.deepEqual(await connected(b, 1), ["connected"]);
      await chat(a, `hello from ${first}`);
      await seesChat(b, `hello from ${first}`);
      await chat(b, `hello from ${second}`);
      await seesChat(a, `hello from ${second}`);
      for (const page of [a, b]) {
        const widths = await remoteVideo(page);
        assert.equal(widths.length, 1);
        assert.ok(widths[0] > 0);
      }
      // Chromium's view of a Firefox peer, kept with the test output (the README's picture is make picture's).
      if (first === "chromium") await a.screenshot({ path: join(OUT, "chromium-firefox-call.png") });
    });
  }
});
