// A webhook receiver for the end-to-end tests (tests/e2e_webhooks.rs): verifies every request
// with the `standardwebhooks` package (the Standard Webhooks reference library for Node), as a
// receiver in production would, and records what it was sent.
//
//   node tests/common/webhook-receiver.mjs <port> <whsec_...>
//
// POST /hook        a delivery: verified, recorded, answered with the current mode's status
// GET  /events      every verified delivery so far, in arrival order:
//                   [{id, timestamp, body (parsed)}], plus {"invalid": N} of refused signatures
// POST /mode?status=503 | ?hang=1 | ?status=204   how later deliveries are answered
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const [port, secret] = process.argv.slice(2);
const verifier = new Webhook(secret);
const received = [];
let invalid = 0;
let mode = { status: 204, hang: false };

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://receiver");
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    if (req.method === "GET" && url.pathname === "/events") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ events: received, invalid }));
    }
    if (req.method === "POST" && url.pathname === "/mode") {
      mode = { status: Number(url.searchParams.get("status") || 204), hang: url.searchParams.has("hang") };
      res.writeHead(204);
      return res.end();
    }
    if (req.method === "POST" && url.pathname === "/hook") {
      if (mode.hang) return; // never answers: the sender must give up on its own
      let payload;
      try {
        // Checks the signature and that the timestamp is within 5 minutes of now.
        payload = verifier.verify(body, req.headers);
      } catch {
        invalid++;
        res.writeHead(400);
        return res.end("bad signature");
      }
      if (mode.status >= 200 && mode.status < 300) {
        received.push({ id: req.headers["webhook-id"], timestamp: req.headers["webhook-timestamp"], body: payload, raw: body });
      }
      res.writeHead(mode.status);
      return res.end();
    }
    res.writeHead(404);
    res.end();
  });
});
server.listen(Number(port), "127.0.0.1", () => console.log("ready"));
// Lives as long as the test binary that started it: its stdin closes when that exits.
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
