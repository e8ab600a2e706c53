// edge-signal client: joins a room over signaling protocol v1 and runs one RTCPeerConnection
// per remote peer, with perfect negotiation, trickle ICE, two data channels (reliable and
// ordered; unreliable and unordered) and media tracks.
// Dependency-free ES module: `import { Room } from "edge-signal"` (npm) or from
// "https://<host>/edge-signal.js". Types: edge-signal.d.ts. Guide: docs/client.md.
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
//      restart repairs any that suffered). Otherwise ("resumed": false: the server restarted and
//      lost the room, or timed our seat out) we are a newcomer again, and the peer id is the
//      same: calls whose connection is down are set up anew, and a call still connected is kept,
//      in the new join order's roles. As the newcomer we are impolite and send an offer on the
//      kept connection (nothing in it changes); the other side, polite now, gets our peer_joined,
//      keeps its side and answers. A call with a peer not back in the room is kept while its
//      connection stays up, for REJOIN_GRACE_MS; past that, or once it drops, the peer is taken
//      for gone (peerleft, reason "disconnect").
//   6. signaling sent to a socket that was dying is lost: an offer not answered within
//      REOFFER_MS is sent again, and peers that joined while we were away (new in a resumed
//      welcome) joined after us, so we are polite to them and wait for their (re-sent) offer.
//   7. an offer or answer from another RTCPeerConnection than the one a call talked to (another
//      SDP session id or DTLS certificate: the other page started over, perhaps with the same
//      peer id, while we kept our side) cannot go on that connection: a fresh one takes its
//      place (after an answer, it offers anew; the other side then starts over too), and a
//      description the kept connection fails to apply does the same instead of failing again
//      on every re-sent offer.
//
// Events (Room is an EventTarget; each event's `detail` is shown):
//   welcome      {peer, peers, capacity, resumed, meta}  joined (also after each reconnect);
//                                                  meta: the others' metadata by id
//   peerjoined   {peer, meta?}                     someone joined; their offer will follow
//   peerleft     {peer, reason}                    someone left ("leave"/"disconnect"/"timeout"/
//                                                  "kicked")
//   peerstate    {peer, state}                     "connecting" | "connected" | "failed" | "closed"
//   track        {peer, track, streams}            a remote media track arrived
//   channelopen  {peer}                            the data channels to that peer are open (both:
//                                                  send() works, reliable or not)
//   data         {peer, data, reliable}            a data channel message (strings as sent)
//   drain        {peer}                            that peer's reliable channel has room again
//                                                  after send() returned false
//   peerpath     {peer, path}                      the call's path: "host" | "srflx" | "relay"
//   message      {from, data}                      an app message relayed by the server
//   servermessage {data}                           a message from the app's server (admin API)
//   error        {code, message, peer?, error}     a protocol error (bad_request, unknown_peer, ...)
//   reconnecting {attempt, delayMs}                the socket dropped; trying again after delayMs
//   closed       {code, reason, error?}            the room is left for good (leave(), a refusal, a
//                                                  final close); `error` says why unless leave()
//
// Errors: every refusal, final close and failure is an EdgeSignalError with a stable `code` (the
// ErrorCode values below): join() rejects with it, and `error` and `closed` events carry it.

const PING_FRAME = '{"type":"ping"}';
const PING_INTERVAL_MS = 25_000;
// A socket whose pong is this late is taken for dead (a half-open connection after a network
// change) and replaced, resuming the seat.
const PONG_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
// Sockets a join may try before its first welcome: a browser sees every refused upgrade (a bad
// name, a forbidden origin, a misconfigured server) and an unreachable server alike, as close
// code 1006, so after each failure the client asks the server's join check why (HTTP); a
// refusal ends the join at once, and this many failures without one end it as unreachable.
const JOIN_ATTEMPTS = 3;
// An offer with no answer after this long is sent again (the first may have gone to a socket
// that was dying; answering the same offer twice is harmless).
const REOFFER_MS = 3_000;
// After a rejoin the server did not resume (it lost the room: a restart), a call still connected
// is kept, also with a peer not back in the room yet; one not back after this long (three times
// the longest backoff) is taken for gone, as is one whose connection drops first.
const REJOIN_GRACE_MS = 30_000;
// send() backpressure: past this many bytes queued on a channel, send() returns false; `drain`
// fires once the queue is down to the low mark.
const HIGH_WATER_BYTES = 1024 * 1024;
const LOW_WATER_BYTES = 256 * 1024;

