// The room page: local preview, a tile per remote peer with its state, mute/camera toggles,
// copy-link, leave, a small chat over the data channels, and clear messages for a full room or
// a denied camera (then it still joins, receive-only).
import { Room } from "/edge-signal.js";

const $ = (id) => document.getElementById(id);
const roomName = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const params = new URLSearchParams(location.search);
const capacity = params.get("capacity") || undefined;
// A signed join token, for deployments with AUTH_SECRET: `#token=...` (a fragment never reaches
// any server or log) or `?token=...`. Taken out of the address bar once read, so it is neither
// kept in history nor copied with the room's link.
const hash = new URLSearchParams(location.hash.slice(1));
const token = hash.get("token") || params.get("token") || undefined;
if (token) {
  params.delete("token");
  hash.delete("token");
  const query = params.toString() ? `?${params}` : "";
  const fragment = hash.toString() ? `#${hash}` : "";
  history.replaceState(null, "", `${location.pathname}${query}${fragment}`);
}
// ?relay=1 forces every call through the TURN server (iceTransportPolicy "relay"): a quick
// check that the deployment's TURN credentials work.
const rtcConfig = params.get("relay") === "1" ? { iceTransportPolicy: "relay" } : {};
// ?name=Ada: the name the others see (the peer's metadata, `meta.name`). On a signed deployment
// the name comes from the token's `meta` claim instead (the server refuses `?meta=` there).
const name = params.get("name")?.trim().slice(0, 64) || undefined;
const meta = name && !token ? { name } : undefined;
/** How the page names each peer: its `meta.name`, or the start of its id. */
const names = new Map();
const nameOf = (peer) => names.get(peer) || peer.slice(0, 8);
function learnName(peer, peerMeta) {
  if (typeof peerMeta?.name !== "string" || !peerMeta.name.trim()) return;
  names.set(peer, peerMeta.name.trim().slice(0, 64));
  const label = document.querySelector(`.tile.remote[data-peer="${CSS.escape(peer)}"] .peer-id`);
  if (label) label.textContent = nameOf(peer);
}

$("room-title").textContent = roomName;
document.title = `${roomName} · edge-signal`;

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function status(text) {
  $("status").textContent = text;
}

function chatLine(who, text) {
  const li = document.createElement("li");
  const b = document.createElement("b");
  b.textContent = `${who}: `;
  li.append(b, text);
  $("chat-log").append(li);
  li.scrollIntoView({ block: "nearest" });
}

function tile(peer) {
  let el = document.querySelector(`.tile.remote[data-peer="${CSS.escape(peer)}"]`);
  if (!el) {
    el = $("tile-template").content.firstElementChild.cloneNode(true);
    el.dataset.peer = peer;
    el.querySelector(".peer-id").textContent = nameOf(peer);
    $("grid").append(el);
  }
  return el;
}

function setPeerState(peer, state) {
  if (state === "closed") {
    document.querySelector(`.tile.remote[data-peer="${CSS.escape(peer)}"]`)?.remove();
    return;
  }
  const el = tile(peer);
  el.dataset.state = state;
  if (state !== "connected") delete el.dataset.path;
  showState(el);
}

/** How the call travels, in plain words (the client's path: host, srflx or relay). */
const PATH_WORDS = { host: "direct", srflx: "direct, across a router", relay: "through a relay" };

/** "connected · through a relay": the state, and the path once the call has one. */
function showState(el) {
  const path = el.dataset.path ? ` · ${PATH_WORDS[el.dataset.path] || el.dataset.path}` : "";
  el.querySelector(".peer-state").textContent = `${el.dataset.state}${path}`;
}

/** The others in the room (from welcome, peer_joined and peer_left). */
const others = new Set();
let joinedCapacity = null;

/** What the header says once in the room: waiting for someone, or how many are here. */
function showPresence() {
  if (joinedCapacity === null) return;
  document.body.dataset.alone = String(others.size === 0);
  status(others.size === 0
    ? "waiting for someone · share this link"
    : `in the room with ${others.size} ${others.size === 1 ? "other" : "others"} · up to ${joinedCapacity} people`);
}

/** A join that cannot happen: the camera stops, what cannot work is disabled, and why is said. */
function refused(text) {
  notice(text);
  document.body.dataset.refused = "true";
  for (const t of stream?.getTracks() || []) t.stop();
  $("local-video").srcObject = null;
  for (const b of document.querySelectorAll(".controls button:not(#copy-link), #chat-form button, #chat-input")) b.disabled = true;
}

function setPeerPath(peer, path) {
  const el = tile(peer);
  el.dataset.path = path;
  showState(el);
}

