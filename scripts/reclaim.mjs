// `make serve`'s disk reclaim: deletes the SQLite file of every Durable Object that holds
// nothing. workerd gives every object it ever starts `<STATE_DIR>/<uniqueKey>/<64 hex>.sqlite`
// (4 KiB even if the object never touches storage; 8 KiB once it has stored and deleted a key or
// set and deleted an alarm) and never deletes one, so the directory only grows. An object that
// holds nothing is indistinguishable from a new one (workerd creates workerd's tables, `_cf_KV`
// and `_cf_METADATA`, when they are first needed), so its file can go: a later request for it
// gets a fresh, equally empty file. scripts/serve.mjs runs `reclaim` before workerd starts and
// every RECLAIM_INTERVAL_S while it runs (docs/self-hosting.md).
//
// "Holds nothing" is read from the file itself, by the SQLite file format
// (https://www.sqlite.org/fileformat2.html), conservatively: anything not understood keeps the
// file. Node 20 has no SQLite binding, and the few fields needed are simple to read.
import { existsSync, linkSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";

/** An object's database: workerd names it after the object's id. Never `metadata.sqlite`. */
const OBJECT_FILE = /^[0-9a-f]{64}\.sqlite$/;
/** Where a file waits while it is checked: a name workerd never opens. */
const ASIDE = ".reclaim";
/** Larger files are kept unread (an object that held this much holds something, or is odd). */
const MAX_BYTES = 64 << 20;
/** workerd's alarm row with no alarm set (`_cf_METADATA`, key 1, value NULL), as a table leaf
 * cell: payload 3 bytes, rowid 1, record header of 3 bytes, two NULLs (the INTEGER PRIMARY KEY
 * column is the rowid and is stored as NULL). workerd's getAlarm() reads this row, a missing row
 * and a missing table alike as "no alarm" (src/workerd/util/sqlite-metadata.c++), and
 * deleteAlarm() (and a fired alarm) leaves it: the rooms' and PeerJS ids' objects end so. */
const NO_ALARM_CELL = Buffer.from([3, 1, 3, 0, 0]);

/** A varint (big-endian, 7 bits a byte, 8 bits in the ninth) at `pos`: [value, next pos]. */
function varint(buf, pos) {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const b = buf[pos + i];
    if (b === undefined) throw new Error("varint past the end");
    if (i === 8) return [v * 256 + b, pos + 9];
    v = v * 128 + (b & 0x7f);
    if (b < 0x80) return [v, pos + i + 1];
  }
}

