/**
 * LocalStore: the conformance suite, plus what only a filesystem store must prove (decision page
 * docs/decisions/0001-local-store.md): keys cannot escape the root, the per-key lock holds across
 * processes, a SIGKILL at any moment leaves only complete objects, and crash leftovers (temp
 * files, stale locks) are ignored and cleaned.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { runStoreSuite } from "./conformance.js";
import { isBodyForKey, sizeForKey } from "./fixtures/local-content.js";
import { LOCAL_HOST_TAG, LOCAL_LOCK_DIR, LOCAL_RESERVED_PREFIX, LOCAL_TEMP_DIR, LocalStore, etagOf, etagOfInTurns } from "../../src/store/local-store.js";
import { LOCAL_ETAG_PIECE_BYTES } from "../../src/limits.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
/** Above pid_max on Linux (at most 2^22): process.kill(pid, 0) says ESRCH, like a dead process. */
const DEAD_PID = 99_999_999;

async function tempRoot(label: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `durastream-local-${label}-`));
}

async function collect(store: ObjectStore, prefix: string, startAfter?: string): Promise<string[]> {
  const keys = [];
  for await (const entry of store.list(prefix, startAfter === undefined ? {} : { startAfter })) keys.push(entry.key);
  return keys;
}

/** Every file and directory under `dir`, as paths relative to it. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => []);
  return entries.map(String).sort();
}

runStoreSuite("LocalStore", async () => {
  const root = await tempRoot("conformance");
  return { store: new LocalStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe("LocalStore etags of large bodies", () => {
  it("are hashed a piece per turn of the event loop, to the etag head() and a one-shot hash give", async () => {
    const body = new Uint8Array(3 * LOCAL_ETAG_PIECE_BYTES + 12_345);
    for (let i = 0; i < body.length; i += 97) body[i] = i & 0xff;
    let done = false;
    const hashing = etagOfInTurns(body).then((etag) => {
      done = true;
      return etag;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false, "the whole body was hashed in one turn");
    assert.equal(await hashing, etagOf(body));
    const root = await tempRoot("etag");
    const store = new LocalStore(root);
    try {
      const { etag } = await store.put("big", body, { ifNoneMatch: "*" });
      assert.equal(etag, etagOf(body));
      assert.equal((await store.head("big")).etag, etag);
      await store.put("big", new Uint8Array(10), { ifMatch: etag }); // the etag put returned is the one a conditional put checks
    } finally {
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("LocalStore keys", () => {
  let outer: string;
  let root: string;
  let store: LocalStore;
  before(async () => {
    outer = await tempRoot("keys");
    root = path.join(outer, "root");
    store = new LocalStore(root);
    await store.put("sentinel", Buffer.from("the root exists, so an escape would have somewhere to go"));
  });
  after(() => rm(outer, { recursive: true, force: true }));

  const invalid: [string, string][] = [
    ["absolute path", "/etc/passwd"],
    ["only a slash", "/"],
    ["parent segment first", "../escape"],
    ["parent segment alone", ".."],
    ["parent segment in the middle", "a/../../escape"],
    ["parent segment last", "a/.."],
    ["dot segment", "./a"],
    ["dot segment in the middle", "a/./b"],
    ["dot alone", "."],
    ["empty segment", "a//b"],
    ["trailing slash", "a/"],
    ["backslash", "a\\b"],
    ["backslash escape", "..\\escape"],
    ["NUL", "a\0b"],
    ["empty key", ""],
    ["temp directory", `${LOCAL_TEMP_DIR}/x`],
    ["temp directory itself", LOCAL_TEMP_DIR],
    ["lock directory", `${LOCAL_LOCK_DIR}/0000000000000000.lock`],
    ["any reserved root name", ".durastream-future"],
    ["segment longer than a file name", `a/${"x".repeat(256)}`],
    ["key longer than 1024 bytes", Array.from({ length: 6 }, () => "y".repeat(200)).join("/")],
    ["lone surrogate", "a/\uD800b"],
  ];

  for (const [label, key] of invalid) {
    it(`refuses ${label} on every method (${JSON.stringify(key.slice(0, 40))})`, async () => {
      const code = { code: "invalid_key" };
      await assert.rejects(store.put(key, Buffer.from("x")), code);
      await assert.rejects(store.put(key, Buffer.from("x"), { ifNoneMatch: "*" }), code);
      await assert.rejects(store.put(key, Buffer.from("x"), { ifMatch: "e" }), code);
      await assert.rejects(store.get(key), code);
      await assert.rejects(store.get(key, { offset: 0, length: 1 }), code);
      await assert.rejects(store.head(key), code);
      await assert.rejects(store.delete(key), code);
    });
  }

  it("creates nothing outside the root, and no object inside it, for refused keys", async () => {
    assert.deepEqual(await readdir(outer), ["root"]);
    const objects = (await tree(root)).filter((p) => !p.startsWith(".durastream-"));
    assert.deepEqual(objects, ["sentinel"]);
  });

  it("accepts keys that only look odd, and stores them under the root", async () => {
    const keys = ["..a", "a..", ".a", "a/.b", "...", ".durastream", "durastream-tmp", "a2/.durastream-tmp/x", "sp ace/é"];
    for (const key of keys) await store.put(key, Buffer.from(key));
    for (const key of keys) assert.equal(Buffer.from(await store.get(key)).toString(), key);
    assert.deepEqual(await collect(store, ""), [...keys, "sentinel"].sort());
    assert.deepEqual(await readdir(outer), ["root"]);
  });

  it("refuses a key under an object ('a' then 'a/b'), on plain and create-only puts", async () => {
    await store.put("conflict/file", Buffer.from("object"));
    await assert.rejects(store.put("conflict/file/below", Buffer.from("x")), {
      code: "invalid_key",
      message: /directory of other keys/,
    });
    await assert.rejects(store.put("conflict/file/below", Buffer.from("x"), { ifNoneMatch: "*" }), { code: "invalid_key" });
    await assert.rejects(store.put("conflict/file/deeper/still", Buffer.from("x")), { code: "invalid_key" });
    assert.equal(Buffer.from(await store.get("conflict/file")).toString(), "object");
  });

  it("refuses an object where a directory of keys is ('a/b' then 'a'); get, head and delete see no object", async () => {
    await store.put("conflict/dir/x", Buffer.from("inside"));
    await assert.rejects(store.put("conflict/dir", Buffer.from("x")), {
      code: "invalid_key",
      message: /directory holding other keys/,
    });
    await assert.rejects(store.put("conflict/dir", Buffer.from("x"), { ifNoneMatch: "*" }), { code: "invalid_key" });
    await assert.rejects(store.put("conflict/dir", Buffer.from("x"), { ifMatch: "e" }), { code: "precondition_failed" });
    await assert.rejects(store.get("conflict/dir"), { code: "not_found" });
    await assert.rejects(store.get("conflict/dir", { offset: 0, length: 4 }), { code: "not_found" });
    await assert.rejects(store.head("conflict/dir"), { code: "not_found" });
    await store.delete("conflict/dir");
    assert.equal(Buffer.from(await store.get("conflict/dir/x")).toString(), "inside");
  });

  it("neither lists nor reads through symlinks placed in the root", async () => {
    const outside = path.join(outer, "outside.txt");
    await writeFile(outside, "secret");
    await mkdir(path.join(root, "links"), { recursive: true });
    await symlink(outside, path.join(root, "links", "file"));
    await symlink(outer, path.join(root, "links", "dir"));
    await store.put("links/real", Buffer.from("real"));
    await assert.rejects(store.get("links/file"), { code: "not_found" });
    await assert.rejects(store.get("links/file", { offset: 0, length: 2 }), { code: "not_found" });
    assert.deepEqual(await collect(store, "links/"), ["links/real"]);
  });

  it("refuses malformed conditions and bodies", async () => {
    await assert.rejects(store.put("cond", Buffer.from("x"), { ifMatch: "" }), { code: "validation" });
    await assert.rejects(store.put("cond", Buffer.from("x"), { ifNoneMatch: "etag" } as never), { code: "validation" });
    await assert.rejects(store.put("cond", "text" as never), { code: "validation" });
  });
});

describe("LocalStore list order", () => {
  let root: string;
  let store: LocalStore;
  before(async () => {
    root = await tempRoot("order");
    store = new LocalStore(root);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("orders keys globally when names hold characters below '/' ('c-d' < 'c/1' < 'c0')", async () => {
    const keys = ["o/c0", "o/c/2", "o/c-d", "o/b", "o/c.e", "o/c/1", "o/c/~"];
    for (const key of keys) await store.put(key, Buffer.from(key));
    const sorted = ["o/b", "o/c-d", "o/c.e", "o/c/1", "o/c/2", "o/c/~", "o/c0"];
    assert.deepEqual(await collect(store, "o/"), sorted);
    assert.deepEqual(await collect(store, "o/c"), sorted.slice(1));
    assert.deepEqual(await collect(store, "o/c/"), ["o/c/1", "o/c/2", "o/c/~"]);
    assert.deepEqual(await collect(store, "o/", "o/c."), sorted.slice(2));
    assert.deepEqual(await collect(store, "o/", "o/c/1"), sorted.slice(4));
    assert.deepEqual(await collect(store, "o/", "o/c/~"), ["o/c0"]);
    assert.deepEqual(await collect(store, "o/", "o/c/~~"), ["o/c0"]);
    assert.deepEqual(await collect(store, "o/c/1"), ["o/c/1"]);
  });

  it("yields nothing for prefixes no valid key can have", async () => {
    for (const prefix of ["../", "/o", "o//", "./o", "o/../", `${LOCAL_TEMP_DIR}/`, "o\\", "\0"]) {
      assert.deepEqual(await collect(store, prefix), [], prefix);
    }
  });

  it("lists exactly what MemoryStore lists, for random keys, prefixes and startAfter", async () => {
    const unit = fc.constantFrom("a", "b", "-", ".", "0", "~", "é");
    const segment = fc.string({ unit, minLength: 1, maxLength: 3 }).filter((s) => s !== "." && s !== "..");
    const key = fc.array(segment, { minLength: 1, maxLength: 3 }).map((segments) => segments.join("/"));
    const probe = fc.string({ unit: fc.oneof(unit, fc.constant("/")), maxLength: 5 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(key, { maxLength: 10 }), probe, fc.option(probe), async (keys, prefix, startAfter) => {
        const base = `prop${run++}/`;
        const memory = new MemoryStore();
        for (const k of withoutPrefixConflicts(keys)) {
          await store.put(base + k, Buffer.from(k));
          await memory.put(base + k, Buffer.from(k));
        }
        const after = startAfter === null ? undefined : base + startAfter;
        assert.deepEqual(await collect(store, base + prefix, after), await collect(memory, base + prefix, after));
        assert.deepEqual(await collect(store, base, after), await collect(memory, base, after));
      }),
      { numRuns: 40, seed: 1126 },
    );
  });
});

/** Drops keys that would be a directory of an earlier key or have one as a directory. */
function withoutPrefixConflicts(keys: string[]): string[] {
  const kept: string[] = [];
  for (const key of keys) {
    if (!kept.some((k) => key.startsWith(`${k}/`) || k.startsWith(`${key}/`))) kept.push(key);
  }
  return kept;
}

