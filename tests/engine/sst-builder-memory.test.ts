/**
 * Issue 5 (memory soak over its bound): the SST builder held every SST twice (its chunks and
 * their concatenation) while the SST was PUT, and a compaction output could outgrow
 * maxSstBytes by an entry. These tests pin what replaced that: a builder sized by an upper
 * bound writes the SST into one buffer and finish() hands out a view of it (no copy), and a
 * compaction finishes an output before an entry would take it past its buffer.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ValidationError } from "../../src/errors.js";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { compareEntries, type Entry } from "../../src/engine/entry.js";
import { DataBlock, decodeIndex, SST_FOOTER_BYTES, SstBuilder, SstSizeBound, verifyStoredBlock, type SstInfo } from "../../src/engine/sst-format.js";
import { sstKey } from "../../src/engine/paths.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { LocalStore } from "../../src/store/local-store.js";
import { SstBufferPool } from "../../src/engine/sst-buffer-pool.js";
import { SST_BUFFER_IDLE_MS } from "../../src/limits.js";
import { ManualClock } from "../../src/util/clock.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { writeFourL0s, writeTwoOverlappingL0s } from "../helpers/engine-workloads.js";
import type { ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";

const SEED = 20_251_126;
const KEY = "sst/00000000000000000001";

/** Every entry of an SST built in memory, decoded block by block. */
function decodeAll(bytes: Uint8Array, info: SstInfo): Entry[] {
  const index = decodeIndex(KEY, verifyStoredBlock(KEY, info.indexOffset, bytes.subarray(info.indexOffset, info.indexOffset + info.indexLength)), info.indexOffset);
  return index.handles.flatMap((handle) => new DataBlock(KEY, handle.offset, verifyStoredBlock(KEY, handle.offset, bytes.subarray(handle.offset, handle.offset + handle.length))).decodeAll());
}

function plain(entries: readonly Entry[]): Entry[] {
  return entries.map(({ key, seq, value, expireAtMs }) => ({ key: new Uint8Array(key), seq, value: value === null ? null : new Uint8Array(value), expireAtMs }));
}

/** Sorts and removes duplicate (key, seq) pairs: a valid SST input. */
function normalise(entries: readonly Entry[]): Entry[] {
  const sorted = plain(entries).sort(compareEntries);
  return sorted.filter((entry, i) => i === 0 || compareEntries(sorted[i - 1]!, entry) !== 0);
}

function boundOf(entries: readonly Entry[], blockBytes: number): number {
  const bound = new SstSizeBound();
  for (const entry of entries) bound.add(entry);
  return bound.bytes(blockBytes);
}

function build(entries: readonly Entry[], blockBytes: number, capacityBytes?: number): { bytes: Uint8Array; info: SstInfo } {
  const builder = new SstBuilder(capacityBytes === undefined ? { blockBytes } : { blockBytes, capacityBytes });
  for (const entry of entries) builder.add(entry);
  return builder.finish();
}

/** Entries shaped like a stream's: a record key `05 id seq ts` with its body, then the timestamp index key. */
function streamEntries(records: number, bodyBytes: number): Entry[] {
  const entries: Entry[] = [];
  for (let i = 0; i < records; i++) {
    const record = Buffer.alloc(25);
    record[0] = 5;
    record.writeBigUInt64BE(3n, 1);
    record.writeBigUInt64BE(BigInt(i), 9);
    record.writeBigUInt64BE(BigInt(1_764_000_000_000 + i), 17);
    entries.push({ key: new Uint8Array(record), seq: i + 1, value: new Uint8Array(bodyBytes).fill(i % 251), expireAtMs: 1_800_000_000_000 });
  }
  for (let i = 0; i < records; i++) {
    const index = Buffer.alloc(25);
    index[0] = 6;
    index.writeBigUInt64BE(3n, 1);
    index.writeBigUInt64BE(BigInt(1_764_000_000_000 + i), 9);
    index.writeBigUInt64BE(BigInt(i), 17);
    entries.push({ key: new Uint8Array(index), seq: i + 1, value: new Uint8Array(0), expireAtMs: 1_800_000_000_000 });
  }
  return entries;
}

