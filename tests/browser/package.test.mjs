// The client as users get it: `npm pack` of client/, installed from the tarball into a scratch
// app, type-checked there with tsc, then run in Chromium and Firefox through the examples
// (examples/serve.mjs, serving the installed file), on an origin other than the server's.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  OUT, ROOT, freePortNumber, launchBrowser, launchFirefox, newFirefoxPerson, newPerson, startServe,
  startServer, uniqueRoom, until,
} from "./harness.mjs";
import { serveExamples } from "../../examples/serve.mjs";

const WORK = join(OUT, "package");
const APP = join(WORK, "app");
const INSTALLED = join(APP, "node_modules", "edge-signal");
let server;
let selfHosted; // `make serve`: standalone newest workerd
let examples;
let examplesOrigin;
let chromium;
let firefox;
const pages = [];

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

before(async () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(APP, { recursive: true });
  const tarball = run("npm", ["pack", join(ROOT, "client"), "--pack-destination", WORK, "--loglevel=error"], ROOT)
    .trim().split("\n").pop();
  writeFileSync(join(APP, "package.json"), JSON.stringify({ name: "scratch-app", private: true, type: "module" }));
  run("npm", ["install", join(WORK, tarball), "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], APP);
  for (const file of ["usage.ts", "tsconfig.json"]) copyFileSync(join(ROOT, "tests/browser/package-app", file), join(APP, file));
  // The README's "In your own app" snippet, exactly as it is there: type-checked with the rest
  // (tsconfig.json lists readme.ts), so the snippet cannot drift from the package's types.
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const snippet = readme.slice(readme.indexOf("In your own app")).match(/```js\n([\s\S]*?)```/)[1];
  writeFileSync(join(APP, "readme.ts"), snippet);
  [server, selfHosted] = await Promise.all([
    startServer({ ICE_SERVERS: "[]" }, "wrangler-package"),
    startServe({ ICE_SERVERS: "[]" }, "serve-package"),
  ]);
  // Pages opened without ?server= talk to the one the examples were started for.
  examples = await serveExamples({ port: await freePortNumber(), client: join(INSTALLED, "edge-signal.js"), devServer: server.origin });
  examplesOrigin = `http://127.0.0.1:${examples.address().port}`;
  [chromium, firefox] = await Promise.all([launchBrowser(), launchFirefox()]);
});

afterEach(async () => {
  for (const page of pages.splice(0)) await page.context().close().catch(() => {});
});

after(async () => {
  await chromium?.close();
  await firefox?.close();
  examples?.close();
  server?.stop();
  selfHosted?.stop();
});

/** An example page in `engine`, in `room`, against `against` (`null`: no `?server=`, so the
 * examples' own default, the wrangler dev server). */
async function openExample(engine, example, room, against = server) {
  const page = engine === "firefox" ? await newFirefoxPerson(firefox) : await newPerson(chromium);
  pages.push(page);
  const where = against ? `server=${encodeURIComponent(against.origin)}&` : "";
  await page.goto(`${examplesOrigin}/${example}/?${where}room=${room}`);
  return page;
}

describe("the npm package", () => {
  test("installs from its tarball with its files, and its types check and match the module", async () => {
    const manifest = JSON.parse(readFileSync(join(INSTALLED, "package.json"), "utf8"));
    assert.equal(manifest.name, "edge-signal");
    for (const file of ["edge-signal.js", "edge-signal.d.ts", "README.md", "LICENSE"]) {
      assert.ok(readFileSync(join(INSTALLED, file)).length > 0, file);
    }
    // The same file the worker serves at /edge-signal.js.
    assert.equal(readFileSync(join(INSTALLED, "edge-signal.js"), "utf8"), readFileSync(join(ROOT, "client/edge-signal.js"), "utf8"));
    // tsc on an app that uses every declaration (and misuses some, which must not check).
    try {
      run(join(ROOT, "node_modules/.bin/tsc"), ["-p", APP], APP);
    } catch (err) {
      assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`);
    }
    // The declarations match the module: every error code, and every method of Room.
    const lib = await import(join(INSTALLED, "edge-signal.js"));
    const dts = readFileSync(join(INSTALLED, "edge-signal.d.ts"), "utf8");
    const declaredCodes = Object.fromEntries(
      [...dts.slice(0, dts.indexOf("}>;")).matchAll(/^\s+([A-Z_]+): "([a-z_]+)";$/gm)].map((m) => [m[1], m[2]]),
    );
    assert.deepEqual(declaredCodes, { ...lib.ErrorCode });
    const roomDecl = dts.slice(dts.indexOf("export declare class Room"));
    const declaredMethods = new Set([...roomDecl.matchAll(/^ {2}([a-zA-Z]+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]));
    const methods = Object.getOwnPropertyNames(lib.Room.prototype).filter((m) => m !== "constructor" && !m.startsWith("_"));
    assert.deepEqual(methods.filter((m) => !declaredMethods.has(m)), [], "methods without types");
    for (const m of declaredMethods) assert.ok(m in lib.Room.prototype, `declared but missing: ${m}`);
  });
});

describe("the packaged client, from another origin, in Chromium and Firefox", () => {
  for (const [first, second, on] of [["chromium", "firefox", "wrangler dev"], ["firefox", "firefox", "wrangler dev"], ["chromium", "firefox", "make serve"]]) {
    test(`call example on ${on}, ${first} and ${second}: video both ways, both channels both ways`, async () => {
      const room = uniqueRoom("pkg-call");
      const against = on === "make serve" ? selfHosted : server;
      const a = await openExample(first, "call", room, against);
      const b = await openExample(second, "call", room, against);
      for (const [page, other] of [[a, b], [b, a]]) {
        const otherId = await until(other, () => window.call?.room?.peerId, null, { what: "a welcome" });
        await until(page, (id) => window.call.received.some((l) => l.startsWith(`${id}: hello from ${id}`)), otherId, {
          what: "the reliable greeting",
        });
        await until(page, (id) => window.call.unreliable.includes(`${id}: hello from ${id} (unreliable)`), otherId, {
          what: "the unreliable greeting",
        });
        const width = await until(page, () => {
          const v = document.querySelector("#others video");
          return v && v.videoWidth;
        }, null, { what: "remote video frames" });
        assert.ok(width > 0);
      }
    });
  }

  test("file transfer example: 4 MiB from Chromium to Firefox with backpressure, intact, with progress", async () => {
    const room = uniqueRoom("pkg-file");
    // Without ?server=: the examples find the server they were started for.
    const sender = await openExample("chromium", "file-transfer", room, null);
    const receiver = await openExample("firefox", "file-transfer", room, null);
    await until(receiver, () => window.transfer?.peer, null, { what: "the receiver's channel" });
    await until(sender, () => window.transfer?.peer, null, { what: "the sender's channel" });
    const sent = await sender.evaluate(async () => {
      const bytes = new Uint8Array(4 * 1024 * 1024);
      for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].join(",");
      await window.sendFile(new Blob([bytes], { type: "application/octet-stream" }), window.transfer.peer, "random.bin");
      return { digest, waits: window.transfer.waits, sentBytes: window.transfer.sentBytes };
    });
    assert.equal(sent.sentBytes, 4 * 1024 * 1024);
    // 4 MiB written in a loop fills the 1 MiB queue: send() said so, and drain() let it go on.
    assert.ok(sent.waits > 0, "send() never returned false");
    const received = await until(receiver, async () => {
      const blob = window.transfer.received;
      if (!blob) return null;
      const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))].join(",");
      const p = window.transfer.progress;
      return { digest, size: blob.size, steps: p.length, last: p[p.length - 1], rising: p.every((x, i) => i === 0 || x > p[i - 1]) };
    }, null, { timeout: 60_000, what: "the whole file" });
    assert.equal(received.size, 4 * 1024 * 1024);
    assert.equal(received.digest, sent.digest, "the bytes arrived intact and in order");
    assert.equal(received.steps, 256);
    assert.deepEqual([received.last, received.rising], [1, true]);
  });

  test("game example: Chromium and Firefox exchange positions over the unreliable channel", async () => {
    const room = uniqueRoom("pkg-game");
    const a = await openExample("chromium", "game", room);
    const b = await openExample("firefox", "game", room);
    for (const page of [a, b]) await until(page, () => window.game?.received >= 30, null, { what: "30 positions from the other player" });
    // What each has of the other is recent: the other's current position, give or take the
    // packets in flight.
    for (const [page, other] of [[a, b], [b, a]]) {
      const theirs = await other.evaluate(() => window.game.me.seq);
      const seen = await page.evaluate(() => window.game.them.seq);
      assert.ok(theirs - seen < 30, `seen ${seen}, sent ${theirs}`);
    }
    const channel = await a.evaluate(() => {
      const call = [...window.game.room.peers.values()][0];
      return { ordered: call.unreliable.ordered, maxRetransmits: call.unreliable.maxRetransmits };
    });
    assert.deepEqual(channel, { ordered: false, maxRetransmits: 0 });
  });

  test("React example: useRoom under StrictMode, two people in a two-seat room, connected and chatting", async () => {
    const room = uniqueRoom("pkg-react");
    const a = await openExample("chromium", "react", room);
    const b = await openExample("firefox", "react", room);
    for (const page of [a, b]) {
      await until(page, () => {
        const status = document.getElementById("status")?.dataset.status;
        if (status === "failed") throw new Error(document.getElementById("status").textContent);
        return document.querySelector('#peers li[data-state="connected"]') &&
          document.querySelectorAll("#peers li").length === 1;
      }, null, { what: "one connected peer" });
    }
    // StrictMode's first mount held no seat.
    const info = await (await fetch(`${server.origin}/api/rooms/${room}`)).json();
    assert.deepEqual([info.peers, info.capacity], [2, 2]);
    await a.evaluate(() => {
      const input = document.getElementById("text");
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, "hi from react");
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });
    await until(a, () => document.getElementById("text").value === "hi from react", null, { what: "the input" });
    await a.evaluate(() => document.querySelector("form").requestSubmit());
    await until(b, () => document.getElementById("chat").textContent.includes("hi from react"), null, { what: "the chat line" });
  });
});
