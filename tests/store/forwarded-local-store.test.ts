/**
 * A user's wrapper around a LocalStore (metrics, tracing, ...) that forwards it
 * (ObjectStore.localStore) gets from the log what a LocalStore handed over as it is gets: SST
 * buffers from the LocalStore (allocatePutBuffer, written around the page cache and reused), its
 * large writes taking turns with the segment WAL (shareDiskWith), walMode "segments" and
 * compactionThread "worker" by default, while every put still goes through the wrapper. A wrapper
 * that does not forward it gets none of that, as before.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import type { Worker } from "node:worker_threads";
import { Engine, SEGMENT_WAL_DIR, type EngineOptions } from "../../src/engine/engine.js";
import { SST_PREFIX, WAL_PREFIX, sstKey } from "../../src/engine/paths.js";
import { DeviceTurns } from "../../src/store/device-turns.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";
import { COMPACTION_LOCAL_READ_BYTES, COMPACTION_WORKER_WAIT_MIN_BYTES, DEFAULT_SST_READAHEAD_BYTES } from "../../src/limits.js";
import { inspectStore, openLog, type Log, type LogOptions } from "../../src/index.js";
import { ManualClock } from "../../src/util/clock.js";
import { hasCode } from "../../src/errors.js";
import { collect } from "../helpers/stream-helpers.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { assertLargeRecords, writeFourL0s, writeThreeLargeL0s, writeTwoOverlappingL0s } from "../helpers/engine-workloads.js";

const MiB = 1024 * 1024;
const T0 = 1_767_225_600_000;

/** A LocalStore that notes the buffers it hands out (allocatePutBuffer) and every shareDiskWith. */
class SpiedLocalStore extends LocalStore {
  readonly putBuffers = new Set<ArrayBufferLike>();
  readonly sharedTurns: (DeviceTurns | undefined)[] = [];
  override allocatePutBuffer(sizeBytes: number): Uint8Array {
    const buffer = super.allocatePutBuffer(sizeBytes);
    this.putBuffers.add(buffer.buffer);
    return buffer;
  }
  override shareDiskWith(turns: DeviceTurns | undefined): void {
    this.sharedTurns.push(turns);
    super.shareDiskWith(turns);
  }
}

/** What a wrapper forwards of the store it wraps. */
type Forwarding = "localStore" | "localRoot" | "nothing";

/** A user's wrapper (here: it notes keys and SST bodies' buffers), forwarding what it is told to. */
class UserWrapper implements ObjectStore {
  readonly putKeys: string[] = [];
  /** The ArrayBuffer of each SST put's body (identity only: the body itself is not kept). */
  readonly sstBuffers: ArrayBufferLike[] = [];
  readonly bufferOf = new Map<string, ArrayBufferLike>();
  readonly localStore: LocalStore | undefined;
  readonly localRoot: string | undefined;
  readonly description = "user wrapper";
  constructor(
    private readonly inner: ObjectStore,
    forwarding: Forwarding,
  ) {
    this.localStore = forwarding === "localStore" ? inner.localStore : undefined;
    this.localRoot = forwarding === "localRoot" ? inner.localRoot : undefined;
  }
  /** The length of every ranged GET of an SST, in order. */
  readonly sstGetBytes: number[] = [];
  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (key.startsWith(SST_PREFIX) && range?.length !== undefined) this.sstGetBytes.push(range.length);
    return this.inner.get(key, range);
  }
  head(key: string): Promise<ObjectInfo> {
    return this.inner.head(key);
  }
  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    this.putKeys.push(key);
    if (key.startsWith(SST_PREFIX)) {
      this.sstBuffers.push(body.buffer);
      this.bufferOf.set(key, body.buffer);
    }
    return this.inner.put(key, body, condition);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    return this.inner.list(prefix, options);
  }
}


async function readBack(store: ObjectStore, options: EngineOptions): Promise<Map<string, string>> {
  const engine = await Engine.open(store, options);
  const read = new Map<string, string>();
  for await (const entry of engine.scan({})) read.set(Buffer.from(entry.key).toString(), Buffer.from(entry.value!).toString());
  await engine.close();
  return read;
}

async function segmentFiles(root: string): Promise<string[]> {
  return (await readdir(path.join(root, SEGMENT_WAL_DIR)).catch(() => [])).filter((name) => name.startsWith("seg-"));
}

const L0_OPTIONS: EngineOptions = { l0SstBytes: 64 * 1024, sstBlockBytes: 1024, l0CompactionTrigger: 64, gcIntervalMs: 0, gcGraceMs: 0, walMode: "segments" };

