// Types of the edge-signal client (edge-signal.js). Checked by `tsc` in `make test`
// (tests/browser/package-app/usage.ts uses every class, option, event and error code declared
// here; tests/browser/package.test.mjs type-checks it with tsc).

/** The `code` of every {@link EdgeSignalError}: stable strings, safe to match on. */
export declare const ErrorCode: Readonly<{
  /** A room name, peer id or capacity the server does not accept (HTTP 400), or a bad frame. */
  BAD_REQUEST: "bad_request";
  /** This page's origin is not in the server's ALLOWED_ORIGINS (HTTP 403). */
  FORBIDDEN_ORIGIN: "forbidden_origin";
  /** Too many joins from this address (HTTP 429), or sending far over the budget (4006). */
  RATE_LIMITED: "rate_limited";
  /** The server's settings do not parse (HTTP 500). */
  SERVER_MISCONFIGURED: "server_misconfigured";
  /** No answer from the server within three tries. */
  UNREACHABLE: "unreachable";
  /** The room already holds its capacity (4001). */
  ROOM_FULL: "room_full";
  /** A live peer in the room already has this id (4002). */
  PEER_ID_TAKEN: "peer_id_taken";
  /** The join token is missing, expired, forged or for another room or peer (4003). */
  UNAUTHORIZED: "unauthorized";
  /** A message was addressed to nobody in the room (the socket stays open). */
  UNKNOWN_PEER: "unknown_peer";
  /** A frame larger than the server's MAX_MESSAGE_BYTES (1009). */
  MESSAGE_TOO_BIG: "message_too_big";
  /** A binary frame (1003): the protocol is text only. */
  UNSUPPORTED_DATA: "unsupported_data";
  /** This seat was taken over by another socket presenting its resume secret (4009). */
  RESUMED_ELSEWHERE: "resumed_elsewhere";
  /** The app's server removed this peer from the room (4010; the admin API). */
  KICKED: "kicked";
  /** More reconnect attempts than the `maxReconnects` option allows. */
  RECONNECT_FAILED: "reconnect_failed";
  /** send() to a peer whose data channel is not open (not yet, or no longer). */
  NOT_CONNECTED: "not_connected";
  /** leave() was called before the join completed. */
  LEFT: "left";
}>;

/** One of the {@link ErrorCode} values. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A refusal, a final close or a failure. */
export declare class EdgeSignalError extends Error {
  constructor(code: ErrorCodeValue, message: string, extra?: { closeCode?: number; status?: number; peer?: string });
  readonly name: "EdgeSignalError";
  readonly code: ErrorCodeValue;
  /** The WebSocket close code, when a close ended the room. */
  readonly closeCode?: number;
  /** The HTTP status, when the server refused the join over HTTP. */
  readonly status?: number;
  /** The peer concerned (unknown_peer, not_connected). */
  readonly peer?: string;
}

export interface RoomOptions {
  /** The server's origin, e.g. "https://signal.example.com". Default: this page's origin. */
  server?: string;
  /** The peer id to join as (1–64 of A-Z a-z 0-9 _ -). Default: one the server picks. */
  peer?: string;
  /** The room's capacity, when this join creates it (2 to the server's MAX_ROOM_CAPACITY). */
  capacity?: number;
  /** A join token, on servers with AUTH_SECRET (sent in Sec-WebSocket-Protocol, not the URL). */
  token?: string;
  /**
   * Metadata the others see (a name, an avatar): a JSON object of at most 1,024 bytes as
   * compact JSON, in their `welcome` and `peerjoined`. Unsigned servers only: on a server with
   * AUTH_SECRET it comes from the token's `meta` claim, and this option is refused (bad_request).
   */
  meta?: PeerMeta;
  /** Media to send on every call. */
  stream?: MediaStream;
  /** Extra RTCConfiguration, merged over the server's iceServers. */
  rtcConfig?: RTCConfiguration;
  /** Reconnect attempts after a drop before giving up with `reconnect_failed`. Default: no cap. */
  maxReconnects?: number;
}

/** A peer's metadata (control v1): the JSON object it joined with. */
export type PeerMeta = { [key: string]: unknown };

export interface Welcome {
  /** Our id in the room. */
  peer: string;
  /** The peers already there, in join order. */
  peers: string[];
  capacity: number;
  /**
   * True when a reconnect kept our seat (the calls carry on). False on a first join, and when
   * the server had lost the seat (a restart): calls still connected are kept then too, and the
   * others are set up again.
   */
  resumed: boolean;
  /** The metadata of each of `peers` that has any, by id. */
  meta: { [peer: string]: PeerMeta };
}