describe("LocalStore leftovers and stale locks", () => {
  let root: string;
  before(async () => {
    root = await tempRoot("leftovers");
  });
  after(() => rm(root, { recursive: true, force: true }));

  const tempName = (tag: string, pid: number) => `${tag}-${pid}-0123456789abcdef.tmp`;
  const lockRecord = (fields: { pid?: number; host?: string; token?: string; acquiredAtMs?: number } = {}) =>
    JSON.stringify({ pid: process.pid, host: os.hostname(), token: "not-ours", acquiredAtMs: Date.now(), ...fields });

  it("ignores and removes temp files whose writer is gone, keeps a live writer's, ages out foreign ones", async () => {
    const store = new LocalStore(root, { sweepOnOpen: false });
    await store.put("kept/object", Buffer.from("object"));
    const tempDir = path.join(root, LOCAL_TEMP_DIR);
    const otherTag = LOCAL_HOST_TAG === "00000000" ? "00000001" : "00000000";
    const dead = tempName(LOCAL_HOST_TAG, DEAD_PID);
    const ownPidLeftover = tempName(LOCAL_HOST_TAG, process.pid);
    const liveWriter = tempName(LOCAL_HOST_TAG, process.ppid);
    const otherHost = tempName(otherTag, 1);
    const foreign = "partial-upload";
    for (const name of [dead, ownPidLeftover, liveWriter, otherHost, foreign]) await writeFile(path.join(tempDir, name), "half");
    assert.deepEqual(await collect(store, ""), ["kept/object"]);

    const fresh = await new LocalStore(root).whenSwept();
    assert.equal(fresh.tempFilesRemoved, 2);
    assert.deepEqual(await readdir(tempDir).then((n) => n.sort()), [foreign, liveWriter, otherHost].sort());

    const later = new LocalStore(root, { clock: () => Date.now() + 2 * 60_000 });
    assert.equal((await later.whenSwept()).tempFilesRemoved, 2);
    assert.deepEqual(await readdir(tempDir), [liveWriter], "a live writer's temp file is never removed");
    assert.equal(Buffer.from(await later.get("kept/object")).toString(), "object");
  });

  it("breaks a lock left by a dead pid at once, on a plain put, an ifMatch put and a delete", async () => {
    const store = new LocalStore(root, { sweepOnOpen: false, lockWaitMs: 5_000 });
    const { etag } = await store.put("dead/key", Buffer.from("v1"));
    const lock = store.lockPathFor("dead/key");
    const plant = () => writeFile(lock, lockRecord({ pid: DEAD_PID }));
    await plant();
    const second = await store.put("dead/key", Buffer.from("v2"), { ifMatch: etag });
    await plant();
    await store.put("dead/key", Buffer.from("v3"));
    assert.equal(Buffer.from(await store.get("dead/key")).toString(), "v3");
    await plant();
    await store.delete("dead/key");
    await assert.rejects(store.get("dead/key"), { code: "not_found" });
    assert.ok(second.etag.length > 0);
    assert.deepEqual((await readdir(path.dirname(lock))).filter((n) => n.includes(path.basename(lock))), []);
  });

  it("waits for a live lock, then fails retryable and not applied, leaving the object as it was", async () => {
    const store = new LocalStore(root, { sweepOnOpen: false, lockWaitMs: 100 });
    await store.put("live/key", Buffer.from("before"));
    const lock = store.lockPathFor("live/key");
    for (const record of [lockRecord({ pid: process.ppid }), lockRecord({ pid: 1, host: "another-host" }), ""]) {
      await writeFile(lock, record);
      await assert.rejects(store.put("live/key", Buffer.from("after")), {
        code: "storage",
        outcome: "not_applied",
        retryable: true,
      });
      await assert.rejects(store.delete("live/key"), { code: "storage", outcome: "not_applied" });
      assert.equal(Buffer.from(await store.get("live/key")).toString(), "before");
    }
    await rm(lock);
  });

  it("breaks a lock older than lockStaleMs even when its owner looks alive, or when it is unreadable", async () => {
    const store = new LocalStore(root, { sweepOnOpen: false, lockWaitMs: 5_000, lockStaleMs: 1_000 });
    await store.put("aged/key", Buffer.from("v0"));
    const lock = store.lockPathFor("aged/key");
    const old = Date.now() - 10_000;
    const agedRecords = [lockRecord({ pid: process.ppid, acquiredAtMs: old }), lockRecord({ host: "other", acquiredAtMs: old })];
    for (const record of agedRecords) {
      await writeFile(lock, record);
      await store.put("aged/key", Buffer.from("v1"));
    }
    await writeFile(lock, "");
    const future = new LocalStore(root, { sweepOnOpen: false, lockStaleMs: 1_000, clock: () => Date.now() + 10_000 });
    await future.put("aged/key", Buffer.from("v2"));
    assert.equal(Buffer.from(await store.get("aged/key")).toString(), "v2");
  });

  it("breaks a lock that carries this process's pid but a token it does not hold (pid reuse)", async () => {
    const store = new LocalStore(root, { sweepOnOpen: false, lockWaitMs: 5_000 });
    await store.put("reuse/key", Buffer.from("v0"));
    await writeFile(store.lockPathFor("reuse/key"), lockRecord({ pid: process.pid, token: "from-a-previous-life" }));
    await store.put("reuse/key", Buffer.from("v1"));
    assert.equal(Buffer.from(await store.get("reuse/key")).toString(), "v1");
  });

  it("recovers when a breaker also crashed (stale lock plus stale break lock), and the sweep cleans both", async () => {
    const store = new LocalStore(root, { sweepOnOpen: false, lockWaitMs: 5_000 });
    await store.put("broken/a", Buffer.from("v0"));
    await store.put("broken/b", Buffer.from("v0"));
    const a = store.lockPathFor("broken/a");
    await writeFile(a, lockRecord({ pid: DEAD_PID }));
    await writeFile(`${a}.break`, lockRecord({ pid: DEAD_PID }));
    await store.put("broken/a", Buffer.from("v1"));
    const b = store.lockPathFor("broken/b");
    await writeFile(b, lockRecord({ pid: DEAD_PID }));
    await writeFile(`${b}.break`, lockRecord({ pid: DEAD_PID }));
    const report = await new LocalStore(root).whenSwept();
    assert.ok(report.locksBroken >= 1);
    assert.deepEqual(await readdir(path.dirname(a)), []);
  });

  it("excludes two LocalStores on one root in one process (8 CASes, one winner)", async () => {
    const one = new LocalStore(root, { sweepOnOpen: false });
    const two = new LocalStore(root, { sweepOnOpen: false });
    const { etag } = await one.put("twin/key", Buffer.from("base"));
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? one : two).put("twin/key", Buffer.from(`cas ${i}`), { ifMatch: etag })),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  });
});