/** The values of a record (the payload of a cell), for the serial types a schema row uses. */
function record(buf, start, end) {
  const [headerSize, first] = varint(buf, start);
  const types = [];
  for (let pos = first; pos < start + headerSize;) {
    let t;
    [t, pos] = varint(buf, pos);
    types.push(t);
  }
  const values = [];
  let pos = start + headerSize;
  for (const t of types) {
    const len = t >= 12 ? (t - 12) >> 1 : [0, 1, 2, 3, 4, 6, 8, 8, 0, 0][t];
    if (len === undefined || pos + len > end) throw new Error("bad record");
    if (t === 0) values.push(null);
    else if (t === 8 || t === 9) values.push(t - 8);
    else if (t <= 6) values.push(len <= 6 ? buf.readIntBE(pos, len) : Number(buf.readBigInt64BE(pos)));
    else if (t >= 13 && t % 2) values.push(buf.toString("utf8", pos, pos + len));
    else values.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  return values;
}

/**
 * Why the SQLite database in `buf` (a whole file) must be kept, or null if it holds nothing:
 * no user version or application id; the schema (page 1) a leaf table page naming only workerd's
 * `_cf_` tables; every other page a free-list page or a table or index b-tree leaf with no
 * cells, except workerd's "no alarm" row in `_cf_METADATA`. Interior pages (a tree with rows),
 * overflow pages, pointer-map pages (auto-vacuum), an app's own tables (its schema is state: a
 * migration may have made them once) and anything that does not parse mean "keep".
 */
export function keepReason(buf) {
  try {
    if (buf.length < 512 || buf.toString("latin1", 0, 16) !== "SQLite format 3\0") return "not a SQLite file";
    const raw = buf.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || pageSize & (pageSize - 1)) return "bad page size";
    if (![1, 2].includes(buf[18]) || ![1, 2].includes(buf[19])) return "unknown file format version";
    const usable = pageSize - buf[20];
    const pages = buf.length / pageSize;
    // The header's page count is valid when its change counter matches "version valid for".
    if (!Number.isInteger(pages) || buf.readUInt32BE(24) !== buf.readUInt32BE(92) || buf.readUInt32BE(28) !== pages) {
      return "page count does not match the file size";
    }
    if (buf.readUInt32BE(52) !== 0) return "auto-vacuum (pointer-map pages)";
    if (buf.readUInt32BE(60) !== 0 || buf.readUInt32BE(68) !== 0) return "user version or application id set";

    // The free list: trunk pages, each listing leaf pages; both hold no data.
    const free = new Set();
    for (let trunk = buf.readUInt32BE(32); trunk !== 0;) {
      if (trunk < 2 || trunk > pages || free.has(trunk)) return "bad free list";
      free.add(trunk);
      const at = (trunk - 1) * pageSize;
      const n = buf.readUInt32BE(at + 4);
      if (n > usable / 4 - 2) return "bad free list";
      for (let i = 0; i < n; i++) {
        const leaf = buf.readUInt32BE(at + 8 + 4 * i);
        if (leaf < 2 || leaf > pages || free.has(leaf)) return "bad free list";
        free.add(leaf);
      }
      trunk = buf.readUInt32BE(at);
    }
    if (free.size !== buf.readUInt32BE(36)) return "free list count does not match";

    // Page 1: the schema, after the 100-byte file header. Its rows describe tables, not data.
    if (buf[100] !== 0x0d) return "schema is not a single leaf page";
    let metadataRoot = 0;
    for (let i = 0, cells = buf.readUInt16BE(103); i < cells; i++) {
      const cell = buf.readUInt16BE(108 + 2 * i);
      if (cell >= usable) return "bad schema cell";
      const [size, afterSize] = varint(buf, cell);
      const [, payload] = varint(buf, afterSize); // the rowid
      if (size > usable - 35 || payload + size > pageSize) return "schema row overflows";
      const [type, name, , rootPage] = record(buf, payload, payload + size);
      if (typeof name !== "string" || !/^(sqlite_autoindex_)?_cf_/.test(name)) return `a table of the app's own (${name})`;
      if (type === "table" && name === "_cf_METADATA") metadataRoot = rootPage;
    }

    for (let p = 2; p <= pages; p++) {
      if (free.has(p)) continue;
      const at = (p - 1) * pageSize;
      const type = buf[at];
      if (type !== 0x0d && type !== 0x0a) return `page ${p} is not a b-tree leaf (type ${type})`;
      const cells = buf.readUInt16BE(at + 3);
      if (cells === 0) continue;
      const cell = buf.readUInt16BE(at + 8);
      const noAlarm = p === metadataRoot && type === 0x0d && cells === 1 && cell + NO_ALARM_CELL.length <= usable &&
        buf.subarray(at + cell, at + cell + NO_ALARM_CELL.length).equals(NO_ALARM_CELL);
      if (!noAlarm) return `page ${p} holds ${cells} cell(s)`;
    }
    return null;
  } catch (err) {
    return `does not parse (${err.message})`;
  }
}

/** Why the file at `path` must be kept, or null if it holds nothing. */
export function fileKeepReason(path) {
  const size = statSync(path).size;
  return size > MAX_BYTES ? "larger than 64 MiB" : keepReason(readFileSync(path));
}

/** Whether this system lists open files in /proc (Linux): without it nothing is reclaimed. */
export const canReclaim = () => existsSync("/proc/self/fd");

/**
 * The names (basenames) of the files that some process has open, from /proc/<pid>/fd; null where
 * there is no /proc. Processes we may not read are other users': workerd runs as this one.
 */
