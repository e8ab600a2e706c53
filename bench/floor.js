// The runtime floor for `make bench`: the least a relay can do on workerd, in plain JavaScript.
// Not part of the product. Same wire protocol as edge-signal for the load generator's messages:
// join at /rooms/<room>?peer=<id> (welcome), relay {to} with `from` stamped, exact pings
// auto-answered. No validation, no capacity, no errors: whatever edge-signal costs beyond this
// is what Rust, WASM and its rules cost. `/yjs/<namespace>` is the same floor for y-webrtc's
// signaling protocol (FloorTopics): subscribe, publish to a topic's subscribers with `clients`
// stamped (serialised once), spaced pings answered.
import { DurableObject } from "cloudflare:workers";

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

  webSocketClose(ws) {
    this.byPeer.delete(ws.deserializeAttachment());
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

  webSocketClose(ws) {
    for (const set of this.topics.values()) set.delete(ws);
  }

  webSocketError(ws) {
    this.webSocketClose(ws);
  }
}

export default {
  fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response("ok"); // readiness
    const path = new URL(request.url).pathname.split("/");
    const ns = path[1] === "yjs" ? env.TOPICS : env.ROOMS;
    return ns.get(ns.idFromName(path.pop())).fetch(request);
  },
};
