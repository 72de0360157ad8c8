/**
 * Read-only logs following a writer in the same process, on one MemoryStore and one ManualClock,
 * so every poll happens exactly when a test advances the clock by `POLL_MS` (DESIGN 3.2; issue 6).
 *
 * The writer flushes an L0 SST whenever its memtable passes `l0SstBytes`, compacts four L0s into
 * a sorted run, and collects garbage after every flush and compaction with no grace period, so
 * WAL objects and SSTs a reader still counts on vanish under it: what a writer in another
 * process does to a reader that cannot pin anything. Readers see the store through a
 * CountingStore, so a test can tell that the race it stages really happened (a GET that found
 * nothing), and that a reader never wrote.
 *
 * Covered: live follow and checkTail; a next WAL object collected before the reader read it;
 * batches that reach the reader only through a manifest; a reader that missed more manifests
 * than the writer keeps; a catch-up scan whose SSTs are compacted away mid-read; a deleted (and
 * recreated) stream and a trim, each arriving as a WAL batch or only through a manifest; memory
 * over a long run; store requests per idle poll.
 */
import { MANIFEST_LIST_INTERVAL_MS } from "../../src/limits.js";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, MemoryStore, openLog, type Log, type LogOptions, type ReadRecord, type ReadSession, type Stream } from "../../src/index.js";
import { CountingStore, collect, seqTexts, type CallCounts } from "./reader-helpers.js";
import { mayBeWalFence } from "../../src/engine/wal-format.js";

const T0 = 1_700_000_000_000;
const POLL_MS = 10;
/** Small enough that a few appends make an L0 SST; the minimum the engine accepts is 1024. */
const L0_BYTES = 1024;
/**
 * Writer options for tests of what a reader does with the WAL batches it applies one by one
 * (deletions, trims): no L0 flush, so no batch reaches the reader only through a manifest.
 */
/** Writer L0 size for the long follow run: memtables count JS heap, several appends fit. */
const FOLLOW_L0_BYTES = 6 * 1024;
const BATCHES_STAY_IN_WAL: Partial<LogOptions> = { l0SstBytes: 1024 * 1024 };

interface Rig {
  store: MemoryStore;
  clock: ManualClock;
  writer: Log;
  /** The store as readers see it (counts their calls). */
  readerStore: CountingStore;
  openReader(options?: Partial<LogOptions>): Promise<Log>;
  /** One reader poll (and whatever background work of the writer falls due). */
  poll(): Promise<void>;
  /** The ids of the objects under `prefix` ("wal", "sst", "manifest") now in the store. */
  ids(prefix: string): Promise<number[]>;
  /** The WAL objects now in the store, with their sizes (0 for a fence). */
  walObjects(): Promise<{ id: number; size: number }[]>;
  close(): Promise<void>;
}

async function rig(writerOptions: Partial<LogOptions> = {}): Promise<Rig> {
  const store = new MemoryStore();
  const clock = new ManualClock({ startMs: T0 });
  const writer = await openLog({ store, clock, flushIntervalMs: 0, l0SstBytes: L0_BYTES, gcIntervalMs: 0, gcGraceMs: 0, ...writerOptions });
  const readerStore = new CountingStore(store);
  const readers: Log[] = [];
  return {
    store,
    clock,
    writer,
    readerStore,
    openReader: async (options = {}) => {
      const reader = await openLog({ store: readerStore, clock, readOnly: true, pollIntervalMs: POLL_MS, ...options });
      readers.push(reader);
      return reader;
    },
    poll: () => clock.advance(POLL_MS),
    ids: async (prefix) => {
      const ids: number[] = [];
      for await (const entry of store.list(`${prefix}/`)) ids.push(Number(entry.key.slice(prefix.length + 1)));
      return ids;
    },
    walObjects: async () => {
      const wals: { id: number; size: number }[] = [];
      for await (const entry of store.list("wal/")) wals.push({ id: Number(entry.key.slice("wal/".length)), size: entry.size });
      return wals;
    },
    close: async () => {
      for (const reader of readers) await reader.close();
      await writer.close();
    },
  };
}

