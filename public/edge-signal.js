// edge-signal client: joins a room over signaling protocol v1 and runs one RTCPeerConnection
// per remote peer, with perfect negotiation, trickle ICE, a data channel and media tracks.
// Dependency-free ES module: `import { Room } from "/edge-signal.js"`.
//
// Connection flow
//   1. open wss://<host>/rooms/<room>?peer=..&capacity=..   -> "welcome" (or an error + close)
//   2. we are the newcomer, the impolite peer: for each id in welcome.peers, create a connection,
//      add our tracks and the data channel; "negotiationneeded" sends each of them an offer
//   3. those present are polite: on "peer_joined" they wait for our offer, answer it, then add
//      their own tracks (any renegotiation that needs runs through the same perfect negotiation)
//   4. candidates trickle both ways as "candidate" frames
//   5. the socket drops (or a pong is overdue) -> reconnect with backoff, presenting the seat's
//      resume secret from the last welcome. If the server still held our seat, it hands it to the
//      new socket ("resumed": true): the others saw nothing and every call carries on (an ICE
//      restart repairs any that suffered). Otherwise we are a newcomer again and re-establish
//      every call (the others saw us leave and closed their side).
//
// Events (Room is an EventTarget; each event's `detail` is shown):
//   welcome      {peer, peers, capacity, resumed}  joined (also after each reconnect)
//   peerjoined   {peer}                            someone joined; their offer will follow
//   peerleft     {peer, reason}                    someone left ("leave"/"disconnect"/"timeout")
//   peerstate    {peer, state}                     "connecting" | "connected" | "failed" | "closed"
//   track        {peer, track, streams}            a remote media track arrived
//   channelopen  {peer}                            the data channel to that peer is open
//   data         {peer, data}                      a data channel message (strings as sent)
//   message      {from, data}                      an app message relayed by the server
//   error        {code, message, peer?}            a protocol error (room_full, peer_id_taken, ...)
//   reconnecting {attempt, delayMs}                the socket dropped; trying again after delayMs
//   closed       {code, reason}                    the room is left for good (leave() or refused)

const PING_FRAME = '{"type":"ping"}';
const PING_INTERVAL_MS = 25_000;
// A socket whose pong is this late is taken for dead (a half-open connection after a network
// change) and replaced, resuming the seat.
const PONG_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
// Close codes after which trying again cannot help. 4002 (id taken) is final for a first join,
// but after a blip it usually means the server has not yet seen our old socket go: retry then.
// (1000 is not here: the server also answers a close we started with 1000; leave() is tracked.)
const FINAL_CLOSE_CODES = new Set([1003, 1009, 4001, 4003, 4006]);
const PEER_ID_TAKEN = 4002;

/** Loopback, link-local and private (RFC 1918, RFC 4193) addresses: reachable without a NAT. */
function privateAddress(ip) {
  const v4 = ip.match(/^(\d+)\.(\d+)\./);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168);
  }
  const v6 = ip.toLowerCase();
  return v6 === "::1" || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) || v6.endsWith(".local");
}

