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
 * a catch-up scan whose SSTs are compacted away mid-read; a deleted (and recreated) stream;
 * trims; memory over a long run; store GETs per idle poll. Two todo tests pin bugs found here.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, MemoryStore, openLog, type Log, type LogOptions, type ReadRecord, type ReadSession, type Stream } from "../../src/index.js";
import { CountingStore, collect, seqTexts } from "./reader-helpers.js";

const T0 = 1_700_000_000_000;
const POLL_MS = 10;
/** Small enough that a few appends make an L0 SST; the minimum the engine accepts is 1024. */
const L0_BYTES = 1024;
/**
 * Writer options for tests about what WAL batches carry (deletions, trims): no L0 flush, so no
 * batch reaches a reader only through a manifest (see the todo test on collected WAL objects).
 */
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

/**
 * Appends small records until one of them did not fill the writer's memtable: its WAL object
 * stays, so a reader applies it as a batch and its stream tail catches up (until the todo bug
 * on collected WAL objects is fixed, a batch that reaches a reader only through a manifest
 * does not move the reader's tail by itself).
 */
async function appendUntilOneStaysInWal(r: Rig, stream: Stream): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const flushes = r.writer.metrics().engine.l0Flushes;
    await stream.append([{ body: `tick${i}` }]);
    await r.clock.runDue();
    if (r.writer.metrics().engine.l0Flushes === flushes) return;
  }
  assert.fail("every small append flushed an L0");
}

