// scripts/reclaim.mjs: the SQLite reader on hand-built files, the pass on a directory, and the
// pass against a real workerd (the newest, as `make serve` runs) with a throwaway worker.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { canReclaim, keepReason, reclaim } from "../../scripts/reclaim.mjs";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");
const WORKERD = join(ROOT, "node_modules", "workerd-latest", "bin", "workerd");
const PAGE = 512;

const temps = [];
after(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "reclaim-test-"));
  temps.push(dir);
  return dir;
};

// --- Hand-built SQLite files (https://www.sqlite.org/fileformat2.html), 512-byte pages. ---

/** A b-tree page of `type` holding `cells` (each a Buffer), its header at `at` (100 on page 1). */
function btreePage(type, cells = [], at = 0) {
  const page = Buffer.alloc(PAGE);
  page[at] = type;
  page.writeUInt16BE(cells.length, at + 3);
  let end = PAGE;
  cells.forEach((cell, i) => {
    end -= cell.length;
    cell.copy(page, end);
    page.writeUInt16BE(end, at + 8 + 2 * i);
  });
  page.writeUInt16BE(end, at + 5);
  return page;
}

/** A table leaf cell: payload size, rowid, then a record of `values` (strings, small ints, null). */
function tableCell(rowid, values) {
  const types = [], body = [];
  for (const v of values) {
    if (v === null) types.push(0);
    else if (typeof v === "number") { types.push(1); body.push(Buffer.from([v])); }
    else { types.push(13 + 2 * Buffer.byteLength(v)); body.push(Buffer.from(v)); }
  }
  const header = Buffer.from([types.length + 1, ...types]);
  const payload = Buffer.concat([header, ...body]);
  assert.ok(payload.length < 128 && rowid < 128 && types.every((t) => t < 128), "one-byte varints only");
  return Buffer.concat([Buffer.from([payload.length, rowid]), payload]);
}

const schemaRow = (rowid, name, rootPage) => tableCell(rowid, ["table", name, name, rootPage, `CREATE TABLE ${name} (key, value)`]);

/** A database file: page 1 holds `schema` rows; `pages` are pages 2, 3, ... */
function database(schema = [], pages = [], { freeTrunk = 0, freeCount = 0 } = {}) {
  const first = btreePage(0x0d, schema, 100);
  first.write("SQLite format 3\0", 0, "latin1");
  first.writeUInt16BE(PAGE, 16);
  first[18] = first[19] = 2; // WAL, as workerd's
  first[21] = 64; first[22] = 32; first[23] = 32;
  first.writeUInt32BE(7, 24); // change counter
  first.writeUInt32BE(1 + pages.length, 28);
  first.writeUInt32BE(freeTrunk, 32);
  first.writeUInt32BE(freeCount, 36);
  first.writeUInt32BE(4, 44);
  first.writeUInt32BE(1, 56);
  first.writeUInt32BE(7, 92); // version valid for = change counter: the page count is valid
  return Buffer.concat([first, ...pages]);
}

test("a one-page file (the schema, empty) holds nothing", () => {
  assert.equal(keepReason(database()), null);
});

test("a two-page file: an empty leaf holds nothing, a leaf with a cell holds something", () => {
  assert.equal(keepReason(database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0a)])), null);
  assert.equal(keepReason(database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0d)])), null);
  const kept = database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0d, [tableCell(1, ["k", "v"])])]);
  assert.match(keepReason(kept), /page 2 holds 1 cell/);
});

test("a truncated file, or one whose header does not parse, is kept", () => {
  const two = database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0a)]);
  assert.match(keepReason(two.subarray(0, PAGE)), /page count/);
  assert.match(keepReason(two.subarray(0, PAGE + 100)), /page count/);
  assert.match(keepReason(two.subarray(0, 60)), /not a SQLite file/);
  const stale = Buffer.from(two);
  stale.writeUInt32BE(8, 24); // the header's page count is no longer vouched for
  assert.match(keepReason(stale), /page count/);
  const badSize = Buffer.from(two);
  badSize.writeUInt16BE(1000, 16);
  assert.match(keepReason(badSize), /page size/);
});

test("interior, overflow and pointer-map pages, app tables and user versions are kept", () => {
  const interior = btreePage(0x05);
  interior.writeUInt32BE(3, 8); // right child
  assert.match(keepReason(database([schemaRow(1, "_cf_KV", 2)], [interior, btreePage(0x0d)])), /not a b-tree leaf/);
  assert.match(keepReason(database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0a), Buffer.alloc(PAGE)])), /page 3 is not/);
  const vacuum = database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0a)]);
  vacuum.writeUInt32BE(2, 52);
  assert.match(keepReason(vacuum), /pointer-map/);
  assert.match(keepReason(database([schemaRow(1, "rooms", 2)], [btreePage(0x0d)])), /the app's own \(rooms\)/);
  const versioned = database();
  versioned.writeUInt32BE(3, 60);
  assert.match(keepReason(versioned), /user version/);
});