/** The `code` of every EdgeSignalError: stable strings, safe to match on. */
export const ErrorCode = Object.freeze({
  /** A room name, peer id or capacity the server does not accept (HTTP 400), or a bad frame. */
  BAD_REQUEST: "bad_request",
  /** This page's origin is not in the server's ALLOWED_ORIGINS (HTTP 403). */
  FORBIDDEN_ORIGIN: "forbidden_origin",
  /** Too many joins from this address (HTTP 429), or sending far over the budget (4006). */
  RATE_LIMITED: "rate_limited",
  /** The server's settings do not parse (HTTP 500). */
  SERVER_MISCONFIGURED: "server_misconfigured",
  /** No answer from the server within JOIN_ATTEMPTS tries. */
  UNREACHABLE: "unreachable",
  /** The room already holds its capacity (4001). */
  ROOM_FULL: "room_full",
  /** A live peer in the room already has this id (4002). */
  PEER_ID_TAKEN: "peer_id_taken",
  /** The join token is missing, expired, forged or for another room or peer (4003). */
  UNAUTHORIZED: "unauthorized",
  /** A message was addressed to nobody in the room (the socket stays open). */
  UNKNOWN_PEER: "unknown_peer",
  /** A frame larger than the server's MAX_MESSAGE_BYTES (1009). */
  MESSAGE_TOO_BIG: "message_too_big",
  /** A binary frame (1003): the protocol is text only. */
  UNSUPPORTED_DATA: "unsupported_data",
  /** This seat was taken over by another socket presenting its resume secret (4009). */
  RESUMED_ELSEWHERE: "resumed_elsewhere",
  /** The app's server removed this peer from the room (4010; the admin API). */
  KICKED: "kicked",
  /** More reconnect attempts than the `maxReconnects` option allows. */
  RECONNECT_FAILED: "reconnect_failed",
  /** send() to a peer whose data channel is not open (not yet, or no longer). */
  NOT_CONNECTED: "not_connected",
  /** leave() was called before the join completed. */
  LEFT: "left",
});

/** Whether `meta` is metadata to send: `{}` is none (and a signed server refuses any `?meta=`). */
const hasMeta = (meta) => !!meta && Object.keys(meta).length > 0;

/** A refusal, a final close or a failure, with a stable `code` (ErrorCode). */
export class EdgeSignalError extends Error {
  constructor(code, message, { closeCode, status, peer } = {}) {
    super(message);
    this.name = "EdgeSignalError";
    this.code = code;
    if (closeCode !== undefined) this.closeCode = closeCode;
    if (status !== undefined) this.status = status;
    if (peer !== undefined) this.peer = peer;
  }
}

// Close codes after which trying again cannot help, and what they mean. 4002 (id taken) is final
// for a first join, but after a blip it usually means the server has not yet seen our old socket
// go: retried then. (1000 is not here: the server also answers a close we started with 1000;
// leave() is tracked.)
const FINAL_CLOSES = new Map([
  [1003, ErrorCode.UNSUPPORTED_DATA],
  [1009, ErrorCode.MESSAGE_TOO_BIG],
  [4001, ErrorCode.ROOM_FULL],
  [4002, ErrorCode.PEER_ID_TAKEN],
  [4003, ErrorCode.UNAUTHORIZED],
  [4006, ErrorCode.RATE_LIMITED],
  [4009, ErrorCode.RESUMED_ELSEWHERE],
  [4010, ErrorCode.KICKED],
]);
const PEER_ID_TAKEN = 4002;
// The `error` members of the server's HTTP refusals (docs/protocol.md).
const HTTP_ERRORS = {
  bad_request: ErrorCode.BAD_REQUEST,
  forbidden: ErrorCode.FORBIDDEN_ORIGIN,
  rate_limited: ErrorCode.RATE_LIMITED,
  server_misconfigured: ErrorCode.SERVER_MISCONFIGURED,
};
// Room names and peer ids: checked here by the server's own rule, so a bad one is refused at once.
const ID = /^[A-Za-z0-9_-]{1,64}$/;

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