/** One remote peer: its RTCPeerConnection and perfect-negotiation state. */
class Peer {
  constructor(room, id, polite) {
    this.room = room;
    this.id = id;
    this.polite = polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.state = "connecting";
    this.senders = new Map(); // track -> RTCRtpSender
    this.pc = new RTCPeerConnection({ iceServers: room.iceServers, ...room.options.rtcConfig });
    this.channel = null;
    // The newcomer opens the data channel now (its first offer carries it); the polite side
    // opens it when that offer arrives, so it never starts a competing offer of its own.
    if (!polite) this.openChannel();

    this.pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await this.pc.setLocalDescription();
        room._signal({ type: this.pc.localDescription.type, to: id, sdp: this.pc.localDescription.sdp });
      } catch (err) {
        console.warn("edge-signal: offer failed", err);
      } finally {
        this.makingOffer = false;
      }
    };
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) {
        room.stats.candidatesSent++;
        room._signal({ type: "candidate", to: id, candidate: candidate.toJSON() });
      }
    };
    this.pc.ontrack = ({ track, streams }) => room._emit("track", { peer: id, track, streams });
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      if (s === "connected") {
        this._setState("connected");
        this._findPath();
        // Again once trickling is over: a peer-reflexive end may turn out to be a host address.
        setTimeout(() => this._findPath(), 2000);
      }
      else if (s === "failed") {
        this._setState("failed");
        this.pc.restartIce(); // renegotiates with fresh candidates through perfect negotiation
      }
    };
  }

  /** The data channel: negotiated on both sides with the same id, so neither waits for it. */
  openChannel() {
    if (this.channel) return;
    this.channel = this.pc.createDataChannel("edge-signal", { negotiated: true, id: 0 });
    this.channel.onopen = () => this.room._emit("channelopen", { peer: this.id });
    this.channel.onmessage = (e) => this.room._emit("data", { peer: this.id, data: e.data });
  }

  /**
   * Which path the call took, from the selected candidate pair: "relay" if either end is a TURN
   * relay, "srflx" if either end is a STUN-discovered (or peer-reflexive) address, else "host".
   */
  async _findPath() {
    let path = null;
    try {
      const stats = await this.pc.getStats();
      let pair = null;
      stats.forEach((r) => {
        if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
      });
      if (!pair) stats.forEach((r) => {
        if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r;
      });
      if (pair) {
        const ends = [stats.get(pair.localCandidateId), stats.get(pair.remoteCandidateId)];
        const types = ends.map((c) => c?.candidateType);
        const address = (c) => c.address || c.ip || "";
        const hosts = new Set();
        stats.forEach((r) => {
          if (r.type.endsWith("-candidate") && r.candidateType === "host") hosts.add(address(r));
        });
        // A peer-reflexive ("prflx") end is an address learned from a connectivity check before
        // its candidate was signaled: a host address if some host candidate has it or it is
        // private, else a NAT's mapping.
        const translated = ends.some((c) => c?.candidateType === "srflx" ||
          (c?.candidateType === "prflx" && !hosts.has(address(c)) && !privateAddress(address(c))));
        path = types.includes("relay") ? "relay" : translated ? "srflx" : "host";
      }
    } catch (err) {
      console.warn("edge-signal: no stats for", this.id, err);
    }
    if (path && path !== this.path && this.state === "connected") {
      this.path = path;
      this.room._emit("peerpath", { peer: this.id, path });
    }
  }

  _setState(state) {
    if (this.state !== state) {
      this.state = state;
      this.room._emit("peerstate", { peer: this.id, state });
    }
  }

  addLocalTracks() {
    const stream = this.room.localStream;
    if (stream) for (const track of stream.getTracks()) this.addTrack(track, stream);
    // With nothing to send, still ask to receive audio and video from the other side.
    for (const kind of ["audio", "video"]) {
      const covered = this.pc.getTransceivers().some((t) => t.receiver.track.kind === kind);
      if (!covered) this.pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  addTrack(track, stream) {
    if (this.senders.has(track)) return;
    // Reuse a transceiver the other side offered for this kind, else add one.
    const free = this.pc
      .getTransceivers()
      .find((t) => t.receiver.track.kind === track.kind && !t.sender.track && !t.stopped &&
        ![...this.senders.values()].includes(t.sender));
    if (free) {
      free.sender.replaceTrack(track);
      free.sender.setStreams?.(stream);
      free.direction = "sendrecv";
      this.senders.set(track, free.sender);
    } else {
      this.senders.set(track, this.pc.addTrack(track, stream));
    }
  }

  removeTrack(track) {
    const sender = this.senders.get(track);
    if (!sender) return;
    this.senders.delete(track);
    this.pc.removeTrack(sender); // fires negotiationneeded
  }

  /** Perfect negotiation (MDN "Perfect negotiation"), for offer/answer/candidate frames. */
  async onSignal(msg) {
    const pc = this.pc;
    if (msg.type === "offer" || msg.type === "answer") {
      const offerCollision = msg.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && offerCollision;
      if (this.ignoreOffer) return;
      const firstOffer = msg.type === "offer" && !pc.remoteDescription;
      await pc.setRemoteDescription({ type: msg.type, sdp: msg.sdp });
      if (msg.type === "offer") {
        // The polite side adds its tracks once it sees what the newcomer offered, so they fill
        // the offered transceivers instead of racing the newcomer with an offer of its own.
        if (firstOffer && this.polite) {
          this.openChannel();
          this.addLocalTracks();
        }
        await pc.setLocalDescription();
        this.room._signal({ type: "answer", to: this.id, sdp: pc.localDescription.sdp });
      }
    } else if (msg.type === "candidate") {
      try {
        await pc.addIceCandidate(msg.candidate);
      } catch (err) {
        if (!this.ignoreOffer) throw err;
      }
    }
  }

  close() {
    this.channel?.close();
    this.pc.close();
    this._setState("closed");
  }
}

export class Room extends EventTarget {
  /**
   * @param {string} room     the room name, or a path/URL such as "/rooms/demo"
   * @param {object} options  { server: origin (default: this page's), peer, capacity,
   *                            stream: MediaStream to send, rtcConfig: extra RTCConfiguration }
   */
  constructor(room, options = {}) {
    super();
    this.options = options;
    this.name = String(room).split("/").filter(Boolean).pop();
    this.localStream = options.stream || null;
    this.peerId = options.peer || null;
    this.peers = new Map(); // id -> Peer
    this.iceServers = [];
    this.capacity = null;
    this.stats = { candidatesSent: 0, candidatesReceived: 0, reconnects: 0 };
    this.ws = null;
    this._attempt = 0;
    this._welcomed = false; // ever welcomed with this.peerId
    this._left = false;
    this._pingTimer = null;
    this._pongTimer = null;
    this._retryTimer = null;
    this._resume = null; // the seat's resume secret, from the last welcome
  }

  /** Opens the socket and joins. Resolves with the welcome, rejects with a refusal's error. */
  join() {
    this._left = false;
    return new Promise((resolve, reject) => {
      const onWelcome = (e) => { cleanup(); resolve(e.detail); };
      const onError = (e) => { if (isRefusal(e.detail.code)) { cleanup(); reject(e.detail); } };
      const onClosed = (e) => { cleanup(); reject(e.detail); };
      const cleanup = () => {
        this.removeEventListener("welcome", onWelcome);
        this.removeEventListener("error", onError);
        this.removeEventListener("closed", onClosed);
      };
      this.addEventListener("welcome", onWelcome);
      this.addEventListener("error", onError);
      this.addEventListener("closed", onClosed);
      this._connect();
    });
  }

  /** Leaves the room: tells the others, closes every call, and stops reconnecting. */
  leave() {
    this._left = true;
    clearTimeout(this._retryTimer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send('{"type":"leave"}');
    this._closeAllPeers();
  }

  /**
   * Replaces the socket now and resumes the seat, keeping every call: for when the app knows the
   * network changed (an "online" event, a new interface) before the socket notices.
   */
  reconnect() {
    if (this._left || !this.ws) return;
    const old = this.ws;
    this._stopPings();
    this.stats.reconnects++;
    this._connect(); // this.ws is the new socket: the old one's close event is ignored
    // Left open on purpose: the server closes it with 4009 once the new socket takes the seat.
    old.onmessage = null;
  }

  /** Sends `data` over the data channel to one peer, or to every open channel. */
  send(data, peer) {
    for (const p of peer ? [this.peers.get(peer)] : this.peers.values()) {
      if (p?.channel?.readyState === "open") p.channel.send(data);
    }
  }

  /** Sends an app message through the server (`message` frame) to one peer or everyone. */
  message(data, to) {
    this._signal(to ? { type: "message", to, data } : { type: "message", data });
  }

  /** Adds a local track to every call (renegotiates). */
  addTrack(track, stream) {
    if (!this.localStream) this.localStream = stream || new MediaStream();
    if (!this.localStream.getTracks().includes(track)) this.localStream.addTrack(track);
    for (const p of this.peers.values()) p.addTrack(track, this.localStream);
  }

  /** Removes a local track from every call (renegotiates). */
  removeTrack(track) {
    this.localStream?.removeTrack(track);
    for (const p of this.peers.values()) p.removeTrack(track);
  }

  // ---- internals ----------------------------------------------------------------------------

  _url() {
    const base = this.options.server || location.origin;
    const url = new URL(`/rooms/${encodeURIComponent(this.name)}`, base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (this.peerId) url.searchParams.set("peer", this.peerId);
    if (this.options.capacity) url.searchParams.set("capacity", String(this.options.capacity));
    return url.toString();
  }

  // The join token and resume secret travel in the Sec-WebSocket-Protocol header, not the URL:
  // URLs are what proxies and request logs record (docs/security.md). The server selects
  // "edge-signal.v1".
  _protocols() {
    const protocols = ["edge-signal.v1"];
    if (this.options.token) protocols.push(`edge-signal.token.${this.options.token}`);
    if (this._resume && this.peerId) protocols.push(`edge-signal.resume.${this._resume}`);
    return protocols;
  }

  _connect() {
    const ws = new WebSocket(this._url(), this._protocols());
    this.ws = ws;
    ws.onmessage = (e) => this._onFrame(e.data);
    ws.onclose = (e) => this._onSocketClose(ws, e.code, e.reason);
    ws.onerror = () => {}; // a close event always follows
  }

  _onFrame(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    switch (msg.type) {
      case "welcome": {
        this._attempt = 0;
        this._welcomed = true;
        this.peerId = msg.peer; // keep it, so a reconnect rejoins with the same id
        this._resume = msg.resume || null;
        this.capacity = msg.capacity;
        this.iceServers = msg.ice_servers || [];
        this._startPings();
        if (msg.resumed) {
          // Our seat was kept: keep the calls with everyone still here. Signaling sent to us
          // while we were away is lost, so restart ICE on any call that is not connected.
          for (const id of [...this.peers.keys()]) if (!msg.peers.includes(id)) this._closePeer(id);
          for (const peer of this.peers.values()) if (peer.state !== "connected") peer.pc.restartIce();
          for (const id of msg.peers) if (!this.peers.has(id)) this._addPeer(id, false).addLocalTracks();
        } else {
          this._closeAllPeers(); // a fresh seat: everyone closed their side of our old calls
          for (const id of msg.peers) this._addPeer(id, false).addLocalTracks();
        }
        this._emit("welcome", { peer: msg.peer, peers: msg.peers, capacity: msg.capacity, resumed: !!msg.resumed });
        break;
      }
      case "peer_joined":
        this._closePeer(msg.peer); // a stale connection from before a blip, if any
        this._addPeer(msg.peer, true);
        this._emit("peerjoined", { peer: msg.peer });
        break;
      case "peer_left":
        this._closePeer(msg.peer);
        this._emit("peerleft", { peer: msg.peer, reason: msg.reason });
        break;
      case "offer":
      case "answer":
      case "candidate": {
        if (msg.type === "candidate") this.stats.candidatesReceived++;
        const peer = this.peers.get(msg.from) || (msg.type === "offer" ? this._addPeer(msg.from, true) : null);
        peer?.onSignal(msg).catch((err) => console.warn("edge-signal: signaling failed", err));
        break;
      }
      case "message":
        this._emit("message", { from: msg.from, data: msg.data });
        break;
      case "error":
        this._emit("error", { code: msg.code, message: msg.message, peer: msg.peer });
        break;
      case "pong":
        clearTimeout(this._pongTimer);
        this._pongTimer = null;
        break;
    }
  }

  _onSocketClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this._stopPings();
    if (this._left || FINAL_CLOSE_CODES.has(code) || (code === PEER_ID_TAKEN && !this._welcomed)) {
      this._closeAllPeers();
      this._emit("closed", { code, reason });
      return;
    }
    // Calls are kept until the next welcome says whether our seat was resumed.
    // A network blip, the server going away, or 4002 after a blip: try again.
    this._attempt++;
    this.stats.reconnects++;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this._attempt - 1));
    const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this._emit("reconnecting", { attempt: this._attempt, delayMs });
    this._retryTimer = setTimeout(() => this._connect(), delayMs);
  }

  _addPeer(id, polite) {
    const peer = new Peer(this, id, polite);
    this.peers.set(id, peer);
    this._emit("peerstate", { peer: id, state: "connecting" });
    return peer;
  }

  _closePeer(id) {
    const peer = this.peers.get(id);
    if (peer) {
      this.peers.delete(id);
      peer.close();
    }
  }

  _closeAllPeers() {
    for (const id of [...this.peers.keys()]) this._closePeer(id);
  }

  _signal(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  _startPings() {
    this._stopPings();
    this._pingTimer = setInterval(() => {
      if (this.ws?.readyState !== WebSocket.OPEN) return;
      this.ws.send(PING_FRAME);
      if (!this._pongTimer) this._pongTimer = setTimeout(() => this.reconnect(), PONG_TIMEOUT_MS);
    }, PING_INTERVAL_MS);
  }

  _stopPings() {
    clearInterval(this._pingTimer);
    clearTimeout(this._pongTimer);
    this._pingTimer = null;
    this._pongTimer = null;
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function isRefusal(code) {
  return code === "room_full" || code === "peer_id_taken" || code === "unauthorized";
}