// -------------------------------------------------------------------------------------------------
// Child processes

interface Fixture {
  process: ChildProcess;
  /** Complete lines only: a line cut by SIGKILL (no "\n") is never counted. */
  lines: string[];
  ready: Promise<void>;
  /** Resolves when the child has exited and stdout has closed (every complete line is in `lines`). */
  done: Promise<void>;
  go(): void;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill("SIGKILL");
});

function startFixture(file: string, args: string[]): Fixture {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(FIXTURES, file), ...args], {
    cwd: REPO,
    stdio: ["pipe", "pipe", "pipe"],
  });
  running.add(child);
  const lines: string[] = [];
  let pending = "";
  let stderr = "";
  let markReady = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    child.on("exit", (code, signal) => reject(new Error(`${file} exited (${code ?? signal}) before ready: ${stderr}`)));
  });
  ready.catch(() => undefined);
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout?.on("data", (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) {
      if (line === "ready") markReady();
      else lines.push(line);
    }
  });
  const stdoutClosed = new Promise<void>((resolve) => child.stdout?.on("close", () => resolve()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const done = Promise.all([stdoutClosed, exited]).then(() => undefined);
  void done.then(() => running.delete(child));
  return { process: child, lines, ready, done, go: () => child.stdin?.write("go\n") };
}

async function resultOf(fixture: Fixture): Promise<unknown> {
  await fixture.done;
  assert.equal(fixture.process.exitCode, 0, `child failed: ${fixture.lines.join("\n")}`);
  const last = fixture.lines.at(-1);
  assert.ok(last !== undefined, "child printed no result");
  return JSON.parse(last);
}

/** mulberry32: a tiny seeded PRNG, so that the kill moments are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe("LocalStore across processes", () => {
  let root: string;
  before(async () => {
    root = await tempRoot("processes");
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("loses no update when 4 processes compare-and-swap one counter", { timeout: 30_000 }, async () => {
    const increments = 25;
    const store = new LocalStore(root);
    await store.put("counter", Buffer.from(JSON.stringify({ n: 0 })));
    const workers = Array.from({ length: 4 }, () =>
      startFixture("local-race-worker.ts", ["cas", root, "counter", String(increments)]),
    );
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const results = (await Promise.all(workers.map(resultOf))) as { values: number[]; conflicts: number }[];
    const written = results.flatMap((r) => r.values).sort((a, b) => a - b);
    const final = (JSON.parse(Buffer.from(await store.get("counter")).toString()) as { n: number }).n;
    assert.equal(written.length, 4 * increments);
    assert.equal(final, written.length, "the counter must equal the number of successful CASes");
    assert.deepEqual(written, Array.from({ length: written.length }, (_, i) => i + 1), "each value written exactly once");
    assert.ok(results.some((r) => r.conflicts > 0), "the workers never contended: the test proved nothing");
  });

  it("lets exactly one of 4 processes win each create-only put", { timeout: 60_000 }, async () => {
    const keys = 300;
    const store = new LocalStore(root);
    // On a busy 2-core machine one process can finish before the others start, and then nothing
    // raced: every round must be correct, and some round (of a bounded few) must have raced.
    let raced = false;
    for (let round = 0; round < 5 && !raced; round++) {
      const prefix = `race${round}/k`;
      const workers = Array.from({ length: 4 }, (_, id) => startFixture("local-race-worker.ts", ["create", root, prefix, String(keys), String(id)]));
      await Promise.all(workers.map((w) => w.ready));
      for (const w of workers) w.go();
      const results = (await Promise.all(workers.map(resultOf))) as { won: number[] }[];
      for (let k = 0; k < keys; k++) {
        const winners = results.flatMap((r, id) => (r.won.includes(k) ? [id] : []));
        assert.equal(winners.length, 1, `round ${round}, key ${k}: winners ${winners.join(",")}`);
        assert.equal(Buffer.from(await store.get(`${prefix}${k}`)).toString(), `worker ${winners[0]}`);
      }
      raced = results.filter((r) => r.won.length > 0).length > 1;
    }
    assert.ok(raced, "in five rounds one worker always won everything: no race happened");
  });

  it("keeps every acked object whole through 20 SIGKILLs at random moments", { timeout: 60_000 }, async (t) => {
    const rounds = 20;
    const random = seededRandom(20261126);
    const acked = new Set<string>();
    let leftoverTemps = 0;
    const startedMs = Date.now();
    let next = startFixture("local-writer.ts", [root, "0"]);
    for (let round = 0; round < rounds; round++) {
      const writer = next;
      await writer.ready;
      // Start the next child now, so that its load time overlaps this round's writing.
      if (round + 1 < rounds) next = startFixture("local-writer.ts", [root, String(round + 1)]);
      writer.go();
      await sleep(50 + Math.floor(random() * 350)); // the kill moment under test, not a synchronisation
      writer.process.kill("SIGKILL");
      await writer.done;
      for (const line of writer.lines) if (line.startsWith("ack ")) acked.add(line.slice(4));
      leftoverTemps += (await readdir(path.join(root, LOCAL_TEMP_DIR)).catch(() => [])).length;
    }
    t.diagnostic(`${acked.size} acked objects, ${leftoverTemps} temp files left by kills, writing took ${Date.now() - startedMs} ms`);
    assert.ok(acked.size > 0, "no put was ever acked: the test proved nothing");
    assert.ok(leftoverTemps > 0, "no kill landed in the middle of a put: the test proved nothing");

    const store = new LocalStore(root, { sweepOnOpen: false });
    for (const key of acked) assert.ok(isBodyForKey(key, await store.get(key)), `acked ${key} is not whole`);
    let listed = 0;
    let previous = "";
    for await (const { key, size } of store.list("")) {
      assert.ok(!key.startsWith(LOCAL_RESERVED_PREFIX), `LocalStore's own file ${key} was listed`);
      if (!key.startsWith("crash/")) continue; // the other tests' objects
      assert.ok(key > previous, `list out of order: ${previous} then ${key}`);
      assert.equal(size, sizeForKey(key), `listed ${key} has a partial size`);
      assert.ok(isBodyForKey(key, await store.get(key)), `listed ${key} is not whole`);
      previous = key;
      listed++;
    }
    assert.ok(listed >= acked.size);
    t.diagnostic(`${listed} listed objects verified at ${Date.now() - startedMs} ms`);

    const tempsBefore = (await readdir(path.join(root, LOCAL_TEMP_DIR))).length;
    const report = await new LocalStore(root).whenSwept();
    assert.equal(report.tempFilesRemoved, tempsBefore);
    assert.deepEqual(await readdir(path.join(root, LOCAL_TEMP_DIR)), []);
    assert.deepEqual(await readdir(path.join(root, LOCAL_LOCK_DIR)).catch(() => []), [], "stale locks were left");
  });
});
