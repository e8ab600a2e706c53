// The React example: a room's peers and a chat, with useRoom under StrictMode.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { roomName, server } from "../common.js";
import { useRoom } from "./useRoom.js";

function App() {
  const { room, status, peers, error } = useRoom(roomName, { server });
  const [lines, setLines] = useState([]);
  const [text, setText] = useState("");
  useEffect(() => {
    if (!room) return;
    const onData = ({ detail }) => detail.reliable && setLines((l) => [...l, `${detail.peer.slice(0, 8)}: ${detail.data}`]);
    room.addEventListener("data", onData);
    return () => room.removeEventListener("data", onData);
  }, [room]);
  const send = (e) => {
    e.preventDefault();
    room.send(text);
    setLines((l) => [...l, `me: ${text}`]);
    setText("");
  };
  return (
    <main>
      <p id="status" data-status={status}>{error ? `${error.code}: ${error.message}` : status}</p>
      <ul id="peers">
        {Object.entries(peers).map(([peer, state]) => (
          <li key={peer} data-state={state}>{peer.slice(0, 8)} {state}</li>
        ))}
      </ul>
      <form onSubmit={send}>
        <input id="text" value={text} onChange={(e) => setText(e.target.value)} />
        <button>Send</button>
      </form>
      <ol id="chat">{lines.map((line, i) => <li key={i}>{line}</li>)}</ol>
    </main>
  );
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
