// Serves the browser examples (call, file-transfer, game, react) on http://127.0.0.1:8788
// ($EXAMPLES_PORT), an origin of their own, talking to an edge-signal server: `make dev`'s on
// $PORT (8787 by default, the same variable `make dev` reads), $EDGE_SIGNAL_SERVER if set, or a
// page's `?server=https://your.deployment`:
//
//   make dev                      # in one terminal (PORT=28787 make dev: then the same below)
//   make examples                 # in another; open http://127.0.0.1:8788/
//
// Each page imports the client as a bare "edge-signal" (an import map points it at
// /edge-signal.js here, the package's file), as an app that installed it from npm would. The
// React example is bundled on request with esbuild, in development mode (StrictMode's double
// mount only happens there). The browser tests serve the same pages with the client installed
// from the package's tarball (`serveExamples({ client })`).
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css" };
const INDEX = `<!doctype html><meta charset="utf-8"><title>edge-signal examples</title>
<h1>edge-signal examples</h1><p>Open each in two tabs (or two browsers). Add
<code>?server=https://your.deployment</code> to use another server than the one
<code>make examples</code> was started for.</p>
<ul><li><a href="/call/">call</a>: video and chat</li><li><a href="/file-transfer/">file-transfer</a>:
a file over the data channel, with progress and backpressure</li><li><a href="/game/">game</a>: a
two-player loop over the unreliable channel</li><li><a href="/react/">react</a>: a <code>useRoom</code>
hook under StrictMode</li></ul>`;

/**
 * Starts the examples' server. `client`: the client file to serve as /edge-signal.js (default:
 * client/edge-signal.js of this repository). Resolves with the http.Server once listening.
 */
export async function serveExamples({
  port = 8788,
  host = "127.0.0.1",
  client = join(HERE, "..", "client", "edge-signal.js"),
  devServer = process.env.EDGE_SIGNAL_SERVER || `http://127.0.0.1:${process.env.PORT || 8787}`,
} = {}) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    try {
      let body;
      let type;
      if (path === "/") [body, type] = [INDEX, TYPES[".html"]];
      else if (path === "/edge-signal.js") [body, type] = [await readFile(client), TYPES[".js"]];
      // The server pages talk to without ?server= (examples/common.js).
      else if (path === "/dev-server.js") [body, type] = [`export default ${JSON.stringify(devServer)};\n`, TYPES[".js"]];
      else if (path === "/react/app.js") [body, type] = [await bundleReact(client), TYPES[".js"]];
      else {
        const file = normalize(join(HERE, path.endsWith("/") ? `${path}index.html` : path));
        if (!file.startsWith(HERE) || !TYPES[extname(file)]) throw Object.assign(new Error("no"), { code: "ENOENT" });
        [body, type] = [await readFile(file), TYPES[extname(file)]];
      }
      res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" });
      res.end(body);
    } catch (err) {
      res.writeHead(err.code === "ENOENT" ? 404 : 500, { "Content-Type": "text/plain" });
      res.end(err.code === "ENOENT" ? "not found" : String(err.message));
    }
  });
  await new Promise((resolve) => server.listen(port, host, resolve));
  return server;
}

async function bundleReact(client) {
  const out = await esbuild.build({
    entryPoints: [join(HERE, "react", "app.jsx")],
    bundle: true,
    write: false,
    format: "esm",
    jsx: "automatic",
    alias: { "edge-signal": client },
    external: ["/dev-server.js"],
    define: { "process.env.NODE_ENV": '"development"' },
    logLevel: "error",
  });
  return out.outputFiles[0].contents;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.EXAMPLES_PORT || 8788);
  const devServer = process.env.EDGE_SIGNAL_SERVER || `http://127.0.0.1:${process.env.PORT || 8787}`;
  await serveExamples({ port, devServer });
  console.log(`examples: http://127.0.0.1:${port}/ (against ${devServer} unless ?server=...)`);
}