async function localMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch (err) {
    notice(`No camera or microphone (${err.name}): you are in the room receive-only; others can still be seen and heard.`);
    document.body.classList.add("receive-only");
    $("mute").disabled = true;
    $("camera").disabled = true;
    return null;
  }
}

const stream = await localMedia();
if (stream) $("local-video").srcObject = stream;

const room = new Room(roomName, { stream, capacity, rtcConfig, token, meta });
window.edgeSignal = { room, stream }; // for tests and the console

room.addEventListener("welcome", (e) => {
  $("local-id").textContent = `(${name || e.detail.peer.slice(0, 8)})`;
  others.clear();
  for (const p of e.detail.peers) {
    others.add(p);
    learnName(p, e.detail.meta?.[p]);
  }
  // After a server restart, a call that went on through it is kept while its peer rejoins too.
  for (const p of room.peers.keys()) others.add(p);
  joinedCapacity = e.detail.capacity;
  showPresence();
  document.body.dataset.joined = "true";
});
room.addEventListener("peerjoined", (e) => {
  others.add(e.detail.peer);
  learnName(e.detail.peer, e.detail.meta);
  showPresence();
});
room.addEventListener("peerstate", (e) => setPeerState(e.detail.peer, e.detail.state));
room.addEventListener("peerpath", (e) => setPeerPath(e.detail.peer, e.detail.path));
room.addEventListener("track", (e) => {
  const video = tile(e.detail.peer).querySelector("video");
  const remote = e.detail.streams[0] || new MediaStream([e.detail.track]);
  if (video.srcObject !== remote) video.srcObject = remote;
});
room.addEventListener("peerleft", (e) => {
  setPeerState(e.detail.peer, "closed");
  others.delete(e.detail.peer);
  const how = e.detail.reason === "leave" ? "left the room" : "lost the connection and left";
  chatLine(nameOf(e.detail.peer), how);
  notice(`${nameOf(e.detail.peer)} ${how}.`);
  showPresence();
});
room.addEventListener("data", (e) => chatLine(nameOf(e.detail.peer), String(e.detail.data)));
room.addEventListener("reconnecting", () =>
  status("signaling lost · reconnecting… (calls already running go on)"));
room.addEventListener("error", (e) => {
  const { code, message } = e.detail;
  if (code === "room_full") {
    refused("This room is full. Try again later, or start a new room from the home page.");
    document.body.dataset.full = "true";
  } else if (code === "peer_id_taken") {
    refused("Someone in this room already uses that id.");
  } else if (code === "unauthorized") {
    // The server says why (a token is required, it expired, it is for another room...).
    const why = String(message || "").replace(/^unauthorized: /, "");
    refused(`You are not allowed to join this room: ${why}. A signed deployment needs a join token in the link (#token=...).`);
  } else {
    console.warn("edge-signal:", code, message);
  }
});
room.addEventListener("closed", () => status("not connected"));

room.join().catch((err) => {
  status("not connected");
  // room_full, peer_id_taken and unauthorized were shown by their error frame above.
  const says = {
    bad_request: `This room link is not valid: ${err.message}`,
    forbidden_origin: "This site may not use this signaling server.",
    rate_limited: "Too many joins from your network: wait a few seconds, then reload.",
    server_misconfigured: "The signaling server is misconfigured (its log says how).",
    unreachable: "The signaling server cannot be reached. Check your connection, then reload.",
  }[err.code];
  if (says) refused(says);
});

$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text) return;
  room.send(text);
  chatLine("you", text);
  $("chat-input").value = "";
});

function toggle(button, kind, onLabel, offLabel) {
  button.addEventListener("click", () => {
    const tracks = stream?.getTracks().filter((t) => t.kind === kind) || [];
    const off = button.getAttribute("aria-pressed") !== "true";
    for (const t of tracks) t.enabled = !off;
    button.setAttribute("aria-pressed", String(off));
    button.textContent = off ? offLabel : onLabel;
  });
}
toggle($("mute"), "audio", "Mute", "Unmute");
toggle($("camera"), "video", "Camera off", "Camera on");

$("copy-link").addEventListener("click", async () => {
  const link = `${location.origin}${location.pathname}${location.search}`;
  try {
    await navigator.clipboard.writeText(link);
    $("copy-link").textContent = "Link copied";
  } catch {
    window.prompt("Copy this link:", link);
  }
  setTimeout(() => ($("copy-link").textContent = "Copy link"), 2000);
});

$("leave").addEventListener("click", () => {
  room.leave();
  for (const t of stream?.getTracks() || []) t.stop();
  status("you left the room");
  notice("You left the room. Reload the page to join again.");
  for (const b of document.querySelectorAll(".controls button, #chat-form button")) b.disabled = true;
});