/** Log options: small memtables, so that a few hundred appends make L0s and a compaction. */
const LOG_OPTIONS = { flushIntervalMs: 0, l0SstBytes: 4096, gcIntervalMs: 0, gcGraceMs: 0 } as const;
const body = (i: number) => `r${i}-`.padEnd(200, "x");

/**
 * Appends to stream "s" of a log on `store` until a compaction ran; returns how many records, and
 * the Workers the process started meanwhile. The log is closed.
 */
async function appendUntilCompacted(store: ObjectStore): Promise<{ appended: number; workers: Worker[] }> {
  const workers: Worker[] = [];
  const onWorker = (worker: Worker) => workers.push(worker);
  process.on("worker", onWorker);
  let log: Log | undefined;
  try {
    log = await openLog({ ...LOG_OPTIONS, store, clock: new ManualClock({ startMs: T0 }) });
    const stream = await log.openStream("s", { createIfMissing: true });
    let appended = 0;
    for (let turn = 0; turn < 2000 && log.metrics().engine.compactions < 1; turn++) {
      await stream.append(Array.from({ length: 10 }, (_, k) => ({ body: body(appended + k) })));
      appended += 10;
      if (turn % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(log.metrics().engine.compactions >= 1, "precondition: a compaction ran");
    return { appended, workers };
  } finally {
    await log?.close();
    process.off("worker", onWorker);
  }
}

/** Opens a log and closes it again (a test expecting the open to fail must not leave a log open when it does not). */
async function openAndClose(options: LogOptions): Promise<void> {
  const log = await openLog(options);
  await log.close();
}

async function readStream(store: ObjectStore): Promise<string[]> {
  const log = await openLog({ store, readOnly: true });
  try {
    const stream = await log.openStream("s");
    return (await collect(stream.read({ from: { seqNum: 0 } }))).map((record) => Buffer.from(record.body).toString());
  } finally {
    await log.close();
  }
}

describe("a wrapper that forwards its LocalStore (ObjectStore.localStore)", () => {
  it("engine: its SST puts come through the wrapper in buffers from that LocalStore's allocatePutBuffer, one reused for every L0; its large writes take turns with the segment WAL (shareDiskWith); all reads back after reopen", async () => {
    const dir = await makeTempDir("forwarded-l0");
    const local = new SpiedLocalStore(dir);
    const wrapper = new UserWrapper(local, "localStore");
    const engine = await Engine.open(wrapper, L0_OPTIONS);
    const written = await writeFourL0s(engine);
    assert.equal(engine.epoch?.manifest.manifest.l0.length, 4);
    assert.equal(wrapper.sstBuffers.length, 4, "every SST put went through the wrapper");
    assert.ok(wrapper.sstBuffers.every((buffer) => local.putBuffers.has(buffer)), "every SST body is in a buffer from the LocalStore's allocatePutBuffer");
    assert.ok(wrapper.sstBuffers.every((buffer) => buffer === wrapper.sstBuffers[0]), "one buffer served every L0 (SstBufferPool)");
    assert.equal(local.sharedTurns.length, 1, "shareDiskWith was called once");
    assert.ok(local.sharedTurns[0] instanceof DeviceTurns, "with the segment WAL's turns");
    assert.ok((await segmentFiles(dir)).length > 0, "the segment WAL lives under the LocalStore's root");
    await engine.close();
    assert.deepEqual(await readBack(new UserWrapper(new LocalStore(dir), "localStore"), L0_OPTIONS), written);
  });

  it("engine: a compaction on the engine's thread builds all its outputs through the wrapper in one buffer from that LocalStore", async () => {
    const dir = await makeTempDir("forwarded-compaction");
    const local = new SpiedLocalStore(dir);
    const wrapper = new UserWrapper(local, "localStore");
    const options: EngineOptions = { ...L0_OPTIONS, maxSstBytes: 8 * 1024, l0CompactionTrigger: 2, compactionThread: "main" };
    const engine = await Engine.open(wrapper, options);
    const written = await writeTwoOverlappingL0s(engine);
    await engine.compactor.idle();
    const outputs = (engine.epoch?.manifest.manifest.runs ?? []).flatMap((run) => run.ssts);
    assert.ok(outputs.length >= 4, `${outputs.length} outputs of at most 8 KiB`);
    const buffers = new Set(outputs.map((handle) => wrapper.bufferOf.get(sstKey(handle.id))));
    assert.equal(buffers.size, 1, `${outputs.length} outputs built in ${buffers.size} buffers`);
    assert.ok(local.putBuffers.has([...buffers][0]!), "that buffer came from the LocalStore's allocatePutBuffer");
    await engine.close();
    assert.deepEqual(await readBack(local, options), written);
  });

  it("engine: a compaction on the engine's thread reads its inputs in GETs of at most COMPACTION_LOCAL_READ_BYTES through a forwarding wrapper, of up to DEFAULT_SST_READAHEAD_BYTES through one that does not", async () => {
    const largestInputRead = async (forwarding: Forwarding): Promise<number> => {
      const dir = await makeTempDir(`compaction-reads-${forwarding}`);
      const wrapper = new UserWrapper(new LocalStore(dir), forwarding);
      const walMode = forwarding === "nothing" ? "objects" : "segments";
      const options: EngineOptions = { ...L0_OPTIONS, walMode, sstBlockBytes: 4096, l0SstBytes: 8 * MiB, maxSstBytes: 16 * MiB, l0CompactionTrigger: 2, compactionThread: "main" };
      const engine = await Engine.open(wrapper, options);
      for (let flush = 0; flush < 2; flush++) {
        // Two L0s of 3 MiB over the same keys: the compaction reads both through, block after block.
        for (let i = 0; i < 3000; i++) engine.write([{ type: "put", key: Buffer.from(`k${String(i).padStart(5, "0")}`), value: Buffer.alloc(1024, 97 + flush) }]);
        await engine.flushMemtables();
      }
      wrapper.sstGetBytes.length = 0;
      await engine.compactor.idle();
      assert.equal(engine.metrics().compactions, 1, "precondition: one compaction");
      await engine.close();
      return Math.max(...wrapper.sstGetBytes);
    };
    const forwarded = await largestInputRead("localStore");
    assert.ok(forwarded <= COMPACTION_LOCAL_READ_BYTES, `a GET of ${forwarded} bytes on a LocalStore`);
    const plain = await largestInputRead("nothing");
    assert.ok(plain > COMPACTION_LOCAL_READ_BYTES && plain <= DEFAULT_SST_READAHEAD_BYTES, `a GET of ${plain} bytes elsewhere`);
  });

  it("engine: its L0s and the compaction worker's outputs are written around the page cache, like a plain LocalStore's", { skip: process.platform !== "linux" }, async () => {
    const dir = await makeTempDir("forwarded-direct");
    const local = new LocalStore(dir);
    const wrapper = new UserWrapper(local, "localStore");
    // Inputs of at least COMPACTION_WORKER_WAIT_MIN_BYTES: the compaction waits for the worker
    // (a smaller one runs on this thread while the worker starts).
    const perFlush = Math.ceil(COMPACTION_WORKER_WAIT_MIN_BYTES / 3 / 2000) + 100;
    const options: EngineOptions = { l0SstBytes: 8 * MiB, maxSstBytes: 2 * MiB, l0CompactionTrigger: 3, compactionThread: "worker", gcIntervalMs: 0, gcGraceMs: 0, walMode: "segments" };
    const engine = await Engine.open(wrapper, options);
    const { afterL0s, manifest, outputs } = await writeThreeLargeL0s(engine, local, dir, perFlush);
    if (afterL0s > 0) {
      assert.ok(outputs.length >= 3, `${outputs.length} outputs of at least DIRECT_WRITE_MIN_BYTES`);
      // The first in the buffer sent with the job, the others in the one the worker got back after each PUT.
      assert.equal(local.directPutCount - afterL0s, outputs.length, "every large output of the worker went direct (adoptPutBuffer; buffers handed back: CompactorHost.localStore)");
    }
    assert.equal(wrapper.sstBuffers.length, 3 + manifest.runs.flatMap((run) => run.ssts).length, "every SST put went through the wrapper");
    await assertLargeRecords(engine, 3 * perFlush);
    await engine.close();
  });

  it("log: walMode \"segments\" and compactionThread \"worker\" by default, through a wrapper of a wrapper; SSTs in the LocalStore's buffers; what it wrote reads back after reopen", async () => {
    const dir = await makeTempDir("forwarded-log");
    const local = new SpiedLocalStore(dir);
    const outer = new UserWrapper(new UserWrapper(local, "localStore"), "localStore");
    assert.equal(outer.localStore, local);
    assert.equal(outer.localRoot, undefined, "precondition: the wrapper forwards no localRoot");
    const { appended, workers } = await appendUntilCompacted(outer);
    assert.ok(workers.length >= 1, "the compaction started a worker thread (compactionThread \"worker\")");
    const walPuts = outer.putKeys.filter((key) => key.startsWith(WAL_PREFIX));
    assert.equal(walPuts.length, 1, `only the new writer's fence was put under wal/, no WAL object per group commit (walMode "segments"): ${walPuts.join(", ")}`);
    assert.ok((await segmentFiles(dir)).length > 0, "the segment WAL's files are under the LocalStore's root");
    assert.ok(outer.sstBuffers.length >= 4, "the L0s were put through the wrapper");
    assert.ok(outer.sstBuffers.some((buffer) => local.putBuffers.has(buffer)), "in buffers from the LocalStore's allocatePutBuffer");
    assert.deepEqual(await readStream(new UserWrapper(new LocalStore(dir), "localStore")), Array.from({ length: appended }, (_, i) => body(i)));
    const inspection = await inspectStore(new UserWrapper(new LocalStore(dir), "localStore"));
    assert.ok(inspection.segments.length > 0, "inspectStore finds the segment WAL through the wrapper");
  });
});

describe("a wrapper that does not forward its LocalStore gets none of that (as before)", () => {
  it("engine: no buffer from allocatePutBuffer, a fresh one per L0, no shareDiskWith; a forwarded localRoot keeps the segment WAL", async () => {
    const dir = await makeTempDir("unforwarded-l0");
    const local = new SpiedLocalStore(dir);
    const wrapper = new UserWrapper(local, "localRoot");
    const engine = await Engine.open(wrapper, L0_OPTIONS);
    const written = await writeFourL0s(engine);
    assert.equal(wrapper.sstBuffers.length, 4);
    assert.equal(local.putBuffers.size, 0, "allocatePutBuffer was not called");
    assert.equal(new Set(wrapper.sstBuffers).size, 4, "every L0 in a buffer of its own");
    assert.deepEqual(local.sharedTurns, [], "shareDiskWith was not called");
    assert.ok((await segmentFiles(dir)).length > 0, "the segment WAL lives under the forwarded localRoot");
    await engine.close();
    assert.deepEqual(await readBack(local, L0_OPTIONS), written);
  });

  it("log: walMode \"objects\" and compactionThread \"main\" by default when it forwards neither localStore nor localRoot", async () => {
    const dir = await makeTempDir("unforwarded-log");
    const local = new SpiedLocalStore(dir);
    const wrapper = new UserWrapper(local, "nothing");
    const { appended, workers } = await appendUntilCompacted(wrapper);
    assert.deepEqual(workers, [], "no worker thread (compactionThread \"main\")");
    assert.ok(wrapper.putKeys.filter((key) => key.startsWith(WAL_PREFIX)).length > 1, "WAL objects were put besides the fence (walMode \"objects\")");
    assert.deepEqual(await segmentFiles(dir), []);
    assert.equal(local.putBuffers.size, 0, "allocatePutBuffer was not called");
    assert.deepEqual(await readStream(local), Array.from({ length: appended }, (_, i) => body(i)));
  });
});

describe("ObjectStore.localStore is checked", () => {
  it("a read-only log through it on a missing root fails with not_found and creates nothing (its root is the LocalStore's)", async () => {
    const parent = await makeTempDir("forwarded-missing");
    const root = path.join(parent, "no-such-dir");
    await assert.rejects(openAndClose({ store: new UserWrapper(new LocalStore(root), "localStore"), readOnly: true }), (error: unknown) => hasCode(error, "not_found") && /no-such-dir does not exist/.test(String(error)));
    assert.deepEqual(await readdir(parent), [], "nothing was created");
  });

  it("a LocalStore's localStore is itself", async () => {
    const local = new LocalStore(await makeTempDir("forwarded-self"));
    assert.equal(local.localStore, local);
  });

  it("openLog and inspectStore reject a localStore that is no LocalStore, and a localRoot that is not its localStore's root", async () => {
    const dir = await makeTempDir("forwarded-checks");
    const other = await makeTempDir("forwarded-checks-other");
    const memory = new MemoryStore();
    const notLocal = Object.assign(new UserWrapper(memory, "nothing"), { localStore: memory as unknown as LocalStore });
    await assert.rejects(openAndClose({ store: notLocal }), (error: unknown) => hasCode(error, "validation") && /localStore` must be a LocalStore/.test(String(error)));
    const mismatched = Object.assign(new UserWrapper(new LocalStore(dir), "localStore"), { localRoot: other });
    await assert.rejects(openAndClose({ store: mismatched }), (error: unknown) => hasCode(error, "validation") && /is not the root of its `localStore`/.test(String(error)));
    await assert.rejects(inspectStore(mismatched), (error: unknown) => hasCode(error, "validation"));
    assert.deepEqual(await readdir(dir), [], "nothing was written");
  });
});
