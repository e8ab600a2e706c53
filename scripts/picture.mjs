#!/usr/bin/env node
// `make picture`: draws docs/call.png, the README's picture: a call on the room page as a person
// sees it. Two Chromium processes, each with its own fake camera (a drawn person, written here
// as a Y4M file, so the picture needs no photograph and no network), join one room under
// `wrangler dev` with ?name=, chat, and the first one's page is the picture. Run after the build.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { OUT, ROOT, startServer } from "../tests/browser/harness.mjs";

const W = 640;
const H = 480;

/** One person, drawn: wall, window, shirt, neck, face, hair, eyes, smile (RGB per pixel). */
function person({ wall, shirt, hair, skin }) {
  const inEllipse = (x, y, cx, cy, rx, ry) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  return (x, y) => {
    const cx = W / 2;
    if (inEllipse(x, y, cx - 40, 230, 9, 11) || inEllipse(x, y, cx + 40, 230, 9, 11)) return [40, 32, 30];
    const smile = inEllipse(x, y, cx, 262, 44, 30) && !inEllipse(x, y, cx, 252, 46, 30);
    if (smile && y > 262) return [150, 60, 60];
    if (inEllipse(x, y, cx, 190, 104, 86) && y < 200 && !inEllipse(x, y, cx, 226, 92, 96)) return hair;
    if (inEllipse(x, y, cx, 240, 90, 110)) return skin;
    if (inEllipse(x, y, cx - 92, 238, 14, 26) || inEllipse(x, y, cx + 92, 238, 14, 26)) return skin;
    if (x > cx - 34 && x < cx + 34 && y > 320 && y < 380) return skin.map((c) => c * 0.85);
    if (inEllipse(x, y, cx, 520, 230, 170)) return shirt;
    // A window on the wall, with daylight.
    if (x > 40 && x < 190 && y > 50 && y < 230) return x % 75 < 4 || (y - 50) % 90 < 4 ? [235, 235, 230] : [170, 205, 235];
    const shade = 1 - y / H * 0.25;
    return wall.map((c) => c * shade);
  };
}

/** A one-frame Y4M video (4:2:0, full-range BT.601) of `draw`; Chromium loops it. */
function y4m(draw) {
  const yPlane = Buffer.alloc(W * H);
  const uPlane = Buffer.alloc((W / 2) * (H / 2));
  const vPlane = Buffer.alloc((W / 2) * (H / 2));
  const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [r, g, b] = draw(x, y);
      yPlane[y * W + x] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
      if (x % 2 === 0 && y % 2 === 0) {
        const i = (y / 2) * (W / 2) + x / 2;
        uPlane[i] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
        vPlane[i] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
      }
    }
  }
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F30:1 Ip A1:1 C420jpeg\nFRAME\n`), yPlane, uPlane, vPlane]);
}

const PEOPLE = {
  Ada: { wall: [96, 130, 140], shirt: [110, 70, 150], hair: [60, 40, 30], skin: [224, 180, 150] },
  Grace: { wall: [200, 180, 150], shirt: [210, 110, 50], hair: [150, 150, 155], skin: [190, 140, 110] },
};

mkdirSync(OUT, { recursive: true });
const server = await startServer({ ICE_SERVERS: "[]" }, "picture");
const browsers = [];
try {
  const room = "design-review"; // a fresh server (startServer empties its state): the name is free
  const pages = {};
  for (const [name, look] of Object.entries(PEOPLE)) {
    const camera = join(OUT, `camera-${name}.y4m`);
    writeFileSync(camera, y4m(person(look)));
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        `--use-file-for-fake-video-capture=${camera}`,
        "--disable-features=WebRtcHideLocalIpsWithMdns",
      ],
    });
    browsers.push(browser);
    const context = await browser.newContext({ permissions: ["camera", "microphone"], viewport: { width: 900, height: 560 } });
    pages[name] = await context.newPage();
    await pages[name].goto(`${server.origin}/rooms/${room}?name=${name}`);
  }
  const { Ada, Grace } = pages;
  const callUp = () => [...document.querySelectorAll(".tile.remote")].every((t) => t.dataset.state === "connected" && t.dataset.path && t.querySelector("video").videoWidth > 0);
  for (const page of [Ada, Grace]) await page.waitForFunction(callUp, null, { timeout: 30_000 });
  for (const [from, text] of [[Grace, "Hi Ada! Can you see me?"], [Ada, "Loud and clear."]]) {
    await from.fill("#chat-input", text);
    await from.click("#chat-form button");
  }
  await Ada.waitForFunction(() => document.getElementById("chat-log").textContent.includes("Loud and clear."));
  await new Promise((r) => setTimeout(r, 1000)); // a few frames decoded at full size
  const path = join(ROOT, "docs", "call.png");
  await Ada.screenshot({ path });
  console.log(`picture: ${path}`);
} finally {
  for (const b of browsers) await b.close();
  server.stop();
}
