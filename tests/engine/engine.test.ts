/**
 * Engine behaviour: durability before visibility, group commit, the PUT rate bound, expiry,
 * ordered scans, recovery, fencing, failure and reopen, compaction and GC, backpressure.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine, type EngineOptions, type WriteOp } from "../../src/engine/engine.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { Memtable } from "../../src/engine/memtable.js";
import { MEMTABLE_SPLIT_MIN_REST_BYTES } from "../../src/limits.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { ManualClock } from "../../src/util/clock.js";
import type { ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";

const b = (text: string) => Buffer.from(text);
const put = (key: string, value: string, expireAtMs?: number): WriteOp =>
  expireAtMs === undefined ? { type: "put", key: b(key), value: b(value) } : { type: "put", key: b(key), value: b(value), expireAtMs };
const del = (key: string): WriteOp => ({ type: "delete", key: b(key) });

async function collect(engine: Engine, range = {}, reverse = false): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const entry of engine.scan(range, { reverse })) out.push([Buffer.from(entry.key).toString(), Buffer.from(entry.value).toString()]);
  return out;
}

/** A value of 64 KiB: 64 of them make a WAL group of 4 MiB. */
const BIG_VALUE = "v".repeat(64 * 1024);

/**
 * Opens an engine whose WAL holds 64 batches of 64 KiB in one group (flushIntervalMs 50 on a
 * manual clock), writes them and makes them durable; returns the engine and the last seq.
 */
async function oneBigGroup(store: ObjectStore, l0SstBytes: number): Promise<{ engine: Engine; last: number; options: EngineOptions }> {
  const clock = new ManualClock();
  const options: EngineOptions = { ...small, clock, flushIntervalMs: 50, l0SstBytes, maxSstBytes: 8 * 1024 * 1024, maxUnflushedBytes: 64 * 1024 * 1024, l0CompactionTrigger: 64, checkCreateOnly: false };
  const engine = await Engine.open(store, options);
  let last = 0;
  for (let i = 0; i < 64; i++) last = engine.write([put(`k${String(i).padStart(3, "0")}`, BIG_VALUE)]);
  const durable = engine.whenDurable(last);
  await clock.advance(50);
  await durable;
  assert.equal(engine.metrics().walFlushes, 1, "one WAL group");
  return { engine, last, options };
}

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list(prefix)) keys.push(entry.key);
  return keys;
}

/** Holds puts whose key matches until released: a WAL PUT "in flight" for as long as a test wants. */
class GatedStore implements ObjectStore {
  readonly #inner: ObjectStore;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  held = 0;
  constructor(inner: ObjectStore, readonly matches: (key: string) => boolean) {
    this.#inner = inner;
  }
  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }
  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }
  get = (key: string, range?: { offset: number; length?: number }) => this.#inner.get(key, range);
  head = (key: string) => this.#inner.head(key);
  delete = (key: string) => this.#inner.delete(key);
  list = (prefix: string, options?: { startAfter?: string }) => this.#inner.list(prefix, options);
  async put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    if (this.#gate !== undefined && this.matches(key)) {
      this.held++;
      await this.#gate;
    }
    return this.#inner.put(key, body, condition);
  }
}

const small: EngineOptions = { flushIntervalMs: 0, l0SstBytes: 4096, sstBlockBytes: 512, maxSstBytes: 16 * 1024, gcIntervalMs: 0, gcGraceMs: 0 };

