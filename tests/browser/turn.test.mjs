// Browser test: two Chromium pages forced to relay (iceTransportPolicy "relay", the room page's
// ?relay=1) connect through a real coturn on loopback, using only the TURN credentials the
// worker minted in their `welcome` (coturn's REST scheme: the same secret on both sides).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import {
  OUT, freePortNumber, launchBrowser, newPerson, pathsShown, spawnGroup, startServer,
  uniqueRoom, waitForConnectedPeers,
} from "./harness.mjs";

const SECRET = "edge-signal-test-turn-secret";
let server;
let browser;
let turn;
const turnDir = join(OUT, "coturn");
const turnLog = join(turnDir, "turnserver.log");

/** A free UDP port on loopback (coturn listens on UDP and TCP; UDP is what the pages use). */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const sock = createSocket("udp4");
    sock.bind(0, "127.0.0.1", () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
    sock.on("error", reject);
  });
}

/** Debian's coturn on loopback, REST-scheme auth with SECRET; resolves once it listens. */
async function startCoturn() {
  rmSync(turnDir, { recursive: true, force: true });
  mkdirSync(turnDir, { recursive: true });
  let port = await freeUdpPort();
  // Its TCP listener must be free too.
  while ((await freePortNumber()) === port) port = await freeUdpPort();
  const minPort = 50000 + (process.pid % 100) * 100;
  const log = openSync(turnLog, "w");
  const { child, stop } = spawnGroup("turnserver", [
    "-n", // no configuration file: everything is on this line
    "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", `--listening-port=${port}`,
    `--min-port=${minPort}`, `--max-port=${minPort + 99}`,
    "--use-auth-secret", `--static-auth-secret=${SECRET}`, "--realm=edge-signal.test",
    "--allow-loopback-peers", // both relays are on 127.0.0.1 here; never in production
    "--no-tls", "--no-dtls", "--no-cli", "--fingerprint",
    "--log-file=stdout", "--simple-log", "--verbose",
    `--pidfile=${join(turnDir, "turnserver.pid")}`, `--db=${join(turnDir, "turndb")}`,
  ], log);
  const deadline = Date.now() + 15_000;
  while (!readFileSync(turnLog, "utf8").includes("Total General servers")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      stop();
      throw new Error(`coturn did not start; see ${turnLog}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, stop };
}

before(async () => {
  mkdirSync(OUT, { recursive: true });
  turn = await startCoturn();
  // No STUN server, and no TURN credentials but the ones the worker mints per join.
  server = await startServer({
    ICE_SERVERS: "[]",
    TURN_SECRET: SECRET,
    TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp`,
    TURN_TTL_S: "600",
  }, "wrangler-turn");
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.stop();
  turn?.stop();
});

describe("TURN through coturn", () => {
  test("two pages forced to relay connect through coturn with the credentials the worker minted", async () => {
    const room = uniqueRoom("relay");
    const alice = await newPerson(browser);
    const bob = await newPerson(browser);
    const welcomes = [];
    for (const page of [alice, bob]) {
      await page.goto(`${server.origin}/rooms/${room}?relay=1`);
      await page.waitForFunction(() => document.body.dataset.joined === "true", null, { timeout: 10_000 });
      welcomes.push(await page.evaluate(() => ({
        peer: window.edgeSignal.room.peerId,
        iceServers: window.edgeSignal.room.iceServers,
      })));
    }

    // Each welcome carries exactly one server: coturn, with a username naming its expiry and
    // its own peer id.
    const now = Date.now() / 1000;
    for (const { peer, iceServers } of welcomes) {
      assert.equal(iceServers.length, 1, JSON.stringify(iceServers));
      const [entry] = iceServers;
      assert.deepEqual(entry.urls, [`turn:127.0.0.1:${turn.port}?transport=udp`]);
      const [expiry, name] = entry.username.split(":");
      assert.equal(name, peer);
      assert.ok(Math.abs(Number(expiry) - (now + 600)) < 30, `expiry ${expiry}, now ${now}`);
    }
    assert.notEqual(welcomes[0].iceServers[0].credential, welcomes[1].iceServers[0].credential);

    await waitForConnectedPeers(alice, 1, 45_000);
    await waitForConnectedPeers(bob, 1, 45_000);
    for (const page of [alice, bob]) {
      assert.deepEqual(await pathsShown(page, 1, "relay"), [{ path: "relay", text: "connected · through a relay" }]);
    }

    // Media flows over the relays: a decoded remote video on both sides.
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => {
        const v = document.querySelector(".tile.remote video");
        return v && v.videoWidth > 0;
      }, null, { timeout: 30_000 });
    }
    await alice.screenshot({ path: join(OUT, "relay-call.png") });

    // coturn saw both peers log in with the worker's usernames, and allocated relays for them.
    const log = readFileSync(turnLog, "utf8");
    for (const { iceServers } of welcomes) {
      const line = `user <${iceServers[0].username}>: incoming packet ALLOCATE processed, success`;
      assert.ok(log.includes(line), `coturn's log (${turnLog}) lacks: ${line}`);
    }
    for (const page of [alice, bob]) await page.context().close();
  });

  test("a credential signed with another secret is refused by coturn", async () => {
    // The negative control: the same flow with a wrong credential fails, so the pass above is
    // the worker's credential at work, not an open relay.
    const page = await newPerson(browser);
    await page.goto(`${server.origin}/healthz`);
    const result = await page.evaluate(async (port) => {
      const pc = new RTCPeerConnection({
        iceServers: [{ urls: `turn:127.0.0.1:${port}?transport=udp`, username: `${Math.floor(Date.now() / 1000) + 600}:mallory`, credential: "bm90IHRoZSByaWdodCBvbmU=" }],
        iceTransportPolicy: "relay",
      });
      pc.createDataChannel("x");
      const types = [];
      let errors = 0;
      pc.onicecandidate = (e) => e.candidate && types.push(e.candidate.type);
      pc.onicecandidateerror = () => errors++;
      await pc.setLocalDescription();
      await new Promise((resolve) => {
        const done = () => pc.iceGatheringState === "complete" && resolve();
        pc.onicegatheringstatechange = done;
        setTimeout(resolve, 10_000);
      });
      pc.close();
      return { types, errors };
    }, turn.port);
    assert.deepEqual(result.types, [], `relay candidates with a bad credential: ${JSON.stringify(result)}`);
    assert.ok(result.errors > 0, "Chromium reported no ICE candidate error");
    await page.context().close();
  });
});