/** The DTLS certificate fingerprints an SDP names (an RTCPeerConnection has its own certificate). */
function fingerprints(sdp) {
  return new Set([...String(sdp).matchAll(/^a=fingerprint:[ \t]*(\S+)[ \t]+(\S+)/gim)]
    .map((m) => `${m[1]} ${m[2]}`.toLowerCase()));
}

/**
 * The session an SDP belongs to: its o= line's username and session id, which stay the same in
 * every description one RTCPeerConnection makes (RFC 3264 §8, JSEP) and differ between two.
 */
function sdpOrigin(sdp) {
  const m = String(sdp).match(/^o=(\S+) (\S+) /m);
  return m ? `${m[1]} ${m[2]}` : null;
}

/**
 * Whether the description `sdp` comes from another RTCPeerConnection than `current` (the remote
 * description so far, if any) did: another session id, or no certificate fingerprint in common.
 * A page reloaded while we kept our side of its old call, for example.
 */
function fromAnotherPc(current, sdp) {
  if (!current) return false;
  const [was, is] = [sdpOrigin(current.sdp), sdpOrigin(sdp)];
  if (was && is && was !== is) return true;
  const before = fingerprints(current.sdp);
  const now = fingerprints(sdp);
  if (!before.size || !now.size) return false;
  for (const f of now) if (before.has(f)) return false;
  return true;
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
    this.channel = null; // reliable, ordered
    this.unreliable = null; // unordered, no retransmits: for game state that is stale when late
    this.reofferTimer = null;
    this.rejoinTimer = null; // set while the call is kept for a peer not (yet) back in the room
    this.staleCandidates = false; // candidates may come for a connection this one replaced
    this.abandoned = new Set(); // sessions (sdpOrigin) of remote connections given up for this one
    // The newcomer opens the data channel now (its first offer carries it); the polite side
    // opens it when that offer arrives, so it never starts a competing offer of its own.
    if (!polite) this.openChannel();

    this.pc.onnegotiationneeded = () => this._offer();
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) {
        room.stats.candidatesSent++;
        room._signal({ type: "candidate", to: id, candidate: candidate.toJSON() });
      }
    };
    this.pc.ontrack = ({ track, streams }) => room._emit("track", { peer: id, track, streams });
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      // A call kept for a peer not back in the room: no signaling can repair it, so it ends.
      if (this.rejoinTimer && s !== "connected") return room._dropAbsent(id);
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

  /** Perfect negotiation's offer: the one "negotiationneeded" asks for, or a rejoin's. */
  async _offer() {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.room._signal({ type: this.pc.localDescription.type, to: this.id, sdp: this.pc.localDescription.sdp });
      if (this.pc.signalingState === "have-local-offer") this._armReoffer();
    } catch (err) {
      console.warn("edge-signal: offer failed", err);
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * This connected call is kept through a rejoin the server did not resume (one of us, or both,
   * joined anew), in the new join order's role: the newcomer is impolite and offers on this
   * connection (nothing changes in it: the answer tells whether the other side kept its
   * connection too; an answer from a new one replaces ours, see onSignal); the one already there
   * is polite and waits for that offer.
   */
  keepAfterRejoin(polite) {
    this.present();
    this.polite = polite;
    if (!polite && (this.pc.signalingState === "stable" || this.pc.signalingState === "have-local-offer")) {
      this._offer();
    }
  }

  /** Kept while its peer is not back in the room; ends after REJOIN_GRACE_MS without them. */
  awaitRejoin() {
    if (this.rejoinTimer) return;
    this.rejoinTimer = setTimeout(() => this.room._dropAbsent(this.id), REJOIN_GRACE_MS);
  }

  /** The peer is in the room (joined, listed, or signaling to us): no longer awaited. */
  present() {
    clearTimeout(this.rejoinTimer);
    this.rejoinTimer = null;
  }

  /** The data channels: negotiated on both sides with fixed ids, so neither waits for them. */
  openChannel() {
    if (this.channel) return;
    const open = (label, options, reliable) => {
      const channel = this.pc.createDataChannel(label, { negotiated: true, ...options });
      channel.binaryType = "arraybuffer";
      channel.onopen = () => {
        if (this.channel?.readyState === "open" && this.unreliable?.readyState === "open") {
          this.room._emit("channelopen", { peer: this.id });
        }
      };
      channel.onmessage = (e) => this.room._emit("data", { peer: this.id, data: e.data, reliable });
      return channel;
    };
    this.channel = open("edge-signal", { id: 0 }, true);
    this.channel.bufferedAmountLowThreshold = LOW_WATER_BYTES;
    this.channel.onbufferedamountlow = () => {
      if (this.blocked) {
        this.blocked = false;
        this.room._emit("drain", { peer: this.id });
      }
    };
    this.unreliable = open("edge-signal-unreliable", { id: 1, ordered: false, maxRetransmits: 0 }, false);
  }

  /**
   * Sends on one channel; false when the reliable channel's queue is over the high mark (the
   * caller should wait for `drain`). Throws `not_connected` when the channel is not open.
   */
  send(data, reliable) {
    const channel = reliable ? this.channel : this.unreliable;
    if (channel?.readyState !== "open") {
      throw new EdgeSignalError(ErrorCode.NOT_CONNECTED, `no open data channel to ${this.id}`, { peer: this.id });
    }
    channel.send(data);
    if (!reliable || channel.bufferedAmount <= HIGH_WATER_BYTES) return true;
    this.blocked = true;
    return false;
  }

  /** Sends our offer again if it is still unanswered after REOFFER_MS (see the flow, step 6). */
  _armReoffer() {
    clearTimeout(this.reofferTimer);
    this.reofferTimer = setTimeout(() => {
      const offer = this.pc.localDescription;
      if (this.pc.signalingState !== "have-local-offer" || !offer) return;
      this.room._signal({ type: "offer", to: this.id, sdp: offer.sdp });
      this._armReoffer();
    }, REOFFER_MS);
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

  /** Swaps what a sender sends, without renegotiation. */
  async replaceTrack(oldTrack, newTrack) {
    const sender = this.senders.get(oldTrack);
    if (!sender) return;
    await sender.replaceTrack(newTrack);
    this.senders.delete(oldTrack);
    this.senders.set(newTrack, sender);
  }

  /** Perfect negotiation (MDN "Perfect negotiation"), for offer/answer/candidate frames. */
  async onSignal(msg) {
    const pc = this.pc;
    this.present();
    if (msg.type === "offer" || msg.type === "answer") {
      // Late signaling from a remote connection this one replaced (_renewPeer): not for us.
      if (this.abandoned.has(sdpOrigin(msg.sdp))) return;
      // From another RTCPeerConnection than this call's (the other side started over: a page
      // reloaded while we kept our side through a rejoin): this connection's DTLS session cannot
      // take it, so a fresh one does (before any await: the candidates that follow go to it).
      if (fromAnotherPc(pc.remoteDescription, msg.sdp)) return this.room._renewPeer(this, msg);
      // An answer with no offer of ours pending: a second answer to a re-sent offer.
      if (msg.type === "answer" && pc.signalingState !== "have-local-offer") return;
      const offerCollision = msg.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && offerCollision;
      if (this.ignoreOffer) return;
      const firstOffer = msg.type === "offer" && !pc.remoteDescription;
      const hadRemote = !!pc.remoteDescription;
      try {
        await pc.setRemoteDescription({ type: msg.type, sdp: msg.sdp });
      } catch (err) {
        // A description this connection cannot apply, after others it did: start over on a
        // fresh connection rather than fail the same way on every re-sent offer.
        if (hadRemote && !this.closed && this.room.peers.get(this.id) === this) {
          console.warn("edge-signal: a new connection to", this.id, "after", err);
          return this.room._renewPeer(this, msg);
        }
        throw err;
      }
      this.staleCandidates = false;
      if (msg.type === "answer") clearTimeout(this.reofferTimer);
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
        if (!this.ignoreOffer && !this.staleCandidates) throw err;
      }
    }
  }

  close() {
    this.closed = true;
    this.present();
    clearTimeout(this.reofferTimer);
    this.channel?.close();
    this.unreliable?.close();
    this.pc.close();
    this._setState("closed");
  }
}