describe("Engine", () => {
  it("shows a write to readers only after its WAL object is stored", async () => {
    const gated = new GatedStore(new MemoryStore(), (key) => key.startsWith("wal/"));
    const engine = await Engine.open(gated, { flushIntervalMs: 0 });
    gated.hold();
    const seq = engine.write([put("a", "1")]);
    assert.equal(seq, 1);
    let durable = false;
    const waiting = engine.whenDurable(seq).then(() => (durable = true));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(gated.held, 1, "the WAL PUT is in flight");
    assert.equal(durable, false);
    assert.equal(engine.durableSeq, 0);
    assert.deepEqual(await collect(engine), []);
    assert.equal(await engine.get(b("a")), undefined);
    gated.release();
    await waiting;
    assert.equal(engine.durableSeq, 1);
    assert.deepEqual(await collect(engine), [["a", "1"]]);
    await engine.close();
  });

  it("counts a write in unflushedBytes as a memtable entry from the write on, before and during its WAL PUT", async () => {
    const gated = new GatedStore(new MemoryStore(), (key) => key.startsWith("wal/"));
    const engine = await Engine.open(gated, { flushIntervalMs: 0 });
    const before = engine.unflushedBytes;
    gated.hold();
    engine.write([put("a", "1")]);
    const entry = Memtable.entryBytes(b("a"), b("1"));
    assert.ok(engine.unflushedBytes - before >= entry, `${engine.unflushedBytes - before} bytes counted at the write, an entry is ${entry}`);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(gated.held, 1, "the WAL PUT is in flight");
    engine.write([put("b", "2")]); // waits in the buffer behind the PUT
    assert.ok(engine.unflushedBytes - before >= 2 * entry, "both writes counted while the first one's PUT is in flight");
    gated.release();
    await engine.whenDurable(2);
    assert.ok(engine.unflushedBytes - before >= 2 * entry, "in the memtable now");
    await engine.close();
  });

  it("gathers batches written during an in-flight WAL PUT into the next object", async () => {
    const memory = new MemoryStore();
    const gated = new GatedStore(memory, (key) => key.startsWith("wal/"));
    const engine = await Engine.open(gated, { flushIntervalMs: 0 });
    const walsAtOpen = (await keysUnder(memory, "wal/")).length;
    gated.hold();
    const first = engine.write([put("a", "1")]);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = [engine.write([put("b", "2")]), engine.write([put("c", "3")]), engine.write([put("d", "4"), del("a")])];
    gated.release();
    await engine.whenDurable(rest[2]!);
    assert.deepEqual([first, ...rest], [1, 2, 3, 4]);
    assert.equal((await keysUnder(memory, "wal/")).length - walsAtOpen, 2, "one object for the first batch, one for the three after it");
    assert.deepEqual(await collect(engine), [["b", "2"], ["c", "3"], ["d", "4"]]);
    await engine.close();
  });

  it("never starts WAL PUTs faster than 1000 / flushIntervalMs per second, whatever the load", async () => {
    const clock = new ManualClock({ startMs: 1_000_000 });
    const memory = new MemoryStore();
    const engine = await Engine.open(memory, { clock, flushIntervalMs: 100, checkCreateOnly: false });
    const before = engine.metrics().walFlushes;
    let last = 0;
    for (let step = 0; step < 100; step++) {
      for (let i = 0; i < 10; i++) last = engine.write([put(`k${step}-${i}`, "v")]);
      await clock.advance(10);
    }
    await clock.advance(200);
    await engine.whenDurable(last);
    const flushes = engine.metrics().walFlushes - before;
    assert.ok(flushes <= 12, `${flushes} WAL PUTs in 1.2 s of simulated time at flushIntervalMs 100`);
    assert.ok(flushes >= 9, `${flushes} WAL PUTs: the writer should flush about every 100 ms under load`);
    await engine.close();
  });

  it("flushes an idle engine's write at once, without waiting for the interval", async () => {
    const clock = new ManualClock({ startMs: 5_000 });
    const engine = await Engine.open(new MemoryStore(), { clock, flushIntervalMs: 1_000, checkCreateOnly: false });
    const seq = engine.write([put("a", "1")]);
    await engine.whenDurable(seq); // no clock advance needed
    await engine.close();
  });

  it("hides expired entries at once, and an expired newer version hides older ones", async () => {
    const clock = new ManualClock({ startMs: 10_000 });
    const engine = await Engine.open(new MemoryStore(), { clock, flushIntervalMs: 0, checkCreateOnly: false });
    engine.write([put("keep", "forever"), put("short", "v1", 10_500)]);
    engine.write([put("shadow", "old")]);
    await engine.whenDurable(engine.write([put("shadow", "new-but-expiring", 10_200)]));
    assert.deepEqual(await collect(engine), [
      ["keep", "forever"],
      ["shadow", "new-but-expiring"],
      ["short", "v1"],
    ]);
    clock.setNowMs(10_200);
    assert.deepEqual(await collect(engine), [
      ["keep", "forever"],
      ["short", "v1"],
    ]);
    assert.equal(await engine.get(b("shadow")), undefined, "the expired newest version must not reveal the older one");
    clock.setNowMs(10_500);
    assert.deepEqual(await collect(engine), [["keep", "forever"]]);
    await engine.close();
  });

  it("scans ranges in both directions and returns the newest version of each key", async () => {
    const engine = await Engine.open(new MemoryStore(), small);
    for (let i = 0; i < 300; i++) engine.write([put(`k${String(i % 100).padStart(3, "0")}`, `v${i}`)]);
    engine.write([del("k050")]);
    await engine.flush();
    await engine.flusher.idle();
    const all = await collect(engine);
    assert.equal(all.length, 99);
    assert.deepEqual(all[0], ["k000", "v200"]);
    assert.ok(!all.some(([key]) => key === "k050"));
    const range = await collect(engine, { start: b("k010"), end: b("k015") });
    assert.deepEqual(range.map(([key]) => key), ["k010", "k011", "k012", "k013", "k014"]);
    const reversed = await collect(engine, { start: b("k010"), end: b("k015") }, true);
    assert.deepEqual(reversed.map(([key]) => key), ["k014", "k013", "k012", "k011", "k010"]);
    assert.deepEqual((await collect(engine, {}, true)).map(([key]) => key), all.map(([key]) => key).reverse());
    assert.equal(Buffer.from((await engine.get(b("k099")))!).toString(), "v299");
    await engine.close();
  });

  it("recovers every durable write after reopening, and continues the sequence", async () => {
    const store = new MemoryStore();
    const first = await Engine.open(store, small);
    let seq = 0;
    for (let i = 0; i < 500; i++) seq = first.write([put(`key${i}`, `value${i}`)]);
    await first.whenDurable(seq);
    await first.close();
    const second = await Engine.open(store, small);
    assert.equal(second.durableSeq, seq);
    assert.equal((await collect(second)).length, 500);
    const next = second.write([put("after", "reopen")]);
    assert.equal(next, seq + 1);
    await second.whenDurable(next);
    await second.close();
  });

  it("keeps object counts bounded through flushes, compactions and GC, with reads correct throughout", async () => {
    const store = new MemoryStore();
    const engine = await Engine.open(store, small);
    const model = new Map<string, string>();
    for (let round = 0; round < 150; round++) {
      let last = 0;
      for (let i = 0; i < 20; i++) {
        const key = `k${String((round * 7 + i * 13) % 400).padStart(4, "0")}`;
        const value = `v${round}-${i}-${"x".repeat(40)}`;
        model.set(key, value);
        last = engine.write([put(key, value)]);
      }
      await engine.whenDurable(last);
      if (round % 25 === 0) assert.deepEqual(new Map(await collect(engine)), model);
    }
    await engine.flusher.idle();
    await engine.compactor.idle();
    await engine.gc.runOnce();
    const metrics = engine.metrics();
    assert.ok(metrics.l0Flushes > 20, `${metrics.l0Flushes} L0 flushes`);
    assert.ok(metrics.compactions > 5, `${metrics.compactions} compactions`);
    const objects = (await keysUnder(store, "")).length;
    assert.ok(objects < 40, `${objects} objects remain after ${metrics.walFlushes} WAL flushes and ${metrics.l0Flushes} L0 flushes`);
    assert.deepEqual(new Map(await collect(engine)), model);
    await engine.close();
    const reopened = await Engine.open(store, small);
    assert.deepEqual(new Map(await collect(reopened)), model);
    await reopened.close();
  });

  it("flushMemtables moves every write made before it into L0, also writes not durable yet when it is called", async () => {
    const store = new MemoryStore();
    const engine = await Engine.open(store, { ...small, l0SstBytes: 1024 * 1024, l0CompactionTrigger: 64 });
    for (let round = 1; round <= 3; round++) {
      for (let i = 0; i < 20; i++) engine.write([put(`r${round}-${i}`, "v".repeat(100))]); // not awaited
      await engine.flushMemtables();
      const manifest = engine.epoch!.manifest.manifest;
      assert.equal(manifest.l0.length, round, `round ${round}: one L0 per call`);
      assert.equal(manifest.lastL0Seq, engine.lastSeq, `round ${round}: the L0s hold every write`);
    }
    await engine.close();
  });

  it("tells a scan's sources apart once a memtable of them was flushed (memtableLeftSince), not while they are current", async () => {
    const engine = await Engine.open(new MemoryStore(), { ...small, l0SstBytes: 1024 * 1024, l0CompactionTrigger: 64 });
    await engine.whenDurable(engine.write([put("a", "1")]));
    const first = engine.sourcesToken;
    await engine.whenDurable(engine.write([put("b", "2")]));
    assert.equal(engine.sourcesToken, first, "a write into the active memtable changes no source");
    assert.equal(engine.memtableLeftSince(first), false);
    await engine.flushMemtables();
    assert.notEqual(engine.sourcesToken, first);
    assert.equal(engine.memtableLeftSince(first), true, "the memtable the first sources held is in an L0 now");
    const second = engine.sourcesToken;
    await engine.whenDurable(engine.write([put("c", "3")]));
    assert.equal(engine.memtableLeftSince(second), false, "its active memtable is still the engine's");
    await engine.close();
  });

  it("freezes a memtable at l0SstBytes inside a big WAL group, while MEMTABLE_SPLIT_MIN_REST_BYTES of it are left; everything reads back", async () => {
    const store = new MemoryStore();
    // A 4 MiB WAL group against 512 KiB memtables.
    const l0SstBytes = 512 * 1024;
    const { engine } = await oneBigGroup(store, l0SstBytes);
    await engine.flushMemtables();
    const { l0 } = engine.epoch!.manifest.manifest;
    const batchBytes = Memtable.entryBytes(Buffer.from("k000"), Buffer.from(BIG_VALUE));
    // Split while 1 MiB or more is left: ~3 MiB of the 4 in memtables of at most 512 KiB + a batch, the last ~1 MiB in one.
    assert.ok(l0.length >= 6, `${l0.length} L0s for 4 MiB at 512 KiB each`);
    const entries = l0.map((handle) => handle.info.entryCount);
    assert.ok(entries.filter((n) => n * batchBytes > l0SstBytes + batchBytes).length <= 1, `entries per L0: ${entries.join(", ")}`);
    assert.ok(Math.max(...entries) * batchBytes <= l0SstBytes + MEMTABLE_SPLIT_MIN_REST_BYTES + batchBytes, `entries per L0: ${entries.join(", ")}`);
    assert.equal((await collect(engine)).length, 64);
    await engine.close();
    const reopened = await Engine.open(store, small);
    assert.equal((await collect(reopened)).length, 64);
    await reopened.close();
  });

  it("recovers a big WAL group split across memtables without a clean close: its first part from L0s, the rest replayed", async () => {
    const store = new MemoryStore();
    // A 4 MiB group over 1.5 MiB memtables: frozen at 1.5 and 3 MiB (1 MiB or more to come), the last MiB stays active.
    const { engine, last, options } = await oneBigGroup(store, 1536 * 1024);
    await engine.flusher.idle(); // the frozen memtables' L0s are published; the active one is not
    const { lastL0Seq, l0 } = engine.epoch!.manifest.manifest;
    assert.ok(l0.length >= 2 && lastL0Seq > 0 && lastL0Seq < last, `L0s ${l0.length}, lastL0Seq ${lastL0Seq} of ${last}: the group is split`);
    // A second writer takes over without the first closing (as after a crash): it replays the group, skipping what the L0s hold.
    const second = await Engine.open(store, { ...options, clock: new ManualClock() });
    const data = await collect(second);
    assert.equal(data.length, 64);
    assert.ok(data.every(([key, v], i) => key === `k${String(i).padStart(3, "0")}` && v === BIG_VALUE));
    await second.close();
    await engine.close().catch(() => undefined); // fenced
  });

  it("drops entries the compaction filter rejects", async () => {
    const store = new MemoryStore();
    const engine = await Engine.open(store, { ...small, compactionFilter: (key) => !Buffer.from(key).toString().startsWith("drop") });
    let last = 0;
    for (let i = 0; i < 400; i++) last = engine.write([put(`${i % 2 === 0 ? "drop" : "keep"}${String(i).padStart(4, "0")}`, "x".repeat(40))]);
    await engine.whenDurable(last);
    await engine.flushMemtables();
    await engine.compactor.idle();
    const live = await collect(engine);
    assert.ok(live.every(([key]) => key.startsWith("keep")), "filtered entries are not readable once in SSTs");
    assert.equal(live.length, 200);
    await engine.close();
  });

  it("fences the previous writer: its next write fails with fenced, and what it acknowledged survives", async () => {
    const store = new MemoryStore();
    const old = await Engine.open(store, { flushIntervalMs: 0 });
    const acked = old.write([put("from-old", "acked")]);
    await old.whenDurable(acked);
    const fresh = await Engine.open(store, { flushIntervalMs: 0 });
    const lost = old.write([put("from-old", "never-acked")]);
    await assert.rejects(old.whenDurable(lost), { code: "fenced" });
    assert.equal(old.state, "closed");
    assert.throws(() => old.write([put("x", "y")]), { code: "fenced" });
    assert.equal(Buffer.from((await fresh.get(b("from-old")))!).toString(), "acked");
    await fresh.whenDurable(fresh.write([put("from-new", "ok")]));
    await fresh.close();
    await old.close();
  });

  it("refuses a store that accepts a second create-only put", async () => {
    const memory = new MemoryStore();
    const careless: ObjectStore = {
      get: (key, range) => memory.get(key, range),
      head: (key) => memory.head(key),
      delete: (key) => memory.delete(key),
      list: (prefix, options) => memory.list(prefix, options),
      put: (key, body) => memory.put(key, body),
    };
    await assert.rejects(Engine.open(careless), { code: "unsupported" });
  });

  it("resolves a lost WAL PUT response by reading the object back, without a false fence", async () => {
    const faulty = new FaultyStore(new MemoryStore());
    const engine = await Engine.open(faulty, { flushIntervalMs: 0, storeRetryDeadlineMs: 5_000 });
    faulty.loseResponse("put", (call) => call.key.startsWith("wal/"));
    const seq = engine.write([put("a", "1")]);
    await engine.whenDurable(seq);
    assert.equal(engine.state, "open");
    assert.equal(Buffer.from((await engine.get(b("a")))!).toString(), "1");
    await engine.whenDurable(engine.write([put("b", "2")]));
    await engine.close();
  });

  it("fails pending writes with storage when the store stays down, then reopens and accepts writes again", async () => {
    const clock = new ManualClock({ startMs: 1_000 });
    const faulty = new FaultyStore(new MemoryStore(), { clock });
    const engine = await Engine.open(faulty, { clock, flushIntervalMs: 0, storeRetryDeadlineMs: 1_000, checkCreateOnly: false });
    const acked = engine.write([put("acked", "1")]);
    await engine.whenDurable(acked);
    let resets = 0;
    let recovered = 0;
    engine.onReset(() => resets++);
    engine.onRecovered(() => recovered++);
    faulty.cut();
    const doomed = engine.write([put("doomed", "2")]);
    const outcome = engine.whenDurable(doomed).then(
      () => "durable",
      (error: { code?: string; outcome?: string }) => `${error.code}/${error.outcome}`,
    );
    for (let i = 0; i < 30 && resets === 0; i++) await clock.advance(100);
    assert.equal(await outcome, "storage/unknown");
    assert.equal(engine.state, "recovering");
    assert.throws(() => engine.write([put("while-down", "3")]), { code: "storage" });
    assert.deepEqual(await collect(engine), [["acked", "1"]], "durable data stays readable while the store is down");
    faulty.heal();
    for (let i = 0; i < 50 && recovered === 0; i++) await clock.advance(100);
    assert.equal(engine.state, "open");
    const next = engine.write([put("after", "4")]);
    assert.equal(next, acked + 1, "the sequence continues after the last durable write, with no gap");
    await engine.whenDurable(next);
    assert.deepEqual(await collect(engine), [
      ["acked", "1"],
      ["after", "4"],
    ]);
    assert.equal(engine.metrics().resets, 1);
    await engine.close();
  });

  it("makes writers wait past maxUnflushedBytes until memtables are flushed", async () => {
    const gated = new GatedStore(new MemoryStore(), (key) => key.startsWith("sst/"));
    const engine = await Engine.open(gated, { flushIntervalMs: 0, l0SstBytes: 4096, maxUnflushedBytes: 8192 });
    gated.hold();
    let last = 0;
    for (let i = 0; i < 200; i++) last = engine.write([put(`k${i}`, "x".repeat(100))]);
    await engine.whenDurable(last);
    assert.ok(engine.unflushedBytes >= 8192);
    let writable = false;
    const waiting = engine.whenWritable().then(() => (writable = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writable, false, "writers wait while SST uploads are held");
    gated.release();
    await waiting;
    assert.ok(engine.unflushedBytes < 8192);
    assert.ok(engine.metrics().backpressureWaits >= 1);
    await engine.close();
  });

  it("flushes on close and fails calls after it with closed", async () => {
    const store = new MemoryStore();
    const engine = await Engine.open(store, { flushIntervalMs: 50 });
    const seq = engine.write([put("last", "write")]);
    const durable = engine.whenDurable(seq);
    await engine.close();
    await durable;
    assert.throws(() => engine.write([put("x", "y")]), { code: "closed" });
    assert.throws(() => engine.scan({}), { code: "closed" });
    const reopened = await Engine.open(store);
    assert.equal(Buffer.from((await reopened.get(b("last")))!).toString(), "write");
    await reopened.close();
  });

  it("drops dead write-once keys outright instead of leaving tombstones", async () => {
    const clock = new ManualClock({ startMs: 1_000 });
    const store = new MemoryStore();
    const engine = await Engine.open(store, { ...small, clock, checkCreateOnly: false, isWriteOnceKey: (key) => key[0] === 0x77 });
    for (let i = 0; i < 100; i++) engine.write([put(`w${i}`, "x".repeat(40), 2_000), put(`other${i}`, "y".repeat(40), 2_000)]);
    clock.setNowMs(3_000); // everything has expired
    engine.write([put("live", "z")]);
    await engine.flushMemtables();
    await engine.compactor.idle();
    let tombstones = 0;
    for await (const { key, size } of store.list("sst/")) {
      const bytes = Buffer.from(await store.get(key));
      if (bytes.includes("w1")) tombstones++;
      void size;
    }
    assert.equal(tombstones, 0, "no SST keeps the expired write-once keys, not even as tombstones");
    assert.deepEqual(await collect(engine), [["live", "z"]]);
    await engine.close();
  });

  it("merges every sorted run bottom-most once the dead bytes reported reach a quarter of them", async () => {
    const store = new MemoryStore();
    const engine = await Engine.open(store, { ...small, compactionFilter: (key) => !Buffer.from(key).toString().startsWith("dead") });
    // In rounds: a full memtable is frozen at a WAL cut, so each round makes an L0 SST.
    for (let i = 0; i < 300; i++) {
      engine.write([put(`${i < 150 ? "dead" : "live"}${String(i).padStart(4, "0")}`, "x".repeat(60))]);
      if (i % 50 === 49) await engine.flush();
    }
    await engine.flushMemtables();
    await engine.compactor.idle();
    const runsBefore = engine.metrics().sortedRunCount;
    assert.ok(runsBefore >= 1, "precondition: data sits in sorted runs");
    const compactionsBefore = engine.metrics().compactions;
    engine.noteDeadBytes(1 << 30);
    await engine.compactor.idle();
    assert.ok(engine.metrics().compactions > compactionsBefore, "the report triggered a compaction");
    assert.equal(engine.metrics().sortedRunCount, 1, "every run merged into one");
    assert.equal(engine.deadBytes, 0, "the dead bytes are cleared after a bottom-most merge of every run");
    const live = await collect(engine);
    assert.equal(live.length, 150);
    assert.ok(live.every(([key]) => key.startsWith("live")));
    await engine.close();
  });

  it("rejects empty batches and bad keys without using a sequence number", async () => {
    const engine = await Engine.open(new MemoryStore());
    assert.throws(() => engine.write([]), { code: "validation" });
    assert.throws(() => engine.write([{ type: "put", key: new Uint8Array(0), value: b("v") }]), { code: "validation" });
    assert.equal(engine.write([put("a", "1")]), 1);
    await engine.close();
  });
});