test("free-list pages hold nothing; a free list that does not add up is kept", () => {
  const trunk = Buffer.alloc(PAGE);
  trunk.writeUInt32BE(1, 4); // one leaf: page 4
  trunk.writeUInt32BE(4, 8);
  const file = (count) => database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0a), trunk, Buffer.alloc(PAGE)], { freeTrunk: 3, freeCount: count });
  assert.equal(keepReason(file(2)), null);
  assert.match(keepReason(file(3)), /free list/);
});

test("workerd's no-alarm row holds nothing; a set alarm, or another row, is kept", () => {
  const meta = (cell) => database([schemaRow(1, "_cf_METADATA", 2)], [btreePage(0x0d, [cell])]);
  assert.equal(keepReason(meta(tableCell(1, [null, null]))), null);
  assert.match(keepReason(meta(tableCell(1, [null, 5]))), /holds 1 cell/);
  assert.match(keepReason(meta(tableCell(3, [null, null]))), /holds 1 cell/);
  // The same row in another table is a row.
  assert.match(keepReason(database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0d, [tableCell(1, [null, null])])])), /holds 1 cell/);
});

// --- The pass on a directory. ---

const HEX = (c) => c.repeat(64);
const EMPTY = database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0a)]);
const FULL = database([schemaRow(1, "_cf_KV", 2)], [btreePage(0x0d, [tableCell(1, ["k", "v"])])]);

test("a pass deletes closed empty files only, and puts back what is open or not empty", { skip: !canReclaim() && "needs /proc" }, async () => {
  const state = tempDir();
  const ns = join(state, "ns");
  const at = (name) => join(ns, name);
  const files = { empty: HEX("a"), wal: HEX("b"), open: HEX("c"), full: HEX("d"), leftEmpty: HEX("e"), leftFull: HEX("f") };
  mkdirSync(ns);
  for (const k of ["empty", "wal", "open"]) writeFileSync(at(`${files[k]}.sqlite`), EMPTY);
  writeFileSync(at(`${files.wal}.sqlite-wal`), "");
  writeFileSync(at(`${files.full}.sqlite`), FULL);
  writeFileSync(at("metadata.sqlite"), EMPTY); // workerd's own: never touched
  // Left set aside by a pass that was cut short.
  writeFileSync(at(`${files.leftEmpty}.sqlite.reclaim`), EMPTY);
  writeFileSync(at(`${files.leftFull}.sqlite.reclaim`), FULL);
  const fd = openSync(at(`${files.open}.sqlite`), "r"); // this process has it open, as workerd would

  assert.deepEqual(await reclaim(state, { settleMs: 50 }), { files: 2, bytes: 2 * EMPTY.length });
  assert.deepEqual(readdirSync(ns).sort(), [
    `${files.wal}.sqlite`, `${files.wal}.sqlite-wal`, `${files.open}.sqlite`, `${files.full}.sqlite`,
    `${files.leftFull}.sqlite`, "metadata.sqlite",
  ].sort());

  closeSync(fd);
  // A file found holding something is read again once it changes (here: emptied, same size).
  writeFileSync(at(`${files.full}.sqlite`), EMPTY);
  assert.deepEqual(await reclaim(state, { settleMs: 50 }), { files: 2, bytes: 2 * EMPTY.length });
  assert.ok(!existsSync(at(`${files.open}.sqlite`)) && !existsSync(at(`${files.full}.sqlite`)));
  assert.deepEqual(await reclaim(state, { settleMs: 50 }), { files: 0, bytes: 0 });
});

// --- Against a real workerd. ---

const WORKER = `
export class Obj {
  constructor(state) { this.state = state; }
  async fetch(request) {
    const op = new URL(request.url).searchParams.get("op");
    const s = this.state.storage;
    const id = this.state.id.toString();
    if (op === "none") return Response.json({ id }); // never touches storage
    if (op === "put") await s.put("k", "kept value");
    if (op === "delete") await s.delete("k");
    if (op === "deleteAll") await s.deleteAll();
    if (op === "alarm") await s.setAlarm(${Date.now() + 7 * 86400e3});
    if (op === "deleteAlarm") await s.deleteAlarm();
    if (op === "table") s.sql.exec("CREATE TABLE IF NOT EXISTS t (x)");
    return Response.json({ id, k: (await s.get("k")) ?? null, alarm: await s.getAlarm() });
  }
  async alarm() {}
}
export default {
  fetch(request, env) {
    const name = new URL(request.url).pathname.slice(1);
    return env.NS.get(env.NS.idFromName(name)).fetch(request);
  },
};
`;

