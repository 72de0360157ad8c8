/**
 * The peers durastream is compared with, behind one small interface: better-sqlite3 12 (WAL,
 * synchronous=FULL), classic-level (sync: true) and lmdb (overlappingSync: false). Each ack
 * means the data was fsync'd, as for durastream on LocalStore. Each peer is driven the way its
 * own documentation recommends for durable writes (the settings above), with the same records.
 *
 * They live in their own package, bench/peers (with its own package-lock.json), so neither CI
 * nor a user of the library installs them: `ensurePeersInstalled()` runs `npm ci --prefix
 * bench/peers` the first time the bench needs them (better-sqlite3 compiles from source here,
 * about 2 minutes). They are loaded with a require rooted in bench/peers, so nothing in the root
 * package (and no type check) depends on them. A peer that fails to install or load is
 * reported as unavailable, with the reason; the rest of the suite runs.
 *
 *   append(bodies)   one durable write of 1 record (a put) or of many (one transaction/batch);
 *                    keys are ascending sequence numbers assigned at the call
 *   scan(visit)      every record in key order
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { peersDir } from "../lib/paths.js";

export const PEER_NAMES = ["sqlite", "level", "lmdb"] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** The npm package behind each peer, and the major version the bench expects. */
const PACKAGES: Record<PeerName, { pkg: string; major: number | undefined }> = {
  sqlite: { pkg: "better-sqlite3", major: 12 }, // 13 crashes on Node 20
  level: { pkg: "classic-level", major: undefined },
  lmdb: { pkg: "lmdb", major: undefined },
};

export const PEER_TITLES: Record<PeerName, string> = {
  sqlite: "better-sqlite3 (WAL, synchronous=FULL)",
  level: "classic-level (sync: true)",
  lmdb: "lmdb (overlappingSync: false)",
};

export interface PeerDb {
  append(bodies: readonly Uint8Array[]): Promise<void>;
  /** Visits every record's body in key order; returns how many there were. */
  scan(visit: (body: Uint8Array) => void): Promise<number>;
  close(): Promise<void>;
}

/** The reason given for peers a run does not include (they are then left out of the report). */
export const NOT_IN_RUN = "not in this run";

export type PeerStatus = { available: true; version: string } | { available: false; reason: string };

const requirePeer = (): NodeJS.Require => createRequire(path.join(peersDir(), "package.json"));

/** Installs bench/peers with `npm ci` when its node_modules is missing. Returns why it failed, if it did. */
export function ensurePeersInstalled(log: (line: string) => void): string | undefined {
  const dir = peersDir();
  if (existsSync(path.join(dir, "node_modules"))) return undefined;
  log(`installing the peers: npm ci --prefix bench/peers (better-sqlite3 compiles from source, about 2 minutes)`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["ci", "--prefix", dir, "--no-audit", "--no-fund"], { stdio: ["ignore", 2, 2] });
  if (result.status === 0) return undefined;
  rmSync(path.join(dir, "node_modules"), { recursive: true, force: true }); // retry next time rather than half-installed
  return `npm ci --prefix bench/peers failed (${result.error?.message ?? `exit ${result.status}`})`;
}

/** Loads each peer and runs one append and one scan in a temp dir, so a broken native module shows up before the run. */
export async function checkPeers(): Promise<Record<PeerName, PeerStatus>> {
  const out = {} as Record<PeerName, PeerStatus>;
  for (const name of PEER_NAMES) out[name] = await checkPeer(name);
  return out;
}