export class Room extends EventTarget {
  /**
   * @param {string} room     the room name, or a path/URL such as "/rooms/demo"
   * @param {object} options  { server: origin (default: this page's), peer, capacity, token,
   *                            meta: a JSON object the others see (unsigned servers; a token
   *                            carries it on signed ones), stream: MediaStream to send,
   *                            rtcConfig: extra RTCConfiguration }
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
    this._pending = null; // the pending join(): {promise, resolve, reject}
    this._lastError = null; // the last `error` frame, for the close that follows it
    this._joinAttempts = 0; // sockets tried since join(), before its first welcome
  }

  /**
   * Opens the socket and joins. Resolves with the welcome; rejects with an EdgeSignalError when
   * the join is refused (room_full, unauthorized, bad_request, forbidden_origin, ...), when the
   * server cannot be reached within a few tries (unreachable), or when leave() comes first
   * (left). Never stays pending: every outcome settles it within seconds.
   */
  join() {
    if (this._pending) return this._pending.promise;
    const invalid = this._invalidOptions();
    if (invalid) return Promise.reject(invalid);
    this._left = false;
    this._welcomed = false;
    this._joinAttempts = 0;
    let settle;
    const promise = new Promise((resolve, reject) => (settle = { resolve, reject }));
    this._pending = { promise, ...settle };
    this._connect();
    return promise;
  }

