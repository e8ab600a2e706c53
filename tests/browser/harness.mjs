// Browser-test support: a real `wrangler dev` on a free loopback port, Debian's Chromium (driven
// by playwright-core over CDP) and Debian's firefox-esr (driven by puppeteer-core over WebDriver
// BiDi: playwright drives only its own patched Firefox builds), both with fake camera and
// microphone.
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { mkdirSync, rmSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import puppeteer from "puppeteer-core";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const OUT = join(ROOT, "target", "browser");

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/**
 * Starts a server in its own process group (so `stop()` ends its children too, workerd under
 * wrangler), output to the open file `log`; stopped when this process exits.
 */
export function spawnGroup(command, args, log, options = {}) {
  const child = spawn(command, args, { ...options, detached: true, stdio: ["ignore", log, log] });
  const stop = () => {
    try {
      // SIGKILL: the whole group at once (standalone workerd drains on SIGTERM while sockets
      // are open).
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  };
  process.on("exit", stop);
  return { child, stop };
}

export function freePortNumber() {
  return freePort();
}

/**
 * Starts `wrangler dev` (with `vars` as --var overrides); resolves once /healthz answers with
 * `{origin, port, stop}`. `name` names its state and log directory under target/browser/ (one
 * per test file). `port` starts it on that port (see restartServer).
 */
export async function startServer(vars = {}, name = "wrangler", { port: fixedPort, keepState = false } = {}) {
  const port = fixedPort ?? await freePort();
  const stateDir = join(OUT, name);
  if (!keepState) rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const log = openSync(join(stateDir, "wrangler.log"), keepState ? "a" : "w");
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(await freePort()), "--persist-to", join(stateDir, "state")];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const { stop } = spawnGroup(join(ROOT, "node_modules", ".bin", "wrangler"), args, log, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
  });
  const server = await whenHealthy(port, stop, 300_000, `wrangler dev did not start; see ${join(stateDir, "wrangler.log")}`);
  return { ...server, port };
}

/** Whether something accepts connections on loopback `port`. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/**
 * Stops `server` (a startServer's) for good, as a crash would: every socket drops, every room
 * is gone. Resolves once nothing listens on its port any more.
 */
export async function stopServer(server) {
  server.stop();
  const deadline = Date.now() + 10_000;
  while (await listening(server.port)) {
    if (Date.now() > deadline) throw new Error(`port ${server.port} still taken after the server stopped`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A new `wrangler dev` on the port of `server` (stopped by stopServer), with the same `vars` and
 * `name`, its state directory kept (as a restarted deployment keeps its storage): the clients'
 * reconnects reach it at the address they know. Resolves once /healthz answers.
 */
export function restartServer(server, vars = {}, name = "wrangler") {
  return startServer(vars, name, { port: server.port, keepState: true });
}

/**
 * Starts `make serve`'s server (standalone newest workerd, scripts/serve.mjs) with `vars` in its
 * environment; resolves once /healthz answers. `name` names its state and log directory.
 */
export async function startServe(vars = {}, name = "serve") {
  const port = await freePort();
  const stateDir = join(OUT, name);
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const log = openSync(join(stateDir, "server.log"), "w");
  const { stop } = spawnGroup("node", [join(ROOT, "scripts", "serve.mjs")], log, {
    cwd: ROOT,
    env: { ...process.env, ...vars, PORT: String(port), STATE_DIR: join(stateDir, "state") },
  });
  return whenHealthy(port, stop, 60_000, `make serve did not start; see ${join(stateDir, "server.log")}`);
}

/** `{origin, stop}` once the server on `port` answers /healthz; stopped and `failure` after `ms`. */
async function whenHealthy(port, stop, ms, failure) {
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(`${origin}/healthz`);
      if (res.ok) return { origin, stop };
    } catch {}
    if (Date.now() > deadline) {
      stop();
      throw new Error(failure);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Debian's Chromium, headless, with fake media devices that need no permission prompt. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      // Host candidates as plain addresses: nothing here can resolve mDNS names.
      "--disable-features=WebRtcHideLocalIpsWithMdns",
    ],
  });
}

/**
 * Debian's firefox-esr, headless, with fake media devices and no permission prompt. Host
 * candidates as plain addresses (nothing here resolves mDNS names), as for Chromium.
 */
export async function launchFirefox() {
  return puppeteer.launch({
    browser: "firefox",
    executablePath: "/usr/bin/firefox-esr",
    headless: true,
    extraPrefsFirefox: {
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      "media.peerconnection.ice.obfuscate_host_addresses": false,
    },
  });
}

/** A Firefox page in its own browser context (its own "person"). */
export async function newFirefoxPerson(browser) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error("firefox page error:", err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") console.error("firefox page console:", msg.text());
  });
  // Both drivers' pages close their own context the same way.
  page.context = () => context;
  return page;
}

/**
 * Polls `fn(arg)` in the page until it returns something truthy, and returns that; works with
 * both drivers (their waitForFunction signatures differ). `what` names the wait in the error.
 */
export async function until(page, fn, arg, { timeout = 30_000, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${page.url()}: timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A page in its own browser context (its own "person"), with camera and microphone allowed. */
export async function newPerson(browser, { viewport = { width: 900, height: 700 } } = {}) {
  const context = await browser.newContext({ permissions: ["camera", "microphone"], viewport });
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error("page error:", err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") console.error("page console:", msg.text());
  });
  return page;
}

/** A room name no other test uses. */
export function uniqueRoom(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The call states the page shows for its remote peers, by peer id (the path aside). */
export async function peerStates(page) {
  return page.$$eval(".tile.remote", (tiles) =>
    Object.fromEntries(tiles.map((t) => [t.dataset.peer, t.dataset.state])));
}

/** Waits until the page shows `n` remote peers, all connected. */
export async function waitForConnectedPeers(page, n, timeout = 30_000) {
  await page.waitForFunction(
    (n) => {
      const tiles = [...document.querySelectorAll(".tile.remote")];
      return tiles.length === n && tiles.every((t) => t.dataset.state === "connected");
    },
    n,
    { timeout },
  ).catch(async (err) => {
    const states = await peerStates(page).catch(() => "?");
    throw new Error(`${page.url()}: expected ${n} connected peers, page shows ${JSON.stringify(states)}: ${err.message}`);
  });
}

/**
 * Waits until the page shows `path` (host, srflx, relay) for its call with each of its `n`
 * remote peers (the client may first say srflx for an address it has not yet matched to a host
 * candidate), then returns what every tile shows.
 */
export async function pathsShown(page, n, path, timeout = 10_000) {
  await page.waitForFunction(
    ([n, path]) => {
      const tiles = [...document.querySelectorAll(".tile.remote")];
      return tiles.length === n && tiles.every((t) => t.dataset.path === path);
    },
    [n, path],
    { timeout },
  ).catch(() => {});
  return page.$$eval(".tile.remote", (tiles) =>
    tiles.map((t) => ({ path: t.dataset.path, text: t.querySelector(".peer-state").textContent })));
}
