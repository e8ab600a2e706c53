// useRoom: a React hook that joins an edge-signal room for as long as the component is mounted.
//
//   const { room, status, peers, error } = useRoom("my-room", { server });
//
// StrictMode mounts, unmounts and mounts again in development, at once: the join starts on the
// next tick, so the first mount never opens a socket and a two-seat room still has room for
// both people. (Were it to, leave() during the pending join gives the seat back as soon as the
// welcome arrives, and its join() rejects with "left", ignored here; but for that moment the
// room would look full to someone else.)
import { useEffect, useState } from "react";
import { Room, ErrorCode } from "edge-signal";

export function useRoom(name, { server, capacity, token } = {}) {
  const [state, setState] = useState({ room: null, status: "joining", peers: {}, error: null });
  useEffect(() => {
    const room = new Room(name, { server, capacity, token });
    const update = (change) => setState((s) => ({ ...s, ...change(s) }));
    const setPeer = (peer, value) => update((s) => {
      const peers = { ...s.peers };
      if (value === null) delete peers[peer];
      else peers[peer] = value;
      return { peers };
    });
    room.addEventListener("peerstate", ({ detail }) => setPeer(detail.peer, detail.state === "closed" ? null : detail.state));
    room.addEventListener("closed", ({ detail }) => detail.error && update(() => ({ status: "closed", error: detail.error })));
    setState({ room, status: "joining", peers: {}, error: null });
    const start = setTimeout(() => room.join().then(
      () => update(() => ({ status: "joined" })),
      (error) => error.code !== ErrorCode.LEFT && update(() => ({ status: "failed", error })),
    ));
    return () => {
      clearTimeout(start);
      room.leave();
    };
  }, [name, server, capacity, token]);
  return state;
}