export function openFileNames() {
  if (!canReclaim()) return null;
  const names = new Set();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let fds;
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      try { names.add(readlinkSync(`/proc/${pid}/fd/${fd}`).split("/").pop()); } catch {}
    }
  }
  return names;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A write-ahead log, its shared memory, a rollback journal: an open database has the first
 * two, and a log or journal may hold writes not yet in the file. */
const BESIDE = ["-wal", "-shm", "-journal"];
/** Files found holding something, by path, with what they were (inode, size, mtime) then: an
 * unchanged file is not read again by the next pass (kept files are most of a large STATE_DIR). */
let kept = new Map();

/**
 * One pass over `stateDir`: deletes the files of objects that hold nothing; resolves to
 * { files, bytes } deleted. `log` gets the rare conflict (below). Safe while workerd runs:
 *
 * 1. a file with no -wal, -shm or -journal beside it (so closed) that holds nothing is renamed
 *    aside, to `<name>.reclaim`, a name workerd never opens (rename is atomic). From then on
 *    workerd cannot open it: a request for that object opens the original path and finds
 *    nothing there, so workerd creates a fresh database, as empty as the one set aside, and
 *    nothing is lost;
 * 2. after `settleMs` (an open() that had found the file just before the rename has certainly
 *    returned by then, and its descriptor is listed), /proc says whether any process has the
 *    set-aside file open (a descriptor follows the rename, so the link names `<name>.reclaim`).
 *    workerd could have opened it between our look and the rename;
 * 3. a file nobody has open and that still holds nothing is unlinked; any other is renamed
 *    back, by a hard link that fails rather than replace a file created at the original path
 *    meanwhile. That needs workerd to have opened the file in the instant before the rename,
 *    then closed it and started the object again (it closes an idle object's database after
 *    about 10 s), and then the file stays set aside and is logged, never deleted.
 *
 * Files left set aside by a pass that was cut short are decided the same way by the next one.
 */
export async function reclaim(stateDir, { settleMs = 1000, log = console.error } = {}) {
  const done = { files: 0, bytes: 0 };
  if (!existsSync(stateDir) || !canReclaim()) return done;
  const aside = [];
  const seen = new Map();
  for (const ns of readdirSync(stateDir, { withFileTypes: true })) {
    if (!ns.isDirectory()) continue;
    const dir = join(stateDir, ns.name);
    const names = new Set(readdirSync(dir));
    for (const name of names) {
      const path = join(dir, name);
      try {
        if (name.endsWith(ASIDE) && OBJECT_FILE.test(name.slice(0, -ASIDE.length))) {
          aside.push(path.slice(0, -ASIDE.length));
          continue;
        }
        if (!OBJECT_FILE.test(name) || BESIDE.some((s) => names.has(name + s))) continue;
        const { ino, size, mtimeMs } = statSync(path);
        const version = `${ino}:${size}:${mtimeMs}`;
        if (kept.get(path) === version || fileKeepReason(path) !== null) {
          seen.set(path, version);
        } else if (!BESIDE.some((s) => existsSync(path + s))) { // not opened since the listing
          renameSync(path, path + ASIDE);
          aside.push(path);
        }
      } catch (err) {
        if (err.code !== "ENOENT") throw err; // gone meanwhile (another pass, or a cleanup)
      }
    }
  }
  kept = seen;
  if (!aside.length) return done;
  await sleep(settleMs);
  const open = openFileNames();
  for (const path of aside) {
    const set = path + ASIDE;
    const size = statSync(set).size;
    if (open && !open.has(set.split("/").pop()) && fileKeepReason(set) === null) {
      unlinkSync(set);
      done.files++;
      done.bytes += size;
      continue;
    }
    try {
      linkSync(set, path);
      unlinkSync(set);
    } catch (err) {
      // A file system without hard links: rename, after a look (not atomic, but the window is
      // the one described above).
      if (err.code !== "EEXIST" && !existsSync(path)) renameSync(set, path);
      else log(`reclaim: ${set} was opened while set aside and ${path} exists again: both kept, for a person to look at`);
    }
  }
  return done;
}
