#!/usr/bin/env node
// Mints a signed join token (HS256 JWT) without Rust: what `make token` does, for back ends in
// Node and for anyone without the Rust toolchain. No dependencies; copy `joinToken` into your
// back end, after your own login check.
//
//   node scripts/token.mjs <room> [peer] [ttl-seconds] [meta-json]   (AUTH_SECRET from the
//                                         environment or .dev.vars, as `make token`)
//   node scripts/token.mjs --peerjs <key> <id> [ttl-seconds]   a PeerJS token (docs/peerjs.md)
//   node scripts/token.mjs --yjs <namespace> [ttl-seconds]     a y-webrtc token (docs/yjs.md)
//   node scripts/token.mjs --matchbox <room> [ttl-seconds]     a matchbox token (docs/matchbox.md)
//
// Byte for byte the token src/auth.rs mints for the same claims (tests/node/token.test.mjs
// holds the vector src/auth.rs's unit test holds).
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A join token for `room` (and `peer`, which then fixes the joiner's id), valid for
 * `ttlSeconds` from `now` (seconds since the epoch), or until `exp` when given.
 */
export function joinToken(secret, { room, peer, ttlSeconds = 600, now = Math.floor(Date.now() / 1000), exp, meta } = {}) {
  if (!ID.test(room ?? "")) throw new Error("room must be 1 to 64 characters from A-Z a-z 0-9 _ -");
  if (peer !== undefined && peer !== null && !ID.test(peer)) throw new Error("peer must be 1 to 64 characters from A-Z a-z 0-9 _ -");
  if (meta !== undefined && meta !== null) {
    // The server's rule (control v1): a JSON object of at most 1,024 bytes as compact JSON.
    if (typeof meta !== "object" || Array.isArray(meta)) throw new Error("meta must be a JSON object");
    const bytes = Buffer.byteLength(JSON.stringify(meta));
    if (bytes > 1024) throw new Error(`meta is ${bytes} bytes as compact JSON; at most 1024`);
  }
  const withMeta = meta && Object.keys(meta).length ? { meta } : {};
  return sign(secret, { room, ...(peer ? { peer } : {}), exp: exp ?? now + ttlSeconds, ...withMeta });
}

/**
 * A PeerJS token (docs/peerjs.md) for `id` on `key`: claims `room` = `peerjs:<key>` and `peer`
 * = the id (PeerJS ids may hold single spaces).
 */
export function peerjsToken(secret, { key, id, ttlSeconds = 600, now = Math.floor(Date.now() / 1000), exp } = {}) {
  if (!ID.test(key ?? "")) throw new Error("key must be 1 to 64 characters from A-Z a-z 0-9 _ -");
  if (!/^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/.test(id ?? "") || id.length > 64) {
    throw new Error("id must be a PeerJS id of at most 64 characters");
  }
  return sign(secret, { room: `peerjs:${key}`, peer: id, exp: exp ?? now + ttlSeconds });
}

/**
 * A y-webrtc token (docs/yjs.md) for `namespace`: claim `room` = `yjs:<namespace>`; it goes in
 * the signaling URL, `wss://<host>/yjs/<namespace>?token=<token>`.
 */
export function yjsToken(secret, { namespace, ttlSeconds = 600, now = Math.floor(Date.now() / 1000), exp } = {}) {
  if (!ID.test(namespace ?? "")) throw new Error("namespace must be 1 to 64 characters from A-Z a-z 0-9 _ -");
  return sign(secret, { room: `yjs:${namespace}`, exp: exp ?? now + ttlSeconds });
}

/**
 * A matchbox token (docs/matchbox.md) for `room`: claim `room` = `matchbox:<room>` (a v1 room's
 * token does not open the matchbox room of the same name), no `peer` (ids are assigned).
 */
export function matchboxToken(secret, { room, ttlSeconds = 600, now = Math.floor(Date.now() / 1000), exp } = {}) {
  if (!ID.test(room ?? "")) throw new Error("room must be 1 to 64 characters from A-Z a-z 0-9 _ -");
  return sign(secret, { room: `matchbox:${room}`, exp: exp ?? now + ttlSeconds });
}

function sign(secret, claims) {
  const b64url = (s) => Buffer.from(s).toString("base64url");
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

function secretFromEnvironment() {
  if (process.env.AUTH_SECRET) return process.env.AUTH_SECRET;
  try {
    const line = readFileSync(".dev.vars", "utf8").split("\n").find((l) => l.startsWith("AUTH_SECRET="));
    return line?.slice("AUTH_SECRET=".length).trim().replace(/^"|"$/g, "") || null;
  } catch {
    return null;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const peerjs = args[0] === "--peerjs";
  const matchbox = args[0] === "--matchbox";
  const yjs = args[0] === "--yjs" || matchbox; // both: <name> [ttl-seconds]
  const [room, peer, ttl, meta] = peerjs || yjs ? args.slice(1) : args;
  const secret = secretFromEnvironment();
  if (!room || !secret || (peerjs && !peer)) {
    console.error("usage: node scripts/token.mjs <room> [peer] [ttl-seconds] [meta-json]\n       node scripts/token.mjs --peerjs <key> <id> [ttl-seconds]\n       node scripts/token.mjs --yjs <namespace> [ttl-seconds]\n       node scripts/token.mjs --matchbox <room> [ttl-seconds]   (AUTH_SECRET from the environment or .dev.vars)");
    process.exit(2);
  }
  try {
    // For --yjs the second argument is the ttl.
    const ttlSeconds = (yjs ? peer : ttl) ? Number(yjs ? peer : ttl) : 600;
    console.log(peerjs
      ? peerjsToken(secret, { key: room, id: peer, ttlSeconds })
      : matchbox
        ? matchboxToken(secret, { room, ttlSeconds })
        : yjs
        ? yjsToken(secret, { namespace: room, ttlSeconds })
        : joinToken(secret, { room, peer: peer || undefined, ttlSeconds, meta: meta ? JSON.parse(meta) : undefined }));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
}
