// A video call with chat: the client package's ten lines, and a little page around them.
import { Room, ErrorCode } from "edge-signal";
import { roomName, server } from "/common.js";

const $ = (id) => document.getElementById(id);
const log = (text) => $("log").append(Object.assign(document.createElement("li"), { textContent: text }));
// What the browser tests read.
window.call = { received: [], unreliable: [], error: null };

const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
$("me").srcObject = stream;
const room = new Room(roomName, { server, stream });
window.call.room = room;

room.addEventListener("track", ({ detail: { peer, streams } }) => {
  let video = document.querySelector(`video[data-peer="${peer}"]`);
  if (!video) {
    video = Object.assign(document.createElement("video"), { autoplay: true, playsInline: true });
    video.dataset.peer = peer;
    $("others").append(video);
  }
  video.srcObject = streams[0];
});
room.addEventListener("peerleft", ({ detail: { peer } }) => document.querySelector(`video[data-peer="${peer}"]`)?.remove());
room.addEventListener("channelopen", ({ detail: { peer } }) => {
  // Greet each peer on both channels.
  room.send(`hello from ${room.peerId}`, peer);
  room.send(`hello from ${room.peerId} (unreliable)`, peer, { reliable: false });
});
room.addEventListener("data", ({ detail: { peer, data, reliable } }) => {
  (reliable ? window.call.received : window.call.unreliable).push(`${peer}: ${data}`);
  log(`${peer.slice(0, 8)}: ${data}`);
});
$("chat").addEventListener("submit", (e) => {
  e.preventDefault();
  room.send($("text").value);
  log(`me: ${$("text").value}`);
  $("text").value = "";
});

try {
  const welcome = await room.join();
  log(`joined ${roomName} as ${welcome.peer}`);
} catch (err) {
  window.call.error = err.code;
  log(err.code === ErrorCode.ROOM_FULL ? "The room is full" : `${err.code}: ${err.message}`);
}
