// Type-checked by `tsc` against the package installed from its tarball (package.test.mjs):
// every class, option, event and error code of edge-signal.d.ts, as an app would use them. The
// lines marked as expected errors at the end must fail to type-check: the types are strict.
import { EdgeSignalError, ErrorCode, Room } from "edge-signal";
import type { ErrorCodeValue, PeerConnection, PeerMeta, RoomEventMap, RoomOptions, Welcome } from "edge-signal";

const options: RoomOptions = {
  server: "https://signal.example.com",
  peer: "alice",
  capacity: 4,
  token: "a.b.c",
  stream: new MediaStream(),
  rtcConfig: { iceTransportPolicy: "relay" },
  maxReconnects: 5,
  meta: { name: "Ada", avatar: "https://example.com/ada.png" },
};
const room = new Room("demo", options);

async function run(): Promise<void> {
  try {
    const welcome: Welcome = await room.join();
    const ids: string[] = welcome.peers;
    const resumed: boolean = welcome.resumed;
    const theirs: PeerMeta | undefined = welcome.meta["bob"];
    console.log(ids, resumed, welcome.capacity, welcome.peer, theirs?.["name"]);
  } catch (err) {
    if (err instanceof EdgeSignalError) {
      const code: ErrorCodeValue = err.code;
      console.log(code, err.closeCode, err.status, err.peer, err.message);
    }
  }
  const sent: boolean = room.send("hi", "bob", { reliable: false });
  if (!sent) await room.drain("bob");
  room.send(new Uint8Array(4));
  room.send(new ArrayBuffer(8), "bob");
  const queued: number = room.bufferedAmount("bob");
  room.message({ any: ["json"] }, "bob");
  const [track] = new MediaStream().getVideoTracks();
  room.addTrack(track);
  await room.replaceTrack(track, null);
  room.removeTrack(track);
  room.reconnect();
  room.leave();
  const calls: ReadonlyMap<string, PeerConnection> = room.peers;
  for (const call of calls.values()) console.log(call.pc.connectionState, call.channel?.label, call.unreliable, call.state, call.path, call.meta?.["name"]);
  console.log(queued, room.peerId, room.capacity, room.iceServers, room.stats.reconnects, room.ws, room.name);
}

room.addEventListener("welcome", (e) => console.log(e.detail.peer, e.detail.resumed));
room.addEventListener("peerjoined", (e) => console.log(e.detail.peer, e.detail.meta?.["name"]));
room.addEventListener("peerleft", (e) => console.log(e.detail.peer, e.detail.reason));
room.addEventListener("peerstate", (e) => {
  const state: "connecting" | "connected" | "failed" | "closed" = e.detail.state;
  console.log(state);
});
room.addEventListener("peerpath", (e) => console.log(e.detail.path));
room.addEventListener("track", (e) => console.log(e.detail.track.kind, e.detail.streams[0]?.id));
room.addEventListener("channelopen", (e) => console.log(e.detail.peer));
room.addEventListener("data", (e) => {
  const data: string | ArrayBuffer = e.detail.data;
  console.log(data, e.detail.reliable);
});
room.addEventListener("drain", (e) => console.log(e.detail.peer));
room.addEventListener("message", (e) => console.log(e.detail.from, e.detail.data));
room.addEventListener("servermessage", (e) => console.log(e.detail.data));
room.addEventListener("error", (e) => console.log(e.detail.code, e.detail.error.code, e.detail.peer));
room.addEventListener("reconnecting", (e) => console.log(e.detail.attempt, e.detail.delayMs));
room.addEventListener("closed", (e) => console.log(e.detail.code, e.detail.reason, e.detail.error?.code));

// Every error code, by name and by value.
const codes: Record<ErrorCodeValue, keyof typeof ErrorCode> = {
  bad_request: "BAD_REQUEST",
  forbidden_origin: "FORBIDDEN_ORIGIN",
  rate_limited: "RATE_LIMITED",
  server_misconfigured: "SERVER_MISCONFIGURED",
  unreachable: "UNREACHABLE",
  room_full: "ROOM_FULL",
  peer_id_taken: "PEER_ID_TAKEN",
  unauthorized: "UNAUTHORIZED",
  unknown_peer: "UNKNOWN_PEER",
  message_too_big: "MESSAGE_TOO_BIG",
  unsupported_data: "UNSUPPORTED_DATA",
  resumed_elsewhere: "RESUMED_ELSEWHERE",
  kicked: "KICKED",
  reconnect_failed: "RECONNECT_FAILED",
  not_connected: "NOT_CONNECTED",
  left: "LEFT",
};
const events: (keyof RoomEventMap)[] = ["welcome", "closed"];
console.log(codes, events, run);

// @ts-expect-error: not an option
new Room("demo", { capacty: 4 });
// @ts-expect-error: numbers are not data
room.send(42);
// @ts-expect-error: no such error code
console.log(ErrorCode.NOPE);
// @ts-expect-error: a welcome's detail has no `from`
room.addEventListener("welcome", (e) => console.log(e.detail.from));
// @ts-expect-error: metadata is a JSON object, not a string
new Room("demo", { meta: "Ada" });