async function withRig(fn: (r: Rig) => Promise<void>, writerOptions: Partial<LogOptions> = {}): Promise<void> {
  const r = await rig(writerOptions);
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

/** A body of `bytes` bytes that names its record. */
function body(name: string, bytes = 16): string {
  return `${name}|`.padEnd(bytes, "~");
}

/** Iterates a following session in the background, keeping what it delivered. */
function drain(session: ReadSession): { records: ReadRecord[]; done: Promise<void> } {
  const records: ReadRecord[] = [];
  const done = (async () => {
    for await (const record of session) records.push(record);
  })();
  done.catch(() => undefined);
  return { records, done };
}

/** What a writer-side read of the whole stream returns, as "seqNum:body". */
/** A reader's catch-up read of stream "s" from its start, one record in (its scan has opened the SSTs it began on). */
async function startCatchUp(r: Rig): Promise<{ iterator: AsyncIterator<ReadRecord>; got: ReadRecord[] }> {
  const reader = await r.openReader();
  const rs = await reader.openStream("s");
  const iterator = rs.read({ from: { seqNum: 0 } })[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  return { iterator, got: [first.value as ReadRecord] };
}

async function writerView(stream: Stream): Promise<string[]> {
  return seqTexts(await collect(stream.read({ from: { seqNum: 0 } })));
}

describe("read-only log following a writer in the same process", () => {
  it("delivers appends made after it opened, in order, and checkTail reports the tail it has seen", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      await ws.append([{ body: "a0" }, { body: "a1" }]);
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true, limit: { count: 6 } }));
      await ws.append([{ body: "b0" }]);
      await ws.append([{ body: "c0" }, { body: "c1" }, { body: "c2" }]);
      assert.equal((await rs.checkTail()).seqNum, 2, "the reader saw appends before it polled");
      await r.poll();
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      await follow.done;
      assert.deepEqual(seqTexts(follow.records), ["0:a0", "1:a1", "2:b0", "3:c0", "4:c1", "5:c2"]);
    }));

  it("when its next WAL object was garbage-collected before it read it, reloads from the newer manifest and skips nothing", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      await ws.append([{ body: body("r0") }]);
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true, limit: { count: 5 } }));
      await r.poll();
      const nextWal = Math.max(...(await r.ids("wal"))) + 1;
      const manifestAtOpen = Math.max(...(await r.ids("manifest")));
      // Each big append fills the memtable: an L0 flush, a manifest, and the WAL object collected.
      for (let i = 1; i <= 3; i++) await ws.append([{ body: body(`r${i}`, 2 * L0_BYTES) }]);
      await ws.append([{ body: body("r4") }]); // stays in the WAL
      await r.clock.runDue();
      assert.ok(!(await r.ids("wal")).includes(nextWal), `precondition: wal ${nextWal} (the reader's next) was collected`);
      assert.ok((await r.ids("manifest")).includes(manifestAtOpen + 1), "precondition: the manifest after the reader's is kept (the next test covers a deleted one)");

      await r.poll();
      await follow.done;
      assert.deepEqual(seqTexts(follow.records), await writerView(ws));
      assert.deepEqual(follow.records.map((rec) => rec.seqNum), [0, 1, 2, 3, 4]);
      assert.ok(reader.metrics().engine.manifestsAdopted >= 1, "the reader adopted the newer manifest");
      assert.ok((r.readerStore.notFound.get("wal") ?? 0) >= 1);
      assert.equal(reader.metrics().engine.followErrors, 0);
    }));

  it("regression (issue 6): a reader whose stream's batches all reached it through a manifest (their WAL objects collected) used to keep a stale tail until a later WAL batch; it sees them at once", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      await ws.append([{ body: body("r0") }]);
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      assert.equal((await rs.checkTail()).seqNum, 1);
      const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true, limit: { count: 4 } }));
      const walAtOpen = Math.max(...(await r.ids("wal")));
      for (let i = 1; i <= 3; i++) {
        await ws.append([{ body: body(`r${i}`, 2 * L0_BYTES) }]);
        await r.clock.runDue();
        const fresh = (await r.walObjects()).filter((wal) => wal.id > walAtOpen && !mayBeWalFence(wal.size));
        assert.deepEqual(fresh, [], "precondition: the append's WAL object was collected before the reader polled");
        await r.poll();
      }
      assert.equal(reader.metrics().engine.durableSeq, r.writer.metrics().engine.durableSeq, "the engine did catch up through the manifest");
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), await writerView(ws));
      await follow.done;
      assert.deepEqual(seqTexts(follow.records), await writerView(ws));
    }));

  it("regression (issue 6): a reader that missed more manifests than the writer keeps used to probe a deleted manifest id forever; it finds the newest manifest and follows on", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      await ws.append([{ body: body("r0") }]);
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      const manifestAtOpen = Math.max(...(await r.ids("manifest")));
      for (let i = 1; i <= 8; i++) await ws.append([{ body: body(`r${i}`, 2 * L0_BYTES) }]);
      await r.clock.runDue();
      assert.ok(!(await r.ids("manifest")).includes(manifestAtOpen + 1), "precondition: the manifest after the reader's was collected");
      for (let i = 9; i < 12; i++) {
        await ws.append([{ body: body(`r${i}`) }]);
        await r.poll();
      }
      // With empty polls, a reader lists the manifests at most every MANIFEST_LIST_INTERVAL_MS.
      await r.clock.advance(MANIFEST_LIST_INTERVAL_MS);
      await r.poll();
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), await writerView(ws));
    }));

  it("a catch-up read whose SSTs the writer compacts away and deletes mid-read restarts and delivers every record once", () =>
    withRig(
      async (r) => {
        const ws = await r.writer.openStream("s", { createIfMissing: true });
        // Three L0 SSTs of many 16 KiB blocks each: a scan fetches their later blocks lazily.
        let appended = 0;
        while (r.writer.metrics().engine.l0Count < 3) await ws.append([{ body: body(`r${appended++}`, 1000) }]);
        assert.equal(r.writer.metrics().engine.compactions, 0, "precondition: three L0s, one short of a compaction");
        const sstsAtOpen = await r.ids("sst");
        const tailAtOpen = (await ws.checkTail()).seqNum;
        const { iterator, got } = await startCatchUp(r);

        // The writer's fourth L0 triggers a compaction; the GC deletes its inputs at once.
        while (r.writer.metrics().engine.compactions === 0) await ws.append([{ body: body(`r${appended++}`, 1000) }]);
        await r.clock.runDue();
        assert.ok(r.writer.metrics().engine.compactions >= 1, "precondition: the writer compacted");
        const left = await r.ids("sst");
        assert.ok(sstsAtOpen.every((id) => !left.includes(id)), `precondition: every SST the reader opened with is gone (${sstsAtOpen} vs ${left})`);

        for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) got.push(next.value);
        const expected = (await writerView(ws)).slice(0, got.length);
        assert.ok(got.length >= tailAtOpen, `the read ended after ${got.length} records, ${tailAtOpen} were there when it started`);
        assert.deepEqual(seqTexts(got), expected);
        assert.ok((r.readerStore.notFound.get("sst") ?? 0) >= 1, "the read never met a deleted SST: the race was not staged");
      },
      { l0SstBytes: 256 * 1024 },
    ));

  it("a catch-up read whose next manifest is deleted too adopts the newest one at once, not after the next listing", () =>
    withRig(
      async (r) => {
        const ws = await r.writer.openStream("s", { createIfMissing: true });
        let appended = 0;
        while (r.writer.metrics().engine.l0Count < 3) await ws.append([{ body: body(`r${appended++}`, 1000) }]);
        const manifestAtOpen = Math.max(...(await r.ids("manifest")));
        const { iterator, got } = await startCatchUp(r);

        // The writer compacts, and writes more manifests than it keeps: the one after the
        // reader's is deleted as well as the SSTs the reader opened with.
        const sstsAtOpen = await r.ids("sst");
        while (r.writer.metrics().engine.compactions < 2) await ws.append([{ body: body(`r${appended++}`, 1000) }]);
        await r.clock.runDue();
        const manifests = await r.ids("manifest");
        assert.ok(!manifests.includes(manifestAtOpen + 1), `precondition: manifest ${manifestAtOpen + 1} is gone (${manifests})`);
        const left = await r.ids("sst");
        assert.ok(sstsAtOpen.every((id) => !left.includes(id)), "precondition: every SST the reader opened with is gone");

        // No time passes: the reader may not list the manifests on its own (MANIFEST_LIST_INTERVAL_MS).
        for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) got.push(next.value);
        const expected = (await writerView(ws)).slice(0, got.length);
        assert.ok(got.length >= sstsAtOpen.length, `the read ended after ${got.length} records`);
        assert.deepEqual(seqTexts(got), expected);
        assert.ok((r.readerStore.notFound.get("sst") ?? 0) >= 1, "the read never met a deleted SST: the race was not staged");
      },
      { l0SstBytes: 256 * 1024 },
    ));

  it("a deleted stream ends a reader's follow with stream_not_found; a stream recreated under the name is read afresh", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      await ws.append([{ body: "old0" }, { body: "old1" }]);
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true }));
      await r.poll();
      await r.writer.deleteStream("s");
      await r.poll();
      await assert.rejects(follow.done, { code: "stream_not_found" });
      assert.deepEqual(seqTexts(follow.records), ["0:old0", "1:old1"]);
      await assert.rejects(reader.openStream("s"), { code: "stream_not_found" });
      await assert.rejects(rs.checkTail(), { code: "stream_not_found" });
      assert.deepEqual(await reader.listStreams(), []);

      const again = await r.writer.openStream("s", { createIfMissing: true });
      await again.append([{ body: "new0" }]);
      await r.poll();
      const reopened = await reader.openStream("s");
      assert.deepEqual(seqTexts(await collect(reopened.read({ from: { seqNum: 0 } }))), ["0:new0"]);
      assert.deepEqual(await reopened.checkTail(), await again.checkTail());
    }, BATCHES_STAY_IN_WAL));

  it("respects trims: a follower skips records trimmed before it took them, reads start at the trim point, and so does a reader opened afterwards", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      const follower = rs.read({ from: { seqNum: 0 }, follow: true, limit: { count: 7 } })[Symbol.asyncIterator]();
      const first = follower.next(); // subscribes at the tail (0) and waits
      await ws.append(Array.from({ length: 10 }, (_, i) => ({ body: `r${i}` })));
      await ws.trim(5); // a command record at seqNum 10
      await ws.append([{ body: "r11" }]);
      await r.poll(); // the follower got the first batch and gave out record 0; then the trim came
      assert.equal(((await first).value as ReadRecord).seqNum, 0);
      const rest: number[] = [];
      for (let next = await follower.next(); next.done !== true; next = await follower.next()) rest.push(next.value.seqNum);
      const afterTrim = [5, 6, 7, 8, 9, 10, 11];
      assert.deepEqual(rest, afterTrim.slice(0, 6), "records 1..4 were trimmed before the follower took them");
      assert.deepEqual((await collect(rs.read({ from: { seqNum: 0 } }))).map((rec) => rec.seqNum), afterTrim);
      assert.deepEqual((await collect(rs.read({ from: { seqNum: 2 } }))).map((rec) => rec.seqNum), afterTrim);
      assert.deepEqual((await collect(rs.read({ from: { tailOffset: 12 } }))).map((rec) => rec.seqNum), afterTrim);
      const late = await collect(rs.read({ from: { seqNum: 0 }, follow: true, waitMs: POLL_MS, limit: { count: 1 } }));
      assert.deepEqual(late.map((rec) => rec.seqNum), [5], "a follower starting below the trim point starts at it");
      const later = await r.openReader();
      assert.deepEqual((await collect((await later.openStream("s")).read({ from: { seqNum: 0 } }))).map((rec) => rec.seqNum), afterTrim);
      assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), await writerView(ws));
    }, BATCHES_STAY_IN_WAL));

  it("a stream deletion that reaches a reader only through a manifest ends its followers with stream_not_found", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      await ws.append([{ body: "old0" }, { body: "old1" }]);
      const other = await r.writer.openStream("other", { createIfMissing: true });
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true, waitMs: 3 * POLL_MS })); // ends a stalled follower
      await r.poll();
      const walAtDelete = Math.max(...(await r.ids("wal")));
      await r.writer.deleteStream("s");
      await other.append([{ body: body("fills the memtable", 2 * L0_BYTES) }]); // an L0 flush, then WAL GC
      await r.clock.runDue();
      assert.deepEqual((await r.walObjects()).filter((wal) => wal.id > walAtDelete && !mayBeWalFence(wal.size)), [], "precondition: the deletion's WAL object was collected");
      for (let poll = 0; poll < 5; poll++) await r.poll();
      await assert.rejects(follow.done, { code: "stream_not_found" });
      await assert.rejects(rs.checkTail(), { code: "stream_not_found" });
      await assert.rejects(reader.openStream("s"), { code: "stream_not_found" });
    }));

  it("a trim that reaches a reader only through a manifest is respected by its reads", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      await ws.append(Array.from({ length: 10 }, (_, i) => ({ body: `r${i}` })));
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      assert.equal((await rs.checkTail()).seqNum, 10);
      const walAtTrim = Math.max(...(await r.ids("wal")));
      await ws.trim(5);
      await ws.append([{ body: body("fills the memtable", 2 * L0_BYTES) }]); // an L0 flush, then WAL GC
      await r.clock.runDue();
      assert.deepEqual((await r.walObjects()).filter((wal) => wal.id > walAtTrim && !mayBeWalFence(wal.size)), [], "precondition: the trim's WAL object was collected");
      await r.poll();
      await r.poll();
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      assert.deepEqual((await collect(rs.read({ from: { seqNum: 0 } }))).map((rec) => rec.seqNum), [5, 6, 7, 8, 9, 10, 11]);
      assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), await writerView(ws));
    }));

  it("following a long write run, holds no more memtable than the writer has unflushed plus one L0, and keeps its block cache within budget", () =>
    withRig(
      async (r) => {
        const cacheBytes = 32 * 1024;
        const ws = await r.writer.openStream("s", { createIfMissing: true });
        const reader = await r.openReader({ blockCacheBytes: cacheBytes });
        const rs = await reader.openStream("s");
        const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true }));
        let readerMaxBytes = 0;
        let writerMaxBytes = 0;
        let maxCacheBytes = 0;
        // An L0 every several appends: most WAL objects are still there when the reader polls,
        // so the reader builds memtables of its own and must drop them as manifests cover them.
        for (let i = 0; i < 400; i++) {
          await ws.append([{ body: body(`r${i}`, 400) }]);
          writerMaxBytes = Math.max(writerMaxBytes, r.writer.metrics().engine.unflushedBytes);
          await r.poll();
          const engine = reader.metrics().engine;
          readerMaxBytes = Math.max(readerMaxBytes, engine.unflushedBytes);
          maxCacheBytes = Math.max(maxCacheBytes, engine.cache.bytes);
        }
        await r.poll();
        assert.deepEqual(seqTexts(follow.records), await writerView(ws), "the follower kept up");
        const walObjectsRead = r.readerStore.prefix("wal").get - (r.readerStore.notFound.get("wal") ?? 0);
        assert.ok(walObjectsRead >= 200, `precondition: the reader applied only ${walObjectsRead} WAL objects itself`);
        assert.ok(r.writer.metrics().engine.l0Flushes >= 30, `precondition: only ${r.writer.metrics().engine.l0Flushes} L0s in the run`);
        assert.ok(readerMaxBytes > 0 && reader.metrics().engine.manifestsAdopted >= 30, "precondition: the reader held memtables and adopted manifests");
        assert.ok(readerMaxBytes <= writerMaxBytes + FOLLOW_L0_BYTES, `the reader's memtables reached ${readerMaxBytes} bytes; the writer's unflushed bytes, ${writerMaxBytes}`);
        assert.ok(maxCacheBytes <= cacheBytes, `the block cache held ${maxCacheBytes} bytes, budget ${cacheBytes}`);
      },
      { l0SstBytes: FOLLOW_L0_BYTES },
    ));

  /** A reader following an idle stream; `measure(polls)` returns the store calls those polls made. */
  async function idleReader(r: Rig): Promise<{ reader: Log; ws: Stream; follow: ReturnType<typeof drain>; measure(polls: number): Promise<CallCounts> }> {
    const ws = await r.writer.openStream("s", { createIfMissing: true });
    for (let i = 0; i < 20; i++) await ws.append([{ body: body(`r${i}`, 200) }]);
    const reader = await r.openReader();
    const follow = drain((await reader.openStream("s")).read({ from: { seqNum: 0 }, follow: true }));
    await r.poll();
    assert.equal(follow.records.length, 20);
    const measure = async (polls: number): Promise<CallCounts> => {
      const before = { ...r.readerStore.counts };
      const engineBefore = reader.metrics().engine.storeRequests.get;
      for (let i = 0; i < polls; i++) await r.poll();
      const after = r.readerStore.counts;
      assert.equal(reader.metrics().engine.storeRequests.get - engineBefore, after.get - before.get, "the reader's own metrics count the same GETs");
      return { get: after.get - before.get, head: after.head - before.head, put: after.put - before.put, delete: after.delete - before.delete, list: after.list - before.list };
    };
    return { reader, ws, follow, measure };
  }

  it("while the log is idle, polls only GET (two objects each) and LIST the manifests now and then, write nothing, and keep following", () =>
    withRig(async (r) => {
      const { ws, follow, measure } = await idleReader(r);
      const polls = 48;
      const calls = await measure(polls);
      assert.ok(calls.get >= polls, `only ${calls.get} GETs in ${polls} polls: the reader did not poll`);
      // The LIST (every fourth empty poll, wal-follower.ts) finds a reader that fell behind the
      // writer's manifest GC; with the manifest it reads after it, the cost stays bounded.
      assert.ok(calls.list <= polls / 4, `${calls.list} LISTs in ${polls} idle polls`);
      assert.ok(calls.get <= 2 * polls + calls.list, `${calls.get} GETs in ${polls} idle polls`);
      assert.deepEqual([calls.head, calls.put, calls.delete], [0, 0, 0]);
      await ws.append([{ body: "wake" }]);
      await r.poll();
      assert.equal(follow.records.at(-1)?.seqNum, 20, "the reader still follows after idling");
    }));

  it("costs at most two store GETs per idle poll, as LogOptions.pollIntervalMs documents", () =>
    withRig(async (r) => {
      const { measure } = await idleReader(r);
      const polls = 48;
      const calls = await measure(polls);
      assert.ok(calls.get >= polls, `only ${calls.get} GETs in ${polls} polls: the reader did not poll`);
      assert.ok(calls.get <= 2 * polls, `${calls.get} GETs in ${polls} idle polls`);
    }));
});