  /**
   * Leaves the room: tells the others, closes every call, and stops reconnecting. During a
   * pending join, that join rejects with `left`, and a welcome that still arrives is answered
   * with a leave at once: no seat is held.
   */
  leave() {
    if (this._left) return;
    this._left = true;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    // If the socket is still connecting, its welcome (if any) is answered with a leave.
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send('{"type":"leave"}');
    this._closeAllPeers();
    this._settleJoin(new EdgeSignalError(ErrorCode.LEFT, "leave() was called before the join completed"));
  }

  /**
   * Replaces the socket now and resumes the seat, keeping every call: for when the app knows the
   * network changed (an "online" event, a new interface) before the socket notices. Does nothing
   * before the first welcome or while a new socket is already connecting; during a backoff it
   * connects at once instead of waiting (one socket either way).
   */
  reconnect() {
    if (this._left || !this.ws || !this._welcomed) return;
    if (this.ws.readyState === WebSocket.CONNECTING) return;
    clearTimeout(this._retryTimer);
    const waiting = this._retryTimer !== null;
    this._retryTimer = null;
    const old = this.ws;
    this._stopPings();
    if (!waiting) this.stats.reconnects++;
    this._connect(); // this.ws is the new socket: the old one's close event is ignored
    // Left open on purpose: the server closes it with 4009 once the new socket takes the seat.
    old.onmessage = null;
  }

  /**
   * Sends `data` (a string, ArrayBuffer, typed array or Blob) peer to peer over the data
   * channels: to `peer`, or to every peer whose channel is open. `{ reliable: false }` uses the
   * unordered channel without retransmits (game state that is stale when late). Returns false
   * when a reliable channel's send queue is over 1 MiB: wait for the `drain` event (or
   * `await room.drain(peer)`) before sending more. Throws an EdgeSignalError `not_connected`
   * when `peer`'s channel is not open.
   */
  send(data, peer, { reliable = true } = {}) {
    if (peer) {
      const p = this.peers.get(peer);
      if (!p) throw new EdgeSignalError(ErrorCode.NOT_CONNECTED, `no call with ${peer}`, { peer });
      return p.send(data, reliable);
    }
    let hasRoom = true;
    for (const p of this.peers.values()) {
      const channel = reliable ? p.channel : p.unreliable;
      if (channel?.readyState === "open") hasRoom = p.send(data, reliable) && hasRoom;
    }
    return hasRoom;
  }

  /** Bytes queued on the reliable channel to `peer` (0 without one). */
  bufferedAmount(peer) {
    return this.peers.get(peer)?.channel?.bufferedAmount ?? 0;
  }

