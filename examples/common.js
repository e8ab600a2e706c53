// What every example reads from its URL: the server (default: `make dev`'s) and the room.
const params = new URLSearchParams(location.search);
export const server = params.get("server") || "http://127.0.0.1:8787";
export const roomName = params.get("room") || "example";
