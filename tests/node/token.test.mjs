// scripts/token.mjs mints what src/auth.rs mints and verifies.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { joinToken, matchboxToken, peerjsToken, yjsToken } from "../../scripts/token.mjs";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

test("the Node script mints the token of src/auth.rs's test vector, byte for byte", () => {
  // src/auth.rs, a_token_made_by_another_implementation_verifies.
  const vector = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoicjEiLCJwZWVyIjoiYWxpY2UiLCJleHAiOjE4MDAwMDAwNjB9.WcwzNtJzk9MID_mOQSJT3x7x-T5jWO7FbE0KvsIBrXY";
  assert.equal(joinToken("test-secret", { room: "r1", peer: "alice", exp: 1800000060 }), vector);
  assert.equal(joinToken("test-secret", { room: "r1", peer: "alice", now: 1800000000, ttlSeconds: 60 }), vector);
});

test("the command line reads AUTH_SECRET and refuses bad names", () => {
  const run = (args) => execFileSync("node", [join(ROOT, "scripts/token.mjs"), ...args], {
    env: { ...process.env, AUTH_SECRET: "test-secret" }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
  });
  const token = run(["r1", "alice", "60"]).trim();
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
  assert.deepEqual(Object.keys(claims), ["room", "peer", "exp"]);
  assert.equal(claims.room, "r1");
  assert.ok(Math.abs(claims.exp - (Date.now() / 1000 + 60)) < 5);
  assert.throws(() => run(["a.b"]), (err) => err.status === 2 && /room must be/.test(err.stderr));
});

test("PeerJS tokens: the vector src/auth.rs verifies for key \"app\" and id \"a b\"", () => {
  // src/auth.rs, a_peerjs_token_made_by_another_implementation_verifies.
  const vector = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoicGVlcmpzOmFwcCIsInBlZXIiOiJhIGIiLCJleHAiOjE4MDAwMDAwNjB9.6JN1UHDI4d7BYtnR31QQwxnWsuuFP2DqCy8IQM3qnL4";
  assert.equal(peerjsToken("test-secret", { key: "app", id: "a b", exp: 1800000060 }), vector);
  assert.throws(() => peerjsToken("s", { key: "app", id: "a  b" }), /PeerJS id/);
  assert.throws(() => peerjsToken("s", { key: "a:b", id: "a" }), /key must be/);
});

test("y-webrtc tokens: the vector src/auth.rs verifies for namespace \"app\"", () => {
  // src/auth.rs, a_yjs_token_made_by_another_implementation_verifies.
  const vector = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoieWpzOmFwcCIsImV4cCI6MTgwMDAwMDA2MH0.BZ0rynEY7I1g8DrPtHve3jWFmxgNGzjluiz5tDANk_Q";
  assert.equal(yjsToken("test-secret", { namespace: "app", exp: 1800000060 }), vector);
  assert.throws(() => yjsToken("s", { namespace: "a:b" }), /namespace must be/);
});

test("matchbox tokens: the vector src/auth.rs verifies for room \"game\"", () => {
  // src/auth.rs, a_matchbox_token_made_by_another_implementation_verifies.
  const vector = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoibWF0Y2hib3g6Z2FtZSIsImV4cCI6MTgwMDAwMDA2MH0.4ARFABrcX6mPUrd8Dz9CaFTGdsqZV1Zpb39i9UBQl3U";
  assert.equal(matchboxToken("test-secret", { room: "game", exp: 1800000060 }), vector);
});

test("join tokens carry metadata as the server checks it: an object of at most 1,024 bytes, {} as none", () => {
  const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
  const meta = { name: "Ada", avatar: "https://example.com/ada.png" };
  assert.deepEqual(claimsOf(joinToken("s", { room: "r1", peer: "alice", exp: 1800000060, meta })).meta, meta);
  assert.equal("meta" in claimsOf(joinToken("s", { room: "r1", exp: 1800000060, meta: {} })), false);
  assert.throws(() => joinToken("s", { room: "r1", meta: ["Ada"] }), /meta must be a JSON object/);
  assert.throws(() => joinToken("s", { room: "r1", meta: { name: "a".repeat(1100) } }), /at most 1024/);
  const cli = execFileSync("node", [join(ROOT, "scripts/token.mjs"), "r1", "alice", "60", '{"name":"Ada"}'], {
    env: { ...process.env, AUTH_SECRET: "s" }, encoding: "utf8",
  });
  assert.deepEqual(claimsOf(cli.trim()).meta, { name: "Ada" });
});
