// File transfer between the two peers of a room, over the reliable data channel: a JSON header,
// then the bytes in 16 KiB chunks (a size every browser's SCTP takes), with backpressure —
// send() returns false once 1 MiB is queued, and `drain` says when to go on — and progress on
// both sides.
import { Room } from "edge-signal";
import { roomName, server } from "/common.js";

const CHUNK = 16 * 1024;
const SLAB = 2 * 1024 * 1024;
const $ = (id) => document.getElementById(id);
const room = new Room(roomName, { server });
// What the browser tests read and drive.
window.transfer = { sentBytes: 0, waits: 0, received: null, progress: [] };

/**
 * Sends `blob` to `peer`: header, then chunks. The file is read 2 MiB at a time and each slab is
 * written chunk by chunk until send() says the queue is full; then it waits for the drain.
 */
async function sendFile(blob, peer, name = blob.name || "file") {
  room.send(JSON.stringify({ name, size: blob.size, type: blob.type }), peer);
  for (let slabAt = 0; slabAt < blob.size; slabAt += SLAB) {
    const slab = await blob.slice(slabAt, slabAt + SLAB).arrayBuffer();
    for (let offset = 0; offset < slab.byteLength; offset += CHUNK) {
      if (!room.send(slab.slice(offset, offset + CHUNK), peer)) {
        window.transfer.waits++;
        await room.drain(peer);
      }
      window.transfer.sentBytes = slabAt + Math.min(offset + CHUNK, slab.byteLength);
      $("sent").value = window.transfer.sentBytes / blob.size;
    }
  }
}
window.sendFile = sendFile;

let incoming = null;
room.addEventListener("data", ({ detail: { data, reliable } }) => {
  if (!reliable) return;
  if (typeof data === "string") {
    incoming = { ...JSON.parse(data), parts: [], bytes: 0 };
    return;
  }
  incoming.parts.push(data);
  incoming.bytes += data.byteLength;
  const progress = incoming.bytes / incoming.size;
  $("got").value = progress;
  window.transfer.progress.push(progress);
  if (incoming.bytes === incoming.size) {
    const blob = new Blob(incoming.parts, { type: incoming.type });
    window.transfer.received = blob;
    Object.assign($("download"), { href: URL.createObjectURL(blob), download: incoming.name, hidden: false });
  }
});

let other = null;
room.addEventListener("channelopen", ({ detail: { peer } }) => {
  other = peer;
  window.transfer.peer = peer;
  $("status").textContent = `connected to ${peer.slice(0, 8)}: pick a file to send`;
  $("file").disabled = false;
});
room.addEventListener("peerleft", () => {
  $("status").textContent = "the other side left";
  $("file").disabled = true;
});
$("file").addEventListener("change", () => sendFile($("file").files[0], other));

await room.join().catch((err) => ($("status").textContent = `${err.code}: ${err.message}`));