const entryArbitrary: fc.Arbitrary<Entry> = fc.record({
  // Short keys over a small alphabet share prefixes; a few long keys and values stress blocks and the index.
  key: fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 6, min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
  seq: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
  value: fc.option(fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 5000 }) }), { nil: null, freq: 5 }),
  expireAtMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
});
const blockBytesArbitrary = fc.constantFrom(32, 64, 200, 1024, 4096);

describe("SST builder memory (issue 5)", () => {
  it("finish() returns a view of the buffer it was given, not a copy, when the SST fits in it", () => {
    const entries = streamEntries(200, 1024);
    const capacityBytes = boundOf(entries, 4096);
    const { bytes, info } = build(entries, 4096, capacityBytes);
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, capacityBytes, "the SST is the builder's buffer: nothing was concatenated");
    assert.equal(bytes.length, info.sizeBytes);
    assert.deepEqual(decodeAll(bytes, info), plain(entries));
  });

  it("an SST that outgrows its buffer is still built whole, and finish() copies it exactly once", () => {
    const entries = streamEntries(300, 1024);
    const { bytes, info } = build(entries, 4096, 100);
    assert.equal(bytes.buffer.byteLength, bytes.length, "one exactly-sized array");
    assert.deepEqual(decodeAll(bytes, info), plain(entries));
    assert.deepEqual(bytes, build(entries, 4096).bytes, "the same bytes as a builder without a capacity");
  });

  it("refuses a capacity that is not an integer of at least a footer", () => {
    for (const capacityBytes of [SST_FOOTER_BYTES - 1, 1.5, Number.NaN, -1, 2 ** 32 + 1]) {
      assert.throws(() => new SstBuilder({ capacityBytes }), ValidationError, `capacityBytes ${capacityBytes}`);
    }
    assert.doesNotThrow(() => new SstBuilder({ capacityBytes: SST_FOOTER_BYTES }));
  });

  it("SstSizeBound bounds the SST of any ordered subset of the entries it saw, at any block size", () => {
    fc.assert(
      fc.property(fc.array(entryArbitrary, { minLength: 1, maxLength: 250 }), blockBytesArbitrary, fc.infiniteStream(fc.boolean()), (raw, blockBytes, keep) => {
        const entries = normalise(raw);
        const bound = boundOf(entries, blockBytes);
        const subset = entries.filter(() => keep.next().value === true);
        if (subset.length === 0) return;
        const { bytes, info } = build(subset, blockBytes, bound);
        assert.ok(bytes.length <= bound, `SST of ${bytes.length} bytes over its bound of ${bound}`);
        assert.equal(bytes.buffer.byteLength, bound, "written in the one buffer, never spilled into chunks");
        assert.deepEqual(decodeAll(bytes, info), subset);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("SstSizeBound stays close to the real size for stream records (it sizes every L0's buffer)", () => {
    for (const [bodyBytes, slack] of [
      [1024, 1.05],
      [100, 1.25],
    ] as const) {
      const entries = streamEntries(5000, bodyBytes);
      const size = build(entries, 16 * 1024).bytes.length;
      const bound = boundOf(entries, 16 * 1024);
      assert.ok(bound >= size && bound <= size * slack, `${bodyBytes} B bodies: bound ${bound} for an SST of ${size} bytes`);
    }
  });

  it("sizeBoundWith(entry) bounds the size finish() returns once the entry is added", () => {
    fc.assert(
      fc.property(fc.array(entryArbitrary, { minLength: 1, maxLength: 60 }), blockBytesArbitrary, (raw, blockBytes) => {
        const entries = normalise(raw);
        for (let last = 0; last < entries.length; last++) {
          const builder = new SstBuilder({ blockBytes });
          for (let i = 0; i < last; i++) builder.add(entries[i]!);
          const bound = builder.sizeBoundWith(entries[last]!);
          builder.add(entries[last]!);
          const size = builder.finish().bytes.length;
          assert.ok(size <= bound, `after ${last + 1} entries: SST of ${size} bytes over the bound of ${bound}`);
        }
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});

/** Remembers the size of each SST PUT and of the buffer under it. */
/** Every key and value of the log in `dir`, read by a new engine (from its SSTs, after a clean close). */
async function readBack(dir: string, options: EngineOptions): Promise<Map<string, string>> {
  const engine = await Engine.open(new LocalStore(dir), options);
  const read = new Map<string, string>();
  for await (const entry of engine.scan({})) read.set(Buffer.from(entry.key).toString(), Buffer.from(entry.value!).toString());
  await engine.close();
  return read;
}

/** A LocalStore that notes the ArrayBuffer of every SST PUT. */
class SstBufferRecorder extends LocalStore {
  readonly sstBuffers: ArrayBufferLike[] = [];
  readonly bufferOf = new Map<string, ArrayBufferLike>();
  override put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    if (key.startsWith("sst/")) this.sstBuffers.push(body.buffer);
    if (key.startsWith("sst/")) this.bufferOf.set(key, body.buffer);
    return super.put(key, body, condition);
  }
}

class SstPutRecorder implements ObjectStore {
  readonly puts: { key: string; bytes: number; bufferBytes: number }[] = [];
  constructor(private readonly inner: ObjectStore) {}
  get = (key: string, range?: { offset: number; length?: number }) => this.inner.get(key, range);
  head = (key: string) => this.inner.head(key);
  delete = (key: string) => this.inner.delete(key);
  list = (prefix: string, options?: { startAfter?: string }) => this.inner.list(prefix, options);
  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    if (key.startsWith("sst/")) this.puts.push({ key, bytes: body.length, bufferBytes: body.buffer.byteLength });
    return this.inner.put(key, body, condition);
  }
}

describe("compaction outputs and maxSstBytes (issue 5)", () => {
  it("every SST stays within maxSstBytes and is PUT from a buffer no larger, where an output used to overshoot by its last entry", async () => {
    const maxSstBytes = 16 * 1024;
    const options: EngineOptions = { flushIntervalMs: 0, l0SstBytes: 8 * 1024, sstBlockBytes: 512, maxSstBytes, l0CompactionTrigger: 2, gcIntervalMs: 0, gcGraceMs: 0 };
    const store = new SstPutRecorder(new MemoryStore());
    const engine = await Engine.open(store, options);
    const written = new Map<string, number>();
    for (let i = 0; i < 120; i++) {
      // Values of 1.5 to 3.5 KiB: an SST rarely ends exactly at the limit.
      const key = `k${String((i * 37) % 97).padStart(3, "0")}`;
      const valueBytes = 1536 + ((i * 613) % 2048);
      written.set(key, valueBytes);
      await engine.whenDurable(engine.write([{ type: "put", key: Buffer.from(key), value: new Uint8Array(valueBytes).fill(i % 251) }]));
    }
    await engine.flushMemtables();
    await engine.compactor.idle();
    const runs = engine.epoch?.manifest.manifest.runs ?? [];
    assert.ok(runs.some((run) => run.ssts.length > 1), "some compaction wrote more than one output");
    for (const put of store.puts) {
      assert.ok(put.bytes <= maxSstBytes, `${put.key}: ${put.bytes} bytes, over maxSstBytes ${maxSstBytes}`);
      assert.ok(put.bufferBytes <= maxSstBytes, `${put.key}: PUT from a buffer of ${put.bufferBytes} bytes`);
    }
    const read = new Map<string, number>();
    for await (const entry of engine.scan({})) read.set(Buffer.from(entry.key).toString(), entry.value.length);
    assert.deepEqual(read, written);
    await engine.close();
  });

  it("an entry larger than maxSstBytes gets an output of its own, built in a buffer its size", async () => {
    const maxSstBytes = 8 * 1024;
    const options: EngineOptions = { flushIntervalMs: 0, l0SstBytes: 64 * 1024, sstBlockBytes: 512, maxSstBytes, l0CompactionTrigger: 2, gcIntervalMs: 0, gcGraceMs: 0 };
    const store = new SstPutRecorder(new MemoryStore());
    const engine = await Engine.open(store, options);
    for (const flush of [0, 1]) {
      for (let i = 0; i < 10; i++) engine.write([{ type: "put", key: Buffer.from(`a${flush}${i}`), value: new Uint8Array(1000) }]);
      engine.write([{ type: "put", key: Buffer.from(`m${flush}`), value: new Uint8Array(40_000) }]);
      for (let i = 0; i < 10; i++) engine.write([{ type: "put", key: Buffer.from(`z${flush}${i}`), value: new Uint8Array(1000) }]);
      await engine.flushMemtables();
    }
    await engine.compactor.idle();
    const outputs = (engine.epoch?.manifest.manifest.runs ?? []).flatMap((run) => run.ssts);
    const big = outputs.filter((handle) => handle.info.sizeBytes > maxSstBytes);
    assert.equal(big.length, 2, "one output for each large entry");
    for (const handle of big) {
      assert.equal(handle.info.entryCount, 1);
      const put = store.puts.find((p) => p.key === sstKey(handle.id));
      assert.ok(put !== undefined && put.bufferBytes < put.bytes + 256, `PUT from a buffer of ${put?.bufferBytes} bytes for ${put?.bytes}`);
    }
    assert.ok(outputs.length > 2 && outputs.every((handle) => handle.info.sizeBytes <= maxSstBytes || handle.info.entryCount === 1));
    await engine.close();
  });
});

describe("L0 output buffers kept between flushes (SstBufferPool)", () => {
  it("an SST built in a reused buffer holding an older SST's bytes, anywhere in its ArrayBuffer, is the same SST, byte for byte", () => {
    fc.assert(
      fc.property(fc.array(entryArbitrary, { minLength: 1, maxLength: 150 }), blockBytesArbitrary, fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 4096 }), (raw, blockBytes, fill, offset) => {
        const entries = normalise(raw);
        const fresh = build(entries, blockBytes, boundOf(entries, blockBytes));
        // At an offset, as LocalStore.allocatePutBuffer hands out aligned parts of larger buffers.
        const dirty = new Uint8Array(Buffer.allocUnsafeSlow(offset + boundOf(entries, blockBytes) + 100).buffer, offset).fill(fill);
        const builder = new SstBuilder({ blockBytes, buffer: dirty });
        for (const entry of entries) builder.add(entry);
        const reused = builder.finish();
        assert.equal(reused.bytes.buffer, dirty.buffer, "built in the buffer it was given");
        assert.deepEqual(Buffer.from(reused.bytes), Buffer.from(fresh.bytes));
        assert.deepEqual(reused.info, fresh.info);
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it("hands its buffer to one flush at a time, keeps it only after a PUT, and drops it when idle", async () => {
    const clock = new ManualClock();
    const pool = new SstBufferPool(clock);
    const first = pool.take(1000);
    assert.ok(first.length >= 1000);
    assert.throws(() => pool.take(10), /one L0 is built at a time/);
    pool.give(first);
    assert.equal(pool.take(900), first, "the kept buffer serves the next flush");
    pool.forget(); // that flush failed: its PUT may still read the buffer
    assert.equal(pool.holdsBytes, 0);
    const bigger = pool.take(2000);
    assert.notEqual(bigger, first);
    pool.give(bigger);
    await clock.advance(SST_BUFFER_IDLE_MS - 1);
    assert.equal(pool.holdsBytes, bigger.length);
    await clock.advance(1);
    assert.equal(pool.holdsBytes, 0, "dropped after SST_BUFFER_IDLE_MS without a flush");
    const again = pool.take(10);
    pool.close();
    pool.give(again);
    assert.equal(pool.holdsBytes, 0, "a closed pool keeps nothing");
  });

  it("prepares a buffer ahead (pages faulted in on the thread pool), hands it out only once ready, and never two", async () => {
    const clock = new ManualClock();
    const pool = new SstBufferPool(clock);
    pool.prepare(4096);
    pool.prepare(8192); // one at a time
    const during = pool.take(1000); // while it is prepared: a fresh one, never the one being written
    await pool.whenPrepared();
    assert.equal(pool.holdsBytes, 0, "a buffer taken meanwhile: the prepared one is dropped");
    pool.give(during);
    assert.equal(pool.holdsBytes, during.length);
    pool.prepare(1 << 20);
    await pool.whenPrepared();
    assert.equal(pool.holdsBytes, during.length, "nothing is prepared while a buffer is kept");
    assert.equal(pool.take(1000), during);
    pool.give(during);
    await clock.advance(SST_BUFFER_IDLE_MS);
    assert.equal(pool.holdsBytes, 0);
    pool.prepare(1 << 20);
    await pool.whenPrepared();
    assert.ok(pool.holdsBytes >= 1 << 20, "the prepared buffer is kept");
    const prepared = pool.take(1 << 20);
    assert.ok(prepared.length >= 1 << 20);
    if (process.platform !== "win32") assert.ok(prepared.every((byte) => byte === 0), "faulted in by reading /dev/zero into it");
    pool.give(prepared);
    await clock.advance(SST_BUFFER_IDLE_MS);
    assert.equal(pool.holdsBytes, 0, "a prepared buffer idles out like any other");
    pool.close();
  });

  it("on a LocalStore, every L0 after the first is built in the first one's buffer, and reads back whole after reopen", async () => {
    const dir = await makeTempDir("sst-buffers");
    const local = new SstBufferRecorder(dir); // a LocalStore (the pool is used only for one)
    const options: EngineOptions = { l0SstBytes: 64 * 1024, sstBlockBytes: 1024, l0CompactionTrigger: 64, gcIntervalMs: 0, gcGraceMs: 0, walMode: "segments" };
    const engine = await Engine.open(local, options);
    const written = await writeFourL0s(engine);
    assert.equal(engine.epoch?.manifest.manifest.l0.length, 4);
    assert.equal(local.sstBuffers.length, 4);
    assert.ok(local.sstBuffers.every((buffer) => buffer === local.sstBuffers[0]), "one buffer served every L0");
    await engine.close();
    assert.deepEqual(await readBack(dir, options), written);
  });

  it("on a LocalStore, a compaction on the engine's thread builds all its outputs in one buffer", async () => {
    const dir = await makeTempDir("sst-buffers-compaction");
    const local = new SstBufferRecorder(dir);
    const options: EngineOptions = { l0SstBytes: 64 * 1024, sstBlockBytes: 1024, maxSstBytes: 8 * 1024, l0CompactionTrigger: 2, compactionThread: "main", gcIntervalMs: 0, gcGraceMs: 0, walMode: "segments" };
    const engine = await Engine.open(local, options);
    const written = await writeTwoOverlappingL0s(engine);
    await engine.compactor.idle();
    const outputs = (engine.epoch?.manifest.manifest.runs ?? []).flatMap((run) => run.ssts);
    assert.ok(outputs.length >= 4, `${outputs.length} outputs of at most 8 KiB`);
    const buffers = new Set(outputs.map((handle) => local.bufferOf.get(sstKey(handle.id))));
    assert.equal(buffers.size, 1, `${outputs.length} outputs built in ${buffers.size} buffers`);
    await engine.close();
    assert.deepEqual(await readBack(dir, options), written);
  });
});