/** What a writer-side read of the whole stream returns, as "seqNum:body". */
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
      assert.ok((await r.ids("manifest")).includes(manifestAtOpen + 1), "precondition: the manifest after the reader's is kept (see the todo test on missed manifests)");

      await r.poll();
      await follow.done;
      assert.deepEqual(seqTexts(follow.records), await writerView(ws));
      assert.deepEqual(follow.records.map((rec) => rec.seqNum), [0, 1, 2, 3, 4]);
      assert.ok(reader.metrics().engine.manifestsAdopted >= 1, "the reader adopted the newer manifest");
      assert.ok((r.readerStore.notFound.get("wal") ?? 0) >= 1);
      assert.equal(reader.metrics().engine.followErrors, 0);
    }));

  it("sees records whose WAL objects were all collected before it polled, without waiting for a later append", { todo: "bug: a manifest adopted by the WAL follower never reaches the StreamTracker (Engine #followerTarget adoptManifest calls no listener; Log#routeApplied only sees applied WAL batches), so tail, reads, follows and trim point stay stale until a later WAL batch of the stream is applied" }, () =>
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
        const fresh = (await r.walObjects()).filter((wal) => wal.id > walAtOpen && wal.size > 0);
        assert.deepEqual(fresh, [], "precondition: the append's WAL object was collected before the reader polled");
        await r.poll();
      }
      assert.equal(reader.metrics().engine.durableSeq, r.writer.metrics().engine.durableSeq, "the engine did catch up through the manifest");
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), await writerView(ws));
      await follow.done;
      assert.deepEqual(seqTexts(follow.records), await writerView(ws));
    }));

  it("after missing more manifests than the writer keeps, still finds the newest manifest and follows on", { todo: "bug: WalFollower#adoptNewerManifest probes only manifest id+1; once the writer's GC deleted it (manifestsKept = 4), the reader never adopts a manifest again, its next WAL id stays collected, and it is stuck at its old state for good" }, () =>
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
      assert.deepEqual(await rs.checkTail(), await ws.checkTail());
      assert.deepEqual(seqTexts(await collect(rs.read({ from: { seqNum: 0 } }))), await writerView(ws));
    }));

  it("a catch-up read whose SSTs the writer compacts away and deletes mid-read restarts and delivers every record once", () =>
    withRig(
      async (r) => {
        const ws = await r.writer.openStream("s", { createIfMissing: true });
        // Three L0 SSTs of several 16 KiB blocks each: a scan fetches their later blocks lazily.
        let appended = 0;
        while (r.writer.metrics().engine.l0Count < 3) await ws.append([{ body: body(`r${appended++}`, 1000) }]);
        assert.equal(r.writer.metrics().engine.compactions, 0, "precondition: three L0s, one short of a compaction");
        const sstsAtOpen = await r.ids("sst");
        const reader = await r.openReader();
        const rs = await reader.openStream("s");
        const iterator = rs.read({ from: { seqNum: 0 } })[Symbol.asyncIterator]();
        const got: ReadRecord[] = [];
        const first = await iterator.next();
        assert.equal(first.done, false);
        got.push(first.value as ReadRecord);

        // The writer's fourth L0 triggers a compaction; the GC deletes its inputs at once.
        while (r.writer.metrics().engine.compactions === 0) await ws.append([{ body: body(`r${appended++}`, 1000) }]);
        await r.clock.runDue();
        assert.ok(r.writer.metrics().engine.compactions >= 1, "precondition: the writer compacted");
        const left = await r.ids("sst");
        assert.ok(sstsAtOpen.every((id) => !left.includes(id)), `precondition: every SST the reader opened with is gone (${sstsAtOpen} vs ${left})`);

        for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) got.push(next.value);
        const expected = (await writerView(ws)).slice(0, got.length);
        assert.ok(got.length >= 100, `the read ended after ${got.length} records`);
        assert.deepEqual(seqTexts(got), expected);
        assert.ok((r.readerStore.notFound.get("sst") ?? 0) >= 1, "the read never met a deleted SST: the race was not staged");
      },
      { l0SstBytes: 64 * 1024 },
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

  it("following a long write run, keeps its memtables within a few writer L0s and its block cache within budget", () =>
    withRig(async (r) => {
      const cacheBytes = 32 * 1024;
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      const reader = await r.openReader({ blockCacheBytes: cacheBytes });
      const rs = await reader.openStream("s");
      const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true }));
      let maxMemtableBytes = 0;
      let maxCacheBytes = 0;
      // An L0 every three or four appends: most WAL objects are still there when the reader polls.
      for (let i = 0; i < 600; i++) {
        await ws.append([{ body: body(`r${i}`, 200) }]);
        await r.poll();
        const engine = reader.metrics().engine;
        maxMemtableBytes = Math.max(maxMemtableBytes, engine.unflushedBytes);
        maxCacheBytes = Math.max(maxCacheBytes, engine.cache.bytes);
      }
      await appendUntilOneStaysInWal(r, ws);
      await r.poll();
      const written = r.writer.metrics().engine.walFlushBytes;
      assert.deepEqual(seqTexts(follow.records), await writerView(ws), "the follower kept up");
      assert.ok(written > 40 * 4 * L0_BYTES, `precondition: the run wrote ${written} bytes, far more than the bound`);
      assert.ok(reader.metrics().engine.manifestsAdopted > 100, "precondition: the reader adopted the writer's manifests");
      assert.ok(maxMemtableBytes <= 4 * L0_BYTES, `the reader's memtables reached ${maxMemtableBytes} bytes (writer L0s are ${L0_BYTES})`);
      assert.ok(maxCacheBytes <= cacheBytes, `the block cache held ${maxCacheBytes} bytes, budget ${cacheBytes}`);
    }));

  it("costs at most two store GETs per poll while the log is idle, and nothing else", () =>
    withRig(async (r) => {
      const ws = await r.writer.openStream("s", { createIfMissing: true });
      for (let i = 0; i < 20; i++) await ws.append([{ body: body(`r${i}`, 200) }]);
      const reader = await r.openReader();
      const rs = await reader.openStream("s");
      const follow = drain(rs.read({ from: { seqNum: 0 }, follow: true }));
      await r.poll();
      assert.equal(follow.records.length, 20);
      const before = { ...r.readerStore.counts };
      const engineBefore = reader.metrics().engine.storeRequests;
      const polls = 50;
      for (let i = 0; i < polls; i++) await r.poll();
      const after = r.readerStore.counts;
      const gets = after.get - before.get;
      assert.ok(gets >= polls, `only ${gets} GETs in ${polls} polls: the reader did not poll`);
      assert.ok(gets <= 2 * polls, `${gets} GETs in ${polls} idle polls`);
      assert.deepEqual([after.head, after.list, after.put, after.delete], [before.head, before.list, before.put, before.delete]);
      assert.equal(reader.metrics().engine.storeRequests.get - engineBefore.get, gets, "the reader's own metrics count the same GETs");
      await ws.append([{ body: "wake" }]);
      await r.poll();
      assert.equal(follow.records.at(-1)?.seqNum, 20, "the reader still follows after idling");
    }));
});