  /**
   * Resolves once the reliable channel to `peer` has room again (at once if it has); rejects
   * with `not_connected` if the call ends first.
   */
  drain(peer) {
    return new Promise((resolve, reject) => {
      const p = this.peers.get(peer);
      if (!p || p.channel?.readyState !== "open") {
        return reject(new EdgeSignalError(ErrorCode.NOT_CONNECTED, `no open data channel to ${peer}`, { peer }));
      }
      if (!p.blocked) return resolve();
      const done = (e) => {
        if (e.detail.peer !== peer) return;
        this.removeEventListener("drain", done);
        this.removeEventListener("peerstate", done);
        if (e.type === "drain") resolve();
        else if (e.detail.state === "closed" || e.detail.state === "failed") {
          reject(new EdgeSignalError(ErrorCode.NOT_CONNECTED, `the call with ${peer} ended`, { peer }));
        } else {
          this.addEventListener("drain", done);
          this.addEventListener("peerstate", done);
        }
      };
      this.addEventListener("drain", done);
      this.addEventListener("peerstate", done);
    });
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

  /**
   * Sends `newTrack` in place of `oldTrack` on every call, without renegotiation (camera to
   * screen share and back; the same kind). Resolves once every call sends it.
   */
  async replaceTrack(oldTrack, newTrack) {
    if (this.localStream?.getTracks().includes(oldTrack)) {
      this.localStream.removeTrack(oldTrack);
      this.localStream.addTrack(newTrack);
    }
    await Promise.all([...this.peers.values()].map((p) => p.replaceTrack(oldTrack, newTrack)));
  }

  // ---- internals ----------------------------------------------------------------------------

  _url() {
    const base = this.options.server || location.origin;
    const url = new URL(`/rooms/${encodeURIComponent(this.name)}`, base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (this.peerId) url.searchParams.set("peer", this.peerId);
    if (this.options.capacity) url.searchParams.set("capacity", String(this.options.capacity));
    if (hasMeta(this.options.meta)) url.searchParams.set("meta", JSON.stringify(this.options.meta));
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

  /** The options' room name, peer id and capacity, checked by the server's rules. */
  _invalidOptions() {
    const bad = (message) => new EdgeSignalError(ErrorCode.BAD_REQUEST, message);
    if (!ID.test(this.name || "")) return bad("room must be 1 to 64 characters from A-Z a-z 0-9 _ -");
    if (this.peerId !== null && !ID.test(this.peerId)) return bad("peer must be 1 to 64 characters from A-Z a-z 0-9 _ -");
    const meta = this.options.meta;
    if (meta !== undefined && meta !== null && (typeof meta !== "object" || Array.isArray(meta))) {
      return bad("meta must be a JSON object");
    }
    const capacity = this.options.capacity;
    if (capacity !== undefined && capacity !== null && !(/^\d+$/.test(String(capacity)) && Number(capacity) >= 2)) {
      return bad("capacity must be a whole number from 2 to the server's MAX_ROOM_CAPACITY");
    }
    return null;
  }

  _settleJoin(error, welcome) {
    const pending = this._pending;
    this._pending = null;
    if (!pending) return;
    if (error) pending.reject(error);
    else pending.resolve(welcome);
  }

  /** Ends the room for good with `error` (or after leave()): closed event, join settled. */
  _finish(code, reason, error) {
    this._stopPings();
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._closeAllPeers();
    this._emit("closed", error ? { code, reason, error } : { code, reason });
    this._settleJoin(error || new EdgeSignalError(ErrorCode.LEFT, "leave() was called before the join completed"));
  }

  /**
   * Why the server refuses this join, asked over HTTP (`GET /api/rooms/<room>/check`, the same
   * checks as the upgrade's): an EdgeSignalError, or null when the checks pass or the server
   * does not answer.
   */
  async _joinRefusal() {
    const base = new URL(this.options.server || location.origin);
    const url = new URL(`/api/rooms/${encodeURIComponent(this.name)}/check`, base);
    if (this.peerId) url.searchParams.set("peer", this.peerId);
    if (this.options.capacity) url.searchParams.set("capacity", String(this.options.capacity));
    if (hasMeta(this.options.meta)) url.searchParams.set("meta", JSON.stringify(this.options.meta));
    let res;
    try {
      res = await fetch(url, { cache: "no-store" });
    } catch {
      return null; // unreachable, for now
    }
    if (res.ok) return null;
    const body = await res.json().catch(() => ({}));
    const code = HTTP_ERRORS[body.error] ||
      (res.status === 429 ? ErrorCode.RATE_LIMITED : res.status >= 500 ? ErrorCode.SERVER_MISCONFIGURED : ErrorCode.BAD_REQUEST);
    return new EdgeSignalError(code, body.message || `HTTP ${res.status}`, { status: res.status });
  }

  _connect() {
    if (this._left) return;
    let ws;
    try {
      ws = new WebSocket(this._url(), this._protocols());
    } catch (err) {
      // The browser refused to even try (a URL or a Content-Security-Policy it will not connect
      // to): no retry can help.
      this._finish(1006, "", new EdgeSignalError(ErrorCode.UNREACHABLE, `the browser will not connect: ${err.message}`));
      return;
    }
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
        if (this._left) {
          // leave() came while this socket was connecting: give the seat back at once.
          this.ws.send('{"type":"leave"}');
          return;
        }
        this._attempt = 0;
        this._welcomed = true;
        this.peerId = msg.peer; // keep it, so a reconnect rejoins with the same id
        this._resume = msg.resume || null;
        this.capacity = msg.capacity;
        this.iceServers = msg.ice_servers || [];
        this._startPings();
        const meta = msg.meta || {};
        if (msg.resumed) {
          // Our seat was kept: keep the calls with everyone still here. Signaling sent to us
          // while we were away is lost, so restart ICE on any call that is not connected.
          // (A call kept for a peer not back since an earlier rejoin still waits for them.)
          for (const [id, peer] of [...this.peers]) {
            if (!msg.peers.includes(id) && !peer.rejoinTimer) this._closePeer(id);
          }
          for (const peer of this.peers.values()) if (peer.state !== "connected") peer.pc.restartIce();
          // Peers new to us joined while we were away, after us: we are polite to them, and
          // their offer (lost on our old socket) comes again (REOFFER_MS). One whose call we
          // kept through an earlier rejoin is back: kept, polite too.
          for (const id of msg.peers) {
            const awaited = this.peers.get(id);
            if (awaited && !awaited.rejoinTimer) continue;
            if (awaited) awaited.keepAfterRejoin(true);
            else this._addPeer(id, true, meta[id]);
            this._emit("peerjoined", meta[id] ? { peer: id, meta: meta[id] } : { peer: id });
          }
        } else {
          // A fresh seat: the server lost ours (it restarted and lost the room, or timed us out
          // and told the others we left). A call whose connection is still up is kept, in the
          // newcomer's role (keepAfterRejoin: an offer on it, whose answer says whether the
          // other side kept its side too), also with a peer not back yet (awaitRejoin). The
          // others are set up anew.
          for (const [id, peer] of [...this.peers]) {
            if (peer.pc.connectionState !== "connected") this._closePeer(id);
          }
          for (const id of msg.peers) {
            const kept = this.peers.get(id);
            if (kept) {
              kept.meta = meta[id];
              kept.keepAfterRejoin(false);
            } else {
              this._addPeer(id, false, meta[id]).addLocalTracks();
            }
          }
          for (const [id, peer] of this.peers) if (!msg.peers.includes(id)) peer.awaitRejoin();
        }
        const welcome = { peer: msg.peer, peers: msg.peers, capacity: msg.capacity, resumed: !!msg.resumed, meta };
        this._emit("welcome", welcome);
        this._settleJoin(null, welcome);
        break;
      }
      case "peer_joined": {
        const kept = this.peers.get(msg.peer);
        if (kept?.pc.connectionState === "connected") {
          // A call that outlived a seat the server lost (it restarted): they joined after us,
          // so we are polite, and their offer says whether their side is the same connection
          // (else a fresh one replaces ours: onSignal).
          kept.meta = msg.meta;
          kept.keepAfterRejoin(true);
        } else {
          this._closePeer(msg.peer); // a stale connection from before a blip, if any
          this._addPeer(msg.peer, true, msg.meta);
        }
        this._emit("peerjoined", msg.meta ? { peer: msg.peer, meta: msg.meta } : { peer: msg.peer });
        break;
      }
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
      case "server_message":
        this._emit("servermessage", { data: msg.data });
        break;
      case "error": {
        this._lastError = msg;
        const error = new EdgeSignalError(msg.code, msg.message, msg.peer === undefined ? {} : { peer: msg.peer });
        this._emit("error", { code: msg.code, message: msg.message, peer: msg.peer, error });
        break;
      }
      case "pong":
        clearTimeout(this._pongTimer);
        this._pongTimer = null;
        break;
    }
  }

  _onSocketClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this._stopPings();
    if (this._left) return this._finish(code, reason, null);
    const final = FINAL_CLOSES.get(code);
    if (final && (code !== PEER_ID_TAKEN || !this._welcomed)) {
      const message = (this._lastError && this._lastError.message) || reason || `closed with ${code}`;
      return this._finish(code, reason, new EdgeSignalError(final, message, { closeCode: code }));
    }
    this._lastError = null;
    if (!this._welcomed) {
      // Never joined: a refused upgrade and an unreachable server look alike from here. Ask why.
      this._joinAttempts++;
      this._joinRefusal().then((refusal) => {
        if (this._left || ws !== this.ws) return;
        if (refusal) return this._finish(code, reason, refusal);
        if (this._joinAttempts >= JOIN_ATTEMPTS) {
          const server = this.options.server || location.origin;
          return this._finish(code, reason, new EdgeSignalError(ErrorCode.UNREACHABLE,
            `no answer from ${server} after ${JOIN_ATTEMPTS} tries`));
        }
        this._retry();
      });
      return;
    }
    // Calls are kept until the next welcome says whether our seat was resumed.
    // A network blip, the server going away, or 4002 after a blip: try again.
    const max = this.options.maxReconnects ?? Infinity;
    if (this._attempt >= max) {
      return this._finish(code, reason, new EdgeSignalError(ErrorCode.RECONNECT_FAILED,
        `gave up after ${max} reconnect attempts`, { closeCode: code }));
    }
    this.stats.reconnects++;
    this._retry();
  }

