// A two-player game loop over the unreliable channel: 30 times a second each player sends its
// position, unordered and never retransmitted (a late position is a stale one), numbered so an
// old packet that arrives after a newer one is dropped. Events that must arrive (a score) would
// go on the reliable channel: room.send(data, peer) without { reliable: false }.
import { Room } from "edge-signal";
import { roomName, server } from "/common.js";

const TICK_MS = 1000 / 30;
const SPEED = 4;
const $ = (id) => document.getElementById(id);
const room = new Room(roomName, { server });
const me = { x: 50, y: 150, seq: 0 };
let them = null;
const keys = new Set();
// What the browser tests read.
window.game = { me, room, sent: 0, received: 0, stale: 0, them: null };

addEventListener("keydown", (e) => keys.add(e.key));
addEventListener("keyup", (e) => keys.delete(e.key));

room.addEventListener("data", ({ detail: { data, reliable } }) => {
  if (reliable) return;
  const state = JSON.parse(data);
  if (them && state.seq <= them.seq) {
    window.game.stale++;
    return;
  }
  them = state;
  window.game.them = state;
  window.game.received++;
});
room.addEventListener("channelopen", ({ detail }) => {
  $("status").textContent = `playing with ${detail.peer.slice(0, 8)}`;
});
room.addEventListener("peerleft", () => {
  them = null;
  $("status").textContent = "the other player left";
});

function tick() {
  // Without keys, the player wanders, so two idle tabs still show the loop running.
  const dx = keys.has("ArrowRight") - keys.has("ArrowLeft") || Math.sin(me.seq / 20);
  const dy = keys.has("ArrowDown") - keys.has("ArrowUp") || Math.cos(me.seq / 30);
  me.x = Math.max(10, Math.min(390, me.x + dx * SPEED));
  me.y = Math.max(10, Math.min(290, me.y + dy * SPEED));
  me.seq++;
  if (room.send(JSON.stringify(me), undefined, { reliable: false })) window.game.sent++;
  const ctx = $("field").getContext("2d");
  ctx.clearRect(0, 0, 400, 300);
  for (const [who, color] of [[me, "#36c"], [them, "#c33"]]) {
    if (!who) continue;
    ctx.fillStyle = color;
    ctx.fillRect(who.x - 10, who.y - 10, 20, 20);
  }
}

await room.join().catch((err) => ($("status").textContent = `${err.code}: ${err.message}`));
setInterval(tick, TICK_MS);
