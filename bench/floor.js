// The runtime floor for `make bench`: the least a relay can do on workerd, in plain JavaScript.
// Not part of the product. Same wire protocol as edge-signal for the load generator's messages:
// join at /rooms/<room>?peer=<id> (welcome), relay {to} with `from` stamped, exact pings
// auto-answered. No validation, no capacity, no errors: whatever edge-signal costs beyond this
// is what Rust, WASM and its rules cost. `/yjs/<namespace>` is the same floor for y-webrtc's
// signaling protocol (FloorTopics): subscribe, publish to a topic's subscribers with `clients`
// stamped (serialised once), spaced pings answered. `/peerjs?key&id` is the floor of the PeerJS
// endpoint's design (FloorPeer): one object per id, a message carried from the sender's object
// to the recipient's on a WebSocket between them (a link, opened once per pair), `src` stamped;
// no holding for absent ids, no answers, no heartbeats. Every class answers a client's close
// with its own (RFC 6455, 5.5.1), as edge-signal does: workerd sends no close reply for a
// hibernatable socket before compatibility date 2026-04-07, and without it a client's close ends
// unclean (Node's WebSocket: code 1006, wasClean false, after its 10 s closing timeout).
import { DurableObject } from "cloudflare:workers";

// The client's code, where a close frame may carry it (as edge-signal's `echo_close`), else 1000.
function echoClose(ws, code) {
  const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
  try {
    ws.close(sendable ? code : 1000, "");
  } catch {
    // Already closed: nothing to answer.
  }
}

export class FloorRoom extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.byPeer = new Map(); // peer id -> socket, rebuilt after hibernation
    for (const ws of ctx.getWebSockets()) this.byPeer.set(ws.deserializeAttachment(), ws);
    // Rebuilt from open sockets: the object was evicted meanwhile. Like this worker's own
    // `room_restored` line, it is how `loadgen cold` confirms an eviction (never on a hot path).
    if (this.byPeer.size) console.log(JSON.stringify({ event: "room_restored", peers: [...this.byPeer.keys()] }));
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  async fetch(request) {
    const peer = new URL(request.url).searchParams.get("peer");
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment(peer);
    server.send(JSON.stringify({ type: "welcome", peer, peers: [...this.byPeer.keys()] }));
    this.byPeer.set(peer, server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, text) {
    const msg = JSON.parse(text);
    msg.from = ws.deserializeAttachment();
    this.byPeer.get(msg.to)?.send(JSON.stringify(msg));
  }

  webSocketClose(ws, code) {
    this.byPeer.delete(ws.deserializeAttachment());
    echoClose(ws, code);
  }

  webSocketError(ws) {
    this.byPeer.delete(ws.deserializeAttachment());
  }
}

export class FloorTopics extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.topics = new Map(); // topic -> Set of sockets, rebuilt after hibernation
    for (const ws of ctx.getWebSockets()) for (const t of ws.deserializeAttachment() ?? []) this.subscribers(t).add(ws);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  subscribers(topic) {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    return set;
  }

  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, text) {
    const msg = JSON.parse(text);
    if (msg.type === "subscribe") {
      const mine = new Set(ws.deserializeAttachment() ?? []);
      for (const t of msg.topics) {
        this.subscribers(t).add(ws);
        mine.add(t);
      }
      ws.serializeAttachment([...mine]);
    } else if (msg.type === "publish") {
      const receivers = this.topics.get(msg.topic);
      if (!receivers) return;
      msg.clients = receivers.size;
      const out = JSON.stringify(msg);
      for (const r of receivers) r.send(out);
    } else if (msg.type === "ping") ws.send('{"type":"pong"}');
  }

  webSocketClose(ws, code) {
    this.forget(ws);
    echoClose(ws, code);
  }

  webSocketError(ws) {
    this.forget(ws);
  }

  forget(ws) {
    for (const set of this.topics.values()) set.delete(ws);
  }
}

export class FloorPeer extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.client = null; // the id's own socket; the others are links from senders' objects
    for (const ws of ctx.getWebSockets()) if (ws.deserializeAttachment().id) this.client = ws;
    this.links = new Map(); // dst -> { ws, queue } to its object
  }

  async fetch(request) {
    const url = new URL(request.url);
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    const id = url.searchParams.get("id");
    if (url.searchParams.has("link")) server.serializeAttachment({});
    else {
      server.serializeAttachment({ id, key: url.searchParams.get("key") });
      server.send('{"type":"OPEN"}');
      this.client = server;
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, text) {
    const me = ws.deserializeAttachment();
    if (!me.id) return this.client?.send(text); // a link's frame: for this id's socket
    const msg = JSON.parse(text);
    if (!msg.dst) return;
    msg.src = me.id;
    const out = JSON.stringify(msg);
    let link = this.links.get(msg.dst);
    if (!link) {
      this.links.set(msg.dst, (link = { ws: null, queue: [] }));
      const ns = this.env.PEERJS;
      const stub = ns.get(ns.idFromName(`${me.key}:${msg.dst}`));
      stub.fetch(`https://floor/peerjs?link=1&id=${encodeURIComponent(msg.dst)}`, { headers: { Upgrade: "websocket" } }).then((res) => {
        link.ws = res.webSocket;
        link.ws.accept();
        link.ws.addEventListener("close", () => this.links.delete(msg.dst));
        for (const q of link.queue.splice(0)) link.ws.send(q);
      });
    }
    if (link.ws) link.ws.send(out);
    else link.queue.push(out);
  }

  webSocketClose(ws, code) {
    if (ws === this.client) this.client = null;
    echoClose(ws, code);
  }
}

export default {
  fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response("ok"); // readiness
    const url = new URL(request.url);
    const path = url.pathname.split("/");
    if (path[1] === "peerjs") {
      const p = url.searchParams;
      return env.PEERJS.get(env.PEERJS.idFromName(`${p.get("key")}:${p.get("id")}`)).fetch(request);
    }
    const ns = path[1] === "yjs" ? env.TOPICS : env.ROOMS;
    return ns.get(ns.idFromName(path.pop())).fetch(request);
  },
};
