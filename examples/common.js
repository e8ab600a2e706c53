// What every example reads from its URL: the server (default: the one `make examples` was
// started for, `make dev`'s on $PORT) and the room.
import devServer from "/dev-server.js";

const params = new URLSearchParams(location.search);
export const server = params.get("server") || devServer;
export const roomName = params.get("room") || "example";