const CONFIG = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = (
      modules = [(name = "worker.js", esModule = embed "worker.js")],
      compatibilityDate = "2026-11-01",
      bindings = [(name = "NS", durableObjectNamespace = "Obj")],
      durableObjectNamespaces = [(className = "Obj", uniqueKey = "reclaim-test-Obj", enableSql = true)],
      durableObjectStorage = (localDisk = "disk"),
    )),
    (name = "disk", disk = (path = "state", writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", service = "main")],
);
`;

const freePort = () => new Promise((resolve, reject) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  }).on("error", reject);
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("against workerd: the files of objects that hold nothing go, the others stay and still read back", { skip: !canReclaim() && "needs /proc", timeout: 40_000 }, async (t) => {
  const dir = tempDir();
  const state = join(dir, "state");
  mkdirSync(state);
  writeFileSync(join(dir, "worker.js"), WORKER);
  writeFileSync(join(dir, "config.capnp"), CONFIG);
  const port = await freePort();
  const workerd = spawn(WORKERD, ["serve", join(dir, "config.capnp"), "--socket-addr", `http=127.0.0.1:${port}`, "--directory-path", `disk=${state}`],
    { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  workerd.stderr.on("data", (d) => (stderr += d));
  t.after(() => workerd.kill("SIGKILL"));

  const get = async (path) => {
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/${path}`);
        assert.equal(res.status, 200, await res.clone().text());
        return await res.json();
      } catch (err) {
        if (i > 50 || err.code === "ERR_ASSERTION") throw new Error(`${path}: ${err.message}\n${stderr}`);
        await sleep(100); // workerd still starting
      }
    }
  };
  // What each object does, in order; the first four hold nothing afterwards.
  const scripts = {
    untouched: ["none"], // (a)
    deletedAll: ["put", "deleteAll"], // (b)
    deletedKey: ["put", "delete"], // leaves workerd's _cf_KV table, empty
    alarmDeleted: ["alarm", "deleteAlarm"], // leaves _cf_METADATA's no-alarm row (as rooms do)
    kept: ["put"], // (c)
    alarm: ["alarm"], // (d)
    table: ["table"], // an app's own table, empty: its schema is state
  };
  const file = {};
  for (const [name, ops] of Object.entries(scripts)) {
    for (const op of ops) file[name] = join(state, "reclaim-test-Obj", `${(await get(`${name}?op=${op}`)).id}.sqlite`);
  }
  const alarmAt = (await get("alarm")).alarm;
  assert.ok(alarmAt > Date.now() + 86400e3);
  for (const path of Object.values(file)) assert.ok(existsSync(path), `workerd made ${path}`);

  // workerd closes an idle object's database (removing its -wal and -shm) about 10 s after its
  // last request (10.0 s measured here, for the project's objects too); until then each is
  // kept as open.
  const started = Date.now();
  const open = () => Object.values(file).filter((p) => existsSync(`${p}-wal`) || existsSync(`${p}-shm`));
  while (open().length) {
    assert.ok(Date.now() - started < 25_000, `still open after 25 s: ${open()}`);
    await sleep(200);
  }
  const sizes = Object.fromEntries(Object.entries(file).map(([name, p]) => [name, statSync(p).size]));
  t.diagnostic(`closed ${Date.now() - started} ms after the last request; sizes ${JSON.stringify(sizes)}`);

  const gone = ["untouched", "deletedAll", "deletedKey", "alarmDeleted"];
  const { files, bytes } = await reclaim(state, { settleMs: 200 });
  assert.deepEqual({ files, bytes }, { files: gone.length, bytes: gone.reduce((n, name) => n + sizes[name], 0) });
  for (const name of Object.keys(file)) assert.equal(existsSync(file[name]), !gone.includes(name), name);
  assert.ok(existsSync(join(state, "reclaim-test-Obj", "metadata.sqlite")));

  assert.equal((await get("kept")).k, "kept value");
  assert.equal((await get("alarm")).alarm, alarmAt);
  assert.deepEqual(await get("untouched?op=none"), { id: file.untouched.split("/").pop().slice(0, 64) });
  assert.deepEqual(await get("deletedAll"), { id: file.deletedAll.split("/").pop().slice(0, 64), k: null, alarm: null });
  // And the objects just used again are open, so kept.
  assert.deepEqual(await reclaim(state, { settleMs: 50 }), { files: 0, bytes: 0 });
});