export type PeerState = "connecting" | "connected" | "failed" | "closed";
export type PeerPath = "host" | "srflx" | "relay";
/** Data as sent: strings stay strings; binary arrives as an ArrayBuffer. */
export type ChannelData = string | ArrayBuffer;

/** One call: the connection to one remote peer (for inspection; the Room drives it). */
export interface PeerConnection {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  /** The reliable, ordered data channel. */
  readonly channel: RTCDataChannel | null;
  /** The unordered data channel without retransmits. */
  readonly unreliable: RTCDataChannel | null;
  readonly state: PeerState;
  readonly path?: PeerPath;
  /** The peer's metadata, when it has any. */
  readonly meta?: PeerMeta;
}

/** Every event a {@link Room} dispatches, by type, with its `detail`. */
export interface RoomEventMap {
  welcome: CustomEvent<Welcome>;
  peerjoined: CustomEvent<{ peer: string; meta?: PeerMeta }>;
  peerleft: CustomEvent<{ peer: string; reason: "leave" | "disconnect" | "timeout" | "kicked" | string }>;
  peerstate: CustomEvent<{ peer: string; state: PeerState }>;
  peerpath: CustomEvent<{ peer: string; path: PeerPath }>;
  track: CustomEvent<{ peer: string; track: MediaStreamTrack; streams: readonly MediaStream[] }>;
  /** Both data channels to `peer` are open: send() works, reliable or not. */
  channelopen: CustomEvent<{ peer: string }>;
  data: CustomEvent<{ peer: string; data: ChannelData; reliable: boolean }>;
  drain: CustomEvent<{ peer: string }>;
  message: CustomEvent<{ from: string; data: unknown }>;
  /** A message from the app's server (the admin API's `POST .../messages`): any JSON value. */
  servermessage: CustomEvent<{ data: unknown }>;
  error: CustomEvent<{ code: ErrorCodeValue; message: string; peer?: string; error: EdgeSignalError }>;
  reconnecting: CustomEvent<{ attempt: number; delayMs: number }>;
  closed: CustomEvent<{ code: number; reason: string; error?: EdgeSignalError }>;
}

/** A room: the signaling socket and one RTCPeerConnection per remote peer. */
export declare class Room extends EventTarget {
  /** @param room a room name ("demo") or a path or URL ending in it ("/rooms/demo") */
  constructor(room: string, options?: RoomOptions);
  readonly name: string;
  readonly options: RoomOptions;
  /** Our id once welcomed (or the `peer` option). */
  readonly peerId: string | null;
  readonly capacity: number | null;
  readonly localStream: MediaStream | null;
  /** The ICE servers of the last welcome (TURN credentials included). */
  readonly iceServers: RTCIceServer[];
  /** The calls, by remote peer id. */
  readonly peers: ReadonlyMap<string, PeerConnection>;
  /** The signaling socket (null before join()). */
  readonly ws: WebSocket | null;
  readonly stats: { candidatesSent: number; candidatesReceived: number; reconnects: number };

  /**
   * Joins. Resolves with the welcome; rejects with an EdgeSignalError for every refusal and
   * failure (never stays pending).
   */
  join(): Promise<Welcome>;
  /** Leaves for good: tells the others, closes every call, stops reconnecting. */
  leave(): void;
  /** Replaces the socket now and resumes the seat (after a network change). */
  reconnect(): void;
  /**
   * Peer-to-peer data to `peer` or every open channel. False: the reliable queue is over 1 MiB,
   * wait for `drain`. Throws `not_connected` when `peer`'s channel is not open.
   */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob, peer?: string, options?: { reliable?: boolean }): boolean;
  /** Bytes queued on the reliable channel to `peer`. */
  bufferedAmount(peer: string): number;
  /** Resolves when the reliable channel to `peer` has room again. */
  drain(peer: string): Promise<void>;
  /** An app message relayed by the server, to `to` or everyone (any JSON value). */
  message(data: unknown, to?: string): void;
  /** Adds a track to every call (renegotiates). */
  addTrack(track: MediaStreamTrack, stream?: MediaStream): void;
  /** Removes a track from every call (renegotiates). */
  removeTrack(track: MediaStreamTrack): void;
  /** Sends `newTrack` in place of `oldTrack` on every call, without renegotiation. */
  replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack | null): Promise<void>;

  addEventListener<K extends keyof RoomEventMap>(
    type: K,
    listener: (this: Room, ev: RoomEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof RoomEventMap>(
    type: K,
    listener: (this: Room, ev: RoomEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