async function checkPeer(name: PeerName): Promise<PeerStatus> {
  const { pkg, major } = PACKAGES[name];
  const dir = mkdtempSync(path.join(tmpdir(), `durastream-peer-check-${name}-`));
  try {
    const version = (JSON.parse(readFileSync(path.join(peersDir(), "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
    if (major !== undefined && Number(version.split(".")[0]) !== major) return { available: false, reason: `${pkg} ${version} installed, the bench needs ${major}.x` };
    const db = await openPeer(name, dir);
    await db.append([Buffer.from("check")]);
    const count = await db.scan(() => undefined);
    await db.close();
    if (count !== 1) return { available: false, reason: `${pkg} smoke test read ${count} records, wrote 1` };
    return { available: true, version: `${pkg} ${version}` };
  } catch (error) {
    return { available: false, reason: `${pkg}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function openPeer(name: PeerName, dir: string): Promise<PeerDb> {
  if (name === "sqlite") return Promise.resolve(openSqlite(dir));
  if (name === "level") return openLevel(dir);
  return Promise.resolve(openLmdb(dir));
}

// -------------------------------------------------------------------------------------------------
// better-sqlite3: synchronous API; a commit's fsync blocks the event loop, so concurrent callers
// cannot share one (the baseline brief measured conc64 at the serial rate).
// -------------------------------------------------------------------------------------------------

interface SqliteStatement {
  run(...values: unknown[]): unknown;
  raw(on: boolean): SqliteStatement;
  iterate(): IterableIterator<unknown[]>;
}
interface SqliteDatabase {
  pragma(text: string): unknown;
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  close(): void;
}

function openSqlite(dir: string): PeerDb {
  const Database = requirePeer()("better-sqlite3") as new (file: string) => SqliteDatabase;
  const db = new Database(path.join(dir, "log.sqlite"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, body BLOB NOT NULL); CREATE INDEX IF NOT EXISTS log_ts ON log (ts)");
  const insert = db.prepare("INSERT INTO log (seq, ts, body) VALUES (?, ?, ?)");
  const insertMany = db.transaction((first: number, ts: number, bodies: readonly Uint8Array[]) => {
    for (let i = 0; i < bodies.length; i++) insert.run(first + i, ts, bodies[i]);
  });
  let next = nextSqliteSeq(db);
  return {
    append(bodies) {
      const first = next;
      next += bodies.length;
      if (bodies.length === 1) insert.run(first, Date.now(), bodies[0]);
      else insertMany(first, Date.now(), bodies);
      // The commit already happened (synchronously); yield one event-loop turn so that timers
      // (the bench's window edges) can fire between commits, as they would in an application.
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
    scan(visit) {
      let count = 0;
      for (const row of db.prepare("SELECT seq, body FROM log ORDER BY seq").raw(true).iterate()) {
        visit(row[1] as Uint8Array);
        count++;
      }
      return Promise.resolve(count);
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}

function nextSqliteSeq(db: SqliteDatabase): number {
  for (const row of db.prepare("SELECT COALESCE(MAX(seq) + 1, 0) FROM log").raw(true).iterate()) return Number(row[0]);
  return 0;
}

// -------------------------------------------------------------------------------------------------
// classic-level (LevelDB): puts and batches with { sync: true }; 8-byte big-endian keys.
// -------------------------------------------------------------------------------------------------

interface LevelIterator {
  nextv(size: number): Promise<[Uint8Array, Uint8Array][]>;
  close(): Promise<void>;
}
interface LevelDatabase {
  open(): Promise<void>;
  put(key: Uint8Array, value: Uint8Array, options: { sync: boolean }): Promise<void>;
  batch(ops: { type: "put"; key: Uint8Array; value: Uint8Array }[], options: { sync: boolean }): Promise<void>;
  iterator(options?: Record<string, unknown>): LevelIterator;
  close(): Promise<void>;
}

async function openLevel(dir: string): Promise<PeerDb> {
  const { ClassicLevel } = requirePeer()("classic-level") as { ClassicLevel: new (dir: string, options: Record<string, unknown>) => LevelDatabase };
  const db = new ClassicLevel(path.join(dir, "level"), { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  let next = await nextLevelSeq(db);
  const key = (seq: number) => {
    const out = Buffer.allocUnsafe(8);
    out.writeBigUInt64BE(BigInt(seq));
    return out;
  };
  return {
    append(bodies) {
      const first = next;
      next += bodies.length;
      if (bodies.length === 1) return db.put(key(first), bodies[0]!, { sync: true });
      return db.batch(bodies.map((value, i) => ({ type: "put" as const, key: key(first + i), value })), { sync: true });
    },
    async scan(visit) {
      const iterator = db.iterator();
      let count = 0;
      try {
        for (;;) {
          const entries = await iterator.nextv(1000);
          if (entries.length === 0) return count;
          for (const entry of entries) visit(entry[1]);
          count += entries.length;
        }
      } finally {
        await iterator.close();
      }
    },
    close: () => db.close(),
  };
}

async function nextLevelSeq(db: LevelDatabase): Promise<number> {
  const iterator = db.iterator({ reverse: true, limit: 1, values: false });
  try {
    const [last] = await iterator.nextv(1);
    return last === undefined ? 0 : Number(Buffer.from(last[0]).readBigUInt64BE(0)) + 1;
  } finally {
    await iterator.close();
  }
}

// -------------------------------------------------------------------------------------------------
// lmdb: with overlappingSync false a put's promise resolves once its transaction is synced; puts
// issued in one event turn share a transaction, so a batch is 100 puts in one turn.
// -------------------------------------------------------------------------------------------------

interface LmdbDatabase {
  put(key: number, value: Uint8Array): Promise<boolean>;
  getRange(options: { start?: number; reverse?: boolean; limit?: number }): Iterable<{ key: number; value: Uint8Array }>;
  close(): Promise<void>;
}

function openLmdb(dir: string): PeerDb {
  const { open } = requirePeer()("lmdb") as { open: (options: Record<string, unknown>) => LmdbDatabase };
  const db = open({ path: path.join(dir, "lmdb"), overlappingSync: false, keyEncoding: "uint32", encoding: "binary", compression: false });
  let next = 0;
  for (const { key } of db.getRange({ reverse: true, limit: 1 })) next = key + 1;
  return {
    async append(bodies) {
      let last: Promise<boolean> | undefined;
      for (const body of bodies) last = db.put(next++, body);
      await last;
    },
    scan(visit) {
      let count = 0;
      for (const { value } of db.getRange({ start: 0 })) {
        visit(value);
        count++;
      }
      return Promise.resolve(count);
    },
    close: () => db.close(),
  };
}