  /** Connects again after a jittered, doubling backoff (one timer at a time). */
  _retry() {
    this._attempt++;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this._attempt - 1));
    const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this._emit("reconnecting", { attempt: this._attempt, delayMs });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._connect();
    }, delayMs);
  }

  _addPeer(id, polite, meta) {
    const peer = new Peer(this, id, polite);
    peer.meta = meta; // the peer's metadata (control v1), or undefined when it has none
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

  /**
   * A fresh connection in place of `old`'s, for the same peer: the other side's `msg` (an offer
   * or an answer) comes from another connection than the one `old` talked to. An offer is
   * answered on the fresh one (it is theirs to start: we are polite); after an answer, the fresh
   * one offers anew (their side then starts over on seeing it: it too comes from another
   * connection), and the candidates still on their way for the old exchange are ignored.
   */
  _renewPeer(old, msg) {
    const id = old.id;
    const origin = sdpOrigin(msg.sdp);
    // The remote connection `old` talked to is gone; after an answer, so is the one that sent
    // it (it starts over on our fresh offer): what either still sends is stale.
    const abandoned = new Set(old.abandoned);
    abandoned.add(old.pc.remoteDescription && sdpOrigin(old.pc.remoteDescription.sdp));
    if (msg.type === "answer") abandoned.add(origin);
    else abandoned.delete(origin);
    abandoned.delete(null);
    this._closePeer(id);
    const peer = this._addPeer(id, msg.type === "offer", old.meta);
    peer.abandoned = abandoned;
    if (msg.type === "offer") return peer.onSignal(msg);
    peer.staleCandidates = true;
    peer.addLocalTracks(); // "negotiationneeded": the offer
  }

  /** A call kept for a peer that did not come back to the room (awaitRejoin): it ends. */
  _dropAbsent(id) {
    if (!this.peers.get(id)?.rejoinTimer) return;
    this._closePeer(id);
    this._emit("peerleft", { peer: id, reason: "disconnect" });
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
