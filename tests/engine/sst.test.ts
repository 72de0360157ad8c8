/**
 * SST format and reader: round trips against a sorted-array model (fast-check, seeded), lazy
 * reading, readahead and the GET kept running ahead of a long scan proven by counting the
 * store's GETs, chunks joined from the blocks at hand, corruption of every region, the golden
 * file, and SstInfo validation. Block cache behaviour is in block-cache.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CorruptionError, InternalError, NotFoundError, StorageError, ValidationError } from "../../src/errors.js";
import { BlockCache } from "../../src/engine/block-cache.js";
import { compareEntries, compareKeys, inRange, type Entry, type KeyRange } from "../../src/engine/entry.js";
import {
  DataBlock,
  decodeIndex,
  RESTART_INTERVAL,
  SST_FOOTER_BYTES,
  SstBuilder,
  sstInfoFromJson,
  sstInfoToJson,
  verifyStoredBlock,
  type BlockHandle,
  type SstInfo,
} from "../../src/engine/sst-format.js";
import { isScanPrivate, SstReader, type SstScanOptions } from "../../src/engine/sst-reader.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";
import { checksum32 } from "../../src/util/checksum.js";
import { SST_BULK_SCAN_FREE_BUFFERS, SST_SCAN_CHUNK_ENTRIES } from "../../src/limits.js";
import { hexDump } from "../helpers/hex-dump.js";

const SEED = 20_240_601;
const KEY = "sst/00000000000000000001";

/** Passes every call to `inner`; the doubles below override what they watch. */
abstract class ForwardingStore implements ObjectStore {
  abstract readonly inner: ObjectStore;
  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.inner.get(key, range);
  }
  head(key: string): Promise<ObjectInfo> {
    return this.inner.head(key);
  }
  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    return this.inner.put(key, body, condition);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    return this.inner.list(prefix, options);
  }
}

/** A MemoryStore that counts reads, so tests can prove what a reader fetched. */
class CountingStore extends ForwardingStore {
  readonly inner = new MemoryStore();
  gets = 0;
  getBytes = 0;
  heads = 0;
  readonly ranges: ByteRange[] = [];

  override async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.gets++;
    if (range !== undefined) this.ranges.push(range);
    const bytes = await this.inner.get(key, range);
    this.getBytes += bytes.length;
    return bytes;
  }
  override head(key: string): Promise<ObjectInfo> {
    this.heads++;
    return this.inner.head(key);
  }
  resetCounts(): void {
    this.gets = 0;
    this.getBytes = 0;
    this.heads = 0;
    this.ranges.length = 0;
  }
}

const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"));

function build(entries: readonly Entry[], blockBytes?: number): { bytes: Uint8Array; info: SstInfo } {
  const builder = new SstBuilder(blockBytes === undefined ? {} : { blockBytes });
  for (const entry of entries) builder.add(entry);
  return builder.finish();
}

async function stored(bytes: Uint8Array): Promise<CountingStore> {
  const store = new CountingStore();
  await store.put(KEY, bytes);
  return store;
}

function open(store: ObjectStore, info?: SstInfo, cache = new BlockCache({ maxBytes: 64 * 1024 * 1024 })): Promise<SstReader> {
  return SstReader.open(info === undefined ? { store, objectKey: KEY, cache } : { store, objectKey: KEY, info, cache });
}

async function collect(iterable: AsyncIterable<Entry>, limit = Infinity): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const entry of iterable) {
    out.push(entry);
    if (out.length >= limit) break;
  }
  return out;
}

/** The model: sorted entries filtered by range; reverse = keys descending, versions newest first. */
function modelScan(sorted: readonly Entry[], range: KeyRange, reverse: boolean): Entry[] {
  const hits = sorted.filter((entry) => inRange(entry.key, range));
  if (!reverse) return hits;
  const groups: Entry[][] = [];
  for (const entry of hits) {
    const last = groups[groups.length - 1];
    if (last !== undefined && compareKeys(last[0]!.key, entry.key) === 0) last.push(entry);
    else groups.push([entry]);
  }
  return groups.reverse().flat();
}

/** Sorts and removes duplicate (key, seq) pairs: a valid SST input. */
function normalise(entries: readonly Entry[]): Entry[] {
  // Plain objects: fast-check's records have a null prototype, which deepEqual tells apart.
  const sorted = entries.map(({ key, seq, value, expireAtMs }) => ({ key, seq, value, expireAtMs })).sort(compareEntries);
  return sorted.filter((entry, i) => i === 0 || compareEntries(sorted[i - 1]!, entry) !== 0);
}

/** A key shaped like a stream record's: `05 streamId(u64) seq(u64)`. */
function recordKey(i: number): Uint8Array {
  const key = Buffer.alloc(17);
  key[0] = 5;
  key.writeBigUInt64BE(7n, 1);
  key.writeBigUInt64BE(BigInt(i), 9);
  return new Uint8Array(key);
}

/** Stream-record-like entries with fixed-size values. */
function recordEntries(count: number, valueBytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({ key: recordKey(i), seq: i + 1, value: new Uint8Array(valueBytes).fill(i % 251), expireAtMs: 0 }));
}

async function assertCorrupt(promise: Promise<unknown>, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CorruptionError, `expected CorruptionError, got ${String(error)}`);
    assert.equal(error.key, KEY);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  });
}

const entryArbitrary: fc.Arbitrary<Entry> = fc.record({
  // A 3-letter alphabet and short keys give many shared prefixes and many versions per key.
  key: fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 5, min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
  seq: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
  value: fc.option(fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 2000 }) }), { nil: null, freq: 5 }),
  expireAtMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
});

const rangeBoundArbitrary = fc.option(fc.uint8Array({ minLength: 1, maxLength: 5, min: 0, max: 2 }), { nil: undefined, freq: 4 });

describe("SST round trips", () => {
  it("scans of random ranges, both directions, match a sorted-array model (with and without SstInfo)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArbitrary, { minLength: 1, maxLength: 300 }),
        fc.constantFrom(32, 64, 200, 1024, 4096),
        fc.array(fc.record({ start: rangeBoundArbitrary, end: rangeBoundArbitrary, reverse: fc.boolean(), readaheadBytes: fc.constantFrom(0, 100, 4096) }), { minLength: 1, maxLength: 6 }),
        async (raw, blockBytes, scans) => {
          const entries = normalise(raw);
          const { bytes, info } = build(entries, blockBytes);
          const store = await stored(bytes);
          for (const reader of [await open(store, info), await open(store)]) {
            assert.deepEqual(reader.info, info);
            assert.deepEqual(await collect(reader.entries()), entries);
            for (const { start, end, reverse, readaheadBytes } of scans) {
              const range: KeyRange = {};
              if (start !== undefined) range.start = start;
              if (end !== undefined) range.end = end;
              const got = await collect(reader.scan(range, { reverse, readaheadBytes }));
              assert.deepEqual(got, modelScan(entries, range, reverse));
              const chunks: Entry[][] = [];
              for await (const chunk of reader.scanChunks(range, { reverse, readaheadBytes })) chunks.push(chunk);
              assert.ok(chunks.every((chunk) => chunk.length > 0), "no empty chunks");
              assert.deepEqual(chunks.flat(), got);
            }
          }
        },
      ),
      { seed: SEED, numRuns: 120 },
    );
  });

  it("SstInfo summarises the entries: count, key range, seq range, earliest expiry", async () => {
    await fc.assert(
      fc.property(fc.array(entryArbitrary, { minLength: 1, maxLength: 100 }), (raw) => {
        const entries = normalise(raw);
        const { info } = build(entries, 128);
        const seqs = entries.map((entry) => entry.seq);
        const expiries = entries.map((entry) => entry.expireAtMs).filter((ms) => ms !== 0);
        assert.equal(info.entryCount, entries.length);
        assert.equal(info.firstKey, Buffer.from(entries[0]!.key).toString("base64"));
        assert.equal(info.lastKey, Buffer.from(entries[entries.length - 1]!.key).toString("base64"));
        assert.equal(info.minSeq, Math.min(...seqs));
        assert.equal(info.maxSeq, Math.max(...seqs));
        assert.equal(info.minExpireAtMs, expiries.length === 0 ? undefined : Math.min(...expiries));
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it("preserves tombstones, expiry times, empty values and u64-sized seqs", async () => {
    const entries: Entry[] = [
      { key: utf8("a"), seq: Number.MAX_SAFE_INTEGER, value: null, expireAtMs: 0 },
      { key: utf8("a"), seq: 5, value: new Uint8Array(0), expireAtMs: Number.MAX_SAFE_INTEGER },
      { key: utf8("b"), seq: 2 ** 32 + 1, value: null, expireAtMs: 1_700_000_000_000 },
      { key: utf8("c"), seq: 1, value: utf8("v"), expireAtMs: 1 },
    ];
    const { bytes, info } = build(entries);
    assert.deepEqual(await collect((await open(await stored(bytes), info)).entries()), entries);
  });

  it("decodes value lengths of one, two and three varint bytes at their edges (the two-byte fast path)", async () => {
    const sizes = [0, 1, 127, 128, 129, 1024, 16_383, 16_384, 70_000];
    const entries = sizes.map((size, i) => ({ key: recordKey(i), seq: i + 1, value: new Uint8Array(size).fill(i + 1), expireAtMs: 0 }));
    const { bytes, info } = build(entries, 4096);
    assert.deepEqual(await collect((await open(await stored(bytes), info)).entries()), entries);
  });

  it("refuses a non-canonical two-byte value length (81 00 for 1) like any other bad varint", () => {
    // One row: shared 0, unshared 1, key 'k', seq 1, flags 0, value length 81 00, value 'v'; one restart at 0.
    const row = [0, 1, 0x6b, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x81, 0x00, 0x76];
    const payload = new Uint8Array([...row, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.throws(() => new DataBlock(KEY, 0, payload).cursor().next(), (error: unknown) => error instanceof CorruptionError && /bad value length/.test(error.message));
    const canonical = new Uint8Array([...row.slice(0, 12), 0x01, 0x76, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(new DataBlock(KEY, 0, canonical).cursor().next()?.value, utf8("v"));
  });

  it("reverse scans yield keys descending but each key's versions newest first, across block boundaries", async () => {
    const entries: Entry[] = [];
    for (const key of ["a", "b", "c"]) {
      for (let seq = 30; seq >= 1; seq--) entries.push({ key: utf8(key), seq, value: utf8(`${key}${seq}`), expireAtMs: 0 });
    }
    const { bytes, info } = build(entries, 64); // a few versions per block: every key straddles blocks
    const reader = await open(await stored(bytes), info);
    assert.ok(reader.blockCount > 10);
    const got = await collect(reader.scan({}, { reverse: true }));
    const expected = ["c", "b", "a"].flatMap((key) => entries.filter((entry) => Buffer.from(entry.key).toString() === key));
    assert.deepEqual(got, expected);
    assert.deepEqual(got.slice(0, 3).map((entry) => entry.seq), [30, 29, 28]);
    const bounded = await collect(reader.scan({ start: utf8("b"), end: utf8("c") }, { reverse: true }));
    assert.deepEqual(bounded, entries.slice(30, 60));
  });

  it("a seek to a key with more versions than a restart interval starts at its newest version", async () => {
    const versions = (key: string, count: number): Entry[] =>
      Array.from({ length: count }, (_, i) => ({ key: utf8(key), seq: count - i, value: utf8(`${key}${i}`), expireAtMs: 0 }));
    const entries = [...versions("k", 5), ...versions("m", 3 * RESTART_INTERVAL), ...versions("p", 5)];
    const { bytes, info } = build(entries, 4096);
    const reader = await open(await stored(bytes), info);
    assert.equal(reader.blockCount, 1, "one block, several restart points inside the versions of m");
    assert.deepEqual(await collect(reader.scan({ start: utf8("m"), end: utf8("n") })), entries.slice(5, 5 + 3 * RESTART_INTERVAL));
    assert.deepEqual(await collect(reader.scan({ start: utf8("l") }), 1), [entries[5]]);
  });

  it("gives a single entry larger than a block a block of its own, and keeps other blocks near blockBytes", async () => {
    const small = (i: number): Entry => ({ key: utf8(`k${String(i).padStart(4, "0")}`), seq: 1, value: new Uint8Array(20), expireAtMs: 0 });
    const entries = [small(1), small(2), { ...small(3), value: new Uint8Array(10_000) }, small(4), small(5)];
    const { bytes, info } = build(entries, 256);
    const handles = indexHandles(bytes, info);
    const big = handles.find((handle) => handle.length > 256);
    assert.ok(big !== undefined);
    assert.deepEqual(Buffer.from(big.firstKey).toString(), "k0003");
    assert.deepEqual(Buffer.from(big.lastKey).toString(), "k0003");
    const huge = [small(1), { ...small(2), value: new Uint8Array(300_000).fill(7) }, small(3)]; // larger than an output chunk
    const hugeSst = build(huge, 256);
    assert.deepEqual(await collect((await open(await stored(hugeSst.bytes), hugeSst.info)).entries()), huge);
    const many = build(recordEntries(500, 30), 512);
    for (const handle of indexHandles(many.bytes, many.info)) assert.ok(handle.length <= 512, `block of ${handle.length} bytes`);
  });

  it("puts a restart point every 16 rows and estimates its size closely", () => {
    const entries = recordEntries(5000, 10);
    const builder = new SstBuilder({ blockBytes: 8192 });
    for (const entry of entries) builder.add(entry);
    const estimate = builder.estimatedBytes;
    const { bytes, info } = builder.finish();
    assert.ok(Math.abs(estimate - bytes.length) / bytes.length < 0.02, `estimate ${estimate} vs ${bytes.length}`);
    const handle = indexHandles(bytes, info)[0]!;
    const block = new DataBlock(KEY, 0, verifyStoredBlock(KEY, 0, bytes.subarray(handle.offset, handle.offset + handle.length)));
    const rows = block.decodeAll().length;
    assert.equal(block.restartCount, Math.ceil(rows / RESTART_INTERVAL));
    for (let r = 1; r < block.restartCount; r++) assert.ok(block.restartOffset(r) > block.restartOffset(r - 1));
  });
});

/** The decoded index handles of an SST built in memory (no store involved). */
function indexHandles(bytes: Uint8Array, info: SstInfo): BlockHandle[] {
  const payload = verifyStoredBlock(KEY, info.indexOffset, bytes.subarray(info.indexOffset, info.indexOffset + info.indexLength));
  return decodeIndex(KEY, payload, info.indexOffset).handles;
}

describe("SST seeks and lazy reading", () => {
  it("a seek lands on the first entry at or after its start key, with many blocks and one GET each", async () => {
    for (const blockBytes of [256, 4096]) {
      const entries = recordEntries(2000, 30);
      const { bytes, info } = build(entries, blockBytes);
      const store = await stored(bytes);
      const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
      assert.ok(reader.blockCount >= (blockBytes === 256 ? 300 : 20), `${reader.blockCount} blocks`);
      for (let i = 0; i < 2000; i += 37) {
        store.resetCounts();
        const [exact] = await collect(reader.scan({ start: recordKey(i) }), 1);
        assert.deepEqual(exact, entries[i]);
        assert.equal(store.gets, 1, "a seek fetches one block");
        const between = new Uint8Array([...recordKey(i), 0]); // sorts after key i, before key i + 1
        const [next] = await collect(reader.scan({ start: between }), 1);
        assert.deepEqual(next, entries[i + 1]);
        const [before] = await collect(reader.scan({ end: between }, { reverse: true }), 1);
        assert.deepEqual(before, entries[i]);
      }
      assert.deepEqual(await collect(reader.scan({ start: new Uint8Array([4]) }), 1), [entries[0]]);
      assert.deepEqual(await collect(reader.scan({ start: new Uint8Array([6]) })), []);
      assert.deepEqual(await collect(reader.scan({ end: new Uint8Array([5]) })), []);
    }
  });

  it("opening with SstInfo costs one ranged GET (index and footer); without it a HEAD and two GETs", async () => {
    const { bytes, info } = build(recordEntries(10_000, 100));
    const store = await stored(bytes);
    await open(store, info);
    assert.deepEqual([store.heads, store.gets, store.getBytes], [0, 1, info.indexLength + SST_FOOTER_BYTES]);
    store.resetCounts();
    await open(store);
    assert.deepEqual([store.heads, store.gets, store.getBytes], [1, 2, info.indexLength + SST_FOOTER_BYTES]);
    store.resetCounts();
    const cache = new BlockCache({ maxBytes: 1024 * 1024 });
    await open(store, info, cache);
    await open(store, info, cache);
    assert.equal(store.gets, 1, "the index comes from the cache the second time");
  });

  it("a scan of a small range of a 10,000-entry SST fetches only the blocks that hold it", async () => {
    const entries = recordEntries(10_000, 100);
    const { bytes, info } = build(entries, 4096);
    const store = await stored(bytes);
    const reader = await open(store, info);
    assert.ok(reader.blockCount > 200);
    store.resetCounts();
    const got = await collect(reader.scan({ start: recordKey(5000), end: recordKey(5010) }));
    assert.deepEqual(got, entries.slice(5000, 5010));
    assert.ok(store.gets <= 2, `${store.gets} GETs`);
    assert.ok(store.getBytes <= 2 * 4096, `${store.getBytes} bytes read of ${bytes.length}`);
  });

  it("creating a scan fetches nothing, and stopping it early fetches no more", async () => {
    const entries = recordEntries(10_000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info);
    store.resetCounts();
    const iterator = reader.scan({})[Symbol.asyncIterator]();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.gets, 0);
    for (let i = 0; i < 5; i++) assert.deepEqual((await iterator.next()).value, entries[i]);
    await iterator.return?.();
    assert.deepEqual([store.gets, store.getBytes], [1, reader.blockHandles[0]!.length], "one block for five entries");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.gets, 1);
    assert.deepEqual(await iterator.next(), { done: true, value: undefined });
    assert.equal(store.gets, 1);
  });

  it("a full scan reads each block once, in GETs that grow from one block to readaheadBytes", async () => {
    const entries = recordEntries(50_000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info);
    store.resetCounts();
    let count = 0;
    for await (const entry of reader.entries()) assert.equal(entry.seq, ++count);
    assert.equal(count, entries.length);
    assert.equal(store.getBytes, info.indexOffset, "every data byte exactly once");
    const lengths = store.ranges.map((range) => range.length ?? 0);
    assert.equal(lengths[0], reader.blockHandles[0]!.length);
    for (let i = 1; i < lengths.length; i++) {
      assert.ok(lengths[i]! <= 1024 * 1024, `GET ${i} of ${lengths[i]} bytes`);
      if (i < lengths.length - 1) assert.ok(lengths[i]! > lengths[i - 1]! || lengths[i]! > 1000 * 1024, `GET ${i} did not grow`);
    }
    assert.ok(lengths.length <= 9 + Math.ceil(info.indexOffset / (1000 * 1024)), `${lengths.length} GETs for ${reader.blockCount} blocks`);
    store.resetCounts();
    assert.equal((await collect(reader.entries())).length, entries.length);
    assert.equal(store.gets, 0, "a second scan is served by the cache");
  });

  it("readahead does not fetch blocks that are already cached", async () => {
    const entries = recordEntries(20_000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info);
    await collect(reader.scan({ start: recordKey(10_000), end: recordKey(10_100) })); // warms a few blocks
    const warmBytes = store.getBytes - (info.indexLength + SST_FOOTER_BYTES);
    store.resetCounts();
    assert.equal((await collect(reader.entries())).length, entries.length);
    assert.equal(store.getBytes, info.indexOffset - warmBytes);
  });

  it("fillCache: false reads through the cache without filling it", async () => {
    const entries = recordEntries(5000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const cache = new BlockCache({ maxBytes: 64 * 1024 * 1024 });
    const reader = await open(store, info, cache);
    await collect(reader.scan({ start: recordKey(100), end: recordKey(101) })); // caches one block
    const before = cache.stats();
    assert.equal(before.entries, 2, "the index and one data block");
    store.resetCounts();
    assert.deepEqual(await collect(reader.entries({ fillCache: false })), entries);
    assert.equal(cache.stats().entries, 2);
    assert.equal(cache.stats().hits, before.hits + 1, "the cached block was still used");
    assert.equal(store.getBytes, info.indexOffset - reader.blockHandles.find((h) => compareKeys(h.lastKey, recordKey(100)) >= 0)!.length);
  });

  it("fillCache: false hands out values the caller may change: the cache and later scans never see it", async () => {
    const entries = recordEntries(5000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info);
    await collect(reader.scan({ start: recordKey(100), end: recordKey(101) })); // caches one block
    for (const reverse of [false, true]) {
      for await (const chunk of reader.scanChunks({}, { fillCache: false, reverse })) {
        for (const entry of chunk) entry.value!.fill(0xee);
      }
    }
    assert.deepEqual(await collect(reader.entries()), entries);
  });

  it("readaheadBytes 0 reads one block per GET; reverse scans read ahead backwards", async () => {
    const entries = recordEntries(5000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    let reader = await open(store, info);
    store.resetCounts();
    assert.equal((await collect(reader.scan({}, { readaheadBytes: 0 }))).length, entries.length);
    assert.equal(store.gets, reader.blockCount);
    reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
    store.resetCounts();
    const reversed = await collect(reader.scan({}, { reverse: true }));
    assert.deepEqual(reversed, [...entries].reverse());
    assert.ok(store.gets < reader.blockCount / 4, `${store.gets} GETs for ${reader.blockCount} blocks`);
    assert.equal(store.getBytes, info.indexOffset);
  });

  it("joins the blocks at hand into chunks of up to SST_SCAN_CHUNK_ENTRIES entries, handing a chunk on before each fetch", async () => {
    const entries = recordEntries(5 * SST_SCAN_CHUNK_ENTRIES, 1000); // three or four entries per 4 KiB block
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info);
    store.resetCounts();
    const chunks: Entry[][] = [];
    const getsAtChunk: number[] = [];
    for await (const chunk of reader.scanChunks({})) {
      chunks.push(chunk);
      getsAtChunk.push(store.gets);
    }
    assert.deepEqual(chunks.flat(), entries);
    assert.ok(chunks.every((chunk) => chunk.length > 0 && chunk.length < SST_SCAN_CHUNK_ENTRIES + 4), "each chunk stops at SST_SCAN_CHUNK_ENTRIES entries (plus the rest of its last block)");
    assert.ok(chunks.length <= Math.ceil(entries.length / SST_SCAN_CHUNK_ENTRIES) + store.gets, `${chunks.length} chunks for ${reader.blockCount} blocks in ${store.gets} GETs`);
    assert.ok(chunks.some((chunk) => chunk.length >= SST_SCAN_CHUNK_ENTRIES), "blocks at hand are joined up to the bound");
    // The first GET brings one block: its entries are handed on before the scan waits for the second.
    assert.equal(chunks[0]!.length, entries.filter((entry) => compareKeys(entry.key, reader.blockHandles[0]!.lastKey) <= 0).length);
    assert.equal(getsAtChunk[0], 1);
  });

  it("a long scan keeps the next GET running while it decodes the current run, and reads each byte once", async () => {
    const entries = recordEntries(20_000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
    const readaheadBytes = 16 * 1024;
    store.resetCounts();
    const getsAtEntry: number[] = [];
    for await (const entry of reader.scan({}, { readaheadBytes })) getsAtEntry[entry.seq - 1] = store.gets;
    assert.equal(store.getBytes, info.indexOffset, "every data byte exactly once");
    // For each GET of a full run (but the last), the first entry of its first block: had a later GET started?
    const handles = reader.blockHandles;
    const getOfBlock = handles.map((handle) => store.ranges.findIndex((range) => range.offset! <= handle.offset && handle.offset < range.offset! + range.length!));
    let block = 0;
    let fullRuns = 0;
    let laggingRuns = 0;
    for (let i = 0; i < entries.length; i++) {
      if (compareKeys(handles[block]!.lastKey, entries[i]!.key) < 0) block++;
      else if (i > 0) continue; // not the first entry of a block
      const getIndex = getOfBlock[block]!;
      const firstOfRun = block === 0 || getOfBlock[block - 1] !== getIndex;
      if (!firstOfRun || store.ranges[getIndex]!.length! < readaheadBytes / 2 || getIndex === store.ranges.length - 1) continue;
      fullRuns++;
      if (getsAtEntry[i]! <= getIndex + 1) laggingRuns++;
    }
    assert.ok(fullRuns > 20, `${fullRuns} full runs`);
    assert.equal(laggingRuns, 0, "the next GET had started when the scan entered each full run");
  });

  it("a long scan goes on reading ahead while the consumer holds a chunk, up to three runs in all", async () => {
    const entries = recordEntries(20_000, 100);
    const { bytes, info } = build(entries, 2048);
    const store = await stored(bytes);
    const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
    const readaheadBytes = 16 * 1024;
    store.resetCounts();
    const handles = reader.blockHandles;
    const requestedBytes = (): number => store.ranges.reduce((sum, range) => sum + range.length!, 0);
    let block = 0;
    let mostAheadBytes = 0;
    let getsWhileHeld = 0;
    for await (const chunk of reader.scanChunks({}, { readaheadBytes })) {
      // The scan is at the block of the chunk's last entry while the consumer holds the chunk.
      while (compareKeys(handles[block]!.lastKey, chunk[chunk.length - 1]!.key) < 0) block++;
      const getsBefore = store.gets;
      for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve)); // a consumer that takes a while
      getsWhileHeld += store.gets - getsBefore;
      mostAheadBytes = Math.max(mostAheadBytes, requestedBytes() - (handles[block]!.offset + handles[block]!.length));
    }
    assert.equal(store.getBytes, info.indexOffset, "every data byte exactly once");
    assert.ok(getsWhileHeld > 10, `${getsWhileHeld} GETs started while the consumer held a chunk`);
    assert.ok(mostAheadBytes > 1.5 * readaheadBytes, `at most ${mostAheadBytes} bytes requested ahead of the scan`);
    assert.ok(mostAheadBytes <= 3 * readaheadBytes, `${mostAheadBytes} bytes requested ahead of the scan`);
  });

  it("a GET run ahead that fails fails nothing: the scan reads those blocks again when it gets there", async () => {
    const entries = recordEntries(20_000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
    store.resetCounts();
    let failed = 0;
    const get = store.get.bind(store);
    store.get = async (key, range) => {
      if (store.gets === 8 && failed === 0) {
        failed++;
        store.gets++;
        throw new StorageError("injected: the GET run ahead fails once");
      }
      return get(key, range);
    };
    assert.deepEqual(await collect(reader.scan({}, { readaheadBytes: 16 * 1024 })), entries);
    assert.equal(failed, 1);
  });

  it("a scan stopped while a GET runs ahead starts no other, and that GET failing is no unhandled rejection", async () => {
    const entries = recordEntries(20_000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
    store.resetCounts();
    const held: (() => void)[] = [];
    const get = store.get.bind(store);
    store.get = (key, range) => {
      if (store.gets < 8) return get(key, range);
      store.gets++;
      return new Promise((_, reject) => held.push(() => reject(new StorageError("injected: fails after the scan stopped"))));
    };
    const got: Entry[] = [];
    for await (const entry of reader.scan({}, { readaheadBytes: 16 * 1024 })) {
      got.push(entry);
      if (held.length > 0) break; // the GET of the next run has started; this run is still at hand
    }
    assert.deepEqual(got, entries.slice(0, got.length));
    assert.equal(held.length, 1, "one GET was running ahead when the scan stopped");
    for (const reject of held) reject();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.gets, 9);
  });

  it("rejects a bad readaheadBytes when the scan starts", async () => {
    const { bytes, info } = build(recordEntries(10, 1));
    const reader = await open(await stored(bytes), info);
    const options = { readaheadBytes: -1 } as SstScanOptions;
    await assert.rejects(collect(reader.scan({}, options)), ValidationError);
  });
});

/**
 * A LocalStore that records the buffers `getInto` reads into (and forwards everything). With
 * `gated`, each getInto reads only once `openGates()` is called: its bytes land late, whenever
 * the test lets them.
 */
class IntoRecordingStore extends ForwardingStore {
  readonly buffers = new Set<ArrayBufferLike>();
  getIntos = 0;
  gets = 0;
  gated = false;
  readonly #gates: (() => void)[] = [];
  constructor(readonly inner: LocalStore) {
    super();
  }
  openGates(): void {
    for (const open of this.#gates.splice(0)) open();
  }
  override get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.gets++;
    return this.inner.get(key, range);
  }
  getInto(key: string, range: Required<ByteRange>, into: Uint8Array): Promise<Uint8Array> {
    this.getIntos++;
    this.buffers.add(into.buffer);
    if (!this.gated) return this.inner.getInto(key, range, into);
    return new Promise<void>((resolve) => this.#gates.push(resolve)).then(() => this.inner.getInto(key, range, into));
  }
}

/** Entries whose values are all different (the index in the first four bytes): a value showing another's bytes is caught. */
function distinctEntries(count: number, valueBytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => {
    const value = Buffer.alloc(valueBytes, i % 251);
    value.writeUInt32BE(i, 0);
    return { key: recordKey(i), seq: i + 1, value: new Uint8Array(value), expireAtMs: 0 };
  });
}

async function withLocalSst<T>(entries: readonly Entry[], fn: (store: IntoRecordingStore, info: SstInfo) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "durastream-sst-bulk-"));
  try {
    const store = new IntoRecordingStore(new LocalStore(dir));
    const { bytes, info } = build(entries);
    await store.put(KEY, bytes);
    return await fn(store, info);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("SST bulk scans (a stream's catch-up)", () => {
  // Runs of 8 blocks of 16 KiB; chunks of 1024 entries end in the middle of runs.
  const readaheadBytes = 128 * 1024;

  it("past its start reads into a few reused buffers, fills no cache, and every value it handed out stays as read", () => {
    const entries = distinctEntries(60_000, 40);
    return withLocalSst(entries, async (store, info) => {
      const cache = new BlockCache({ maxBytes: 64 * 1024 * 1024 });
      const reader = await open(store, info, cache);
      const kept: Entry[] = [];
      for (const reverse of [false, true]) {
        const before = cache.stats();
        store.buffers.clear();
        store.getIntos = 0;
        kept.length = 0;
        // Values are kept as handed out, not copied, while the scan goes on reading; the consumer
        // lets I/O complete between chunks (a buffer given back too early is then overwritten).
        for await (const chunk of reader.scanChunks({}, { bulk: true, readaheadBytes, reverse })) {
          kept.push(...chunk);
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.deepEqual(kept, reverse ? modelScan(entries, {}, true) : entries, `reverse ${reverse}`);
        assert.ok(kept.every((entry) => isScanPrivate(entry.value!)), "values are the scan's private copies");
        assert.ok(store.getIntos >= 20, `${store.getIntos} GETs into pooled buffers`);
        assert.ok(store.buffers.size <= SST_BULK_SCAN_FREE_BUFFERS + 1, `${store.buffers.size} buffers for ${store.getIntos} GETs`);
        const cachedBytes = cache.stats().bytes - before.bytes;
        assert.ok(cachedBytes <= 2 * readaheadBytes, `the scan cached ${cachedBytes} bytes: only its start`);
      }
    });
  });

  it("two bulk scans in step, a consumer keeping every value: none changes while the other scan reuses its buffers", () =>
    withLocalSst(distinctEntries(40_000, 40), async (store, info) => {
      const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
      const scans = [reader.scanChunks({}, { bulk: true, readaheadBytes })[Symbol.asyncIterator](), reader.scanChunks({}, { bulk: true, readaheadBytes })[Symbol.asyncIterator]()];
      const kept: Entry[][] = [[], []];
      const done = [false, false];
      while (!done[0] || !done[1]) {
        // Both pull at once: their GETs overlap; the values of both stay with the consumer.
        const steps = await Promise.all(scans.map((scan, i) => (done[i] ? undefined : scan.next())));
        steps.forEach((step, i) => {
          if (step === undefined) return;
          if (step.done === true) done[i] = true;
          else kept[i]!.push(...step.value);
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
      const expected = distinctEntries(40_000, 40);
      assert.deepEqual(kept[0], expected);
      assert.deepEqual(kept[1], expected);
      assert.ok(store.buffers.size <= 2 * (SST_BULK_SCAN_FREE_BUFFERS + 1), `${store.buffers.size} buffers for ${store.getIntos} GETs`);
    }));

  it("GETs that land late, while the consumer holds chunks that end inside runs: no buffer is reused before all its blocks were decoded", () =>
    // Tiny entries: a chunk of 1024 ends every two blocks, inside runs of 8. A GET ahead that
    // settles while the consumer holds a chunk starts the next one at once; a buffer given back
    // after its first block only would be taken then, and overwritten while blocks of it wait.
    withLocalSst(distinctEntries(100_000, 4), async (store, info) => {
      const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
      store.gated = true;
      const tick = () => new Promise((resolve) => setImmediate(resolve));
      const scan = reader.scanChunks({}, { bulk: true, readaheadBytes })[Symbol.asyncIterator]();
      const kept: Entry[] = [];
      for (;;) {
        store.openGates(); // while the consumer holds the last chunk: reads land, GETs ahead settle
        await tick();
        await tick();
        let settled = false;
        const next = scan.next();
        next.then(() => (settled = true), () => (settled = true));
        while (!settled) {
          store.openGates();
          await tick();
        }
        const step = await next;
        if (step.done === true) break;
        kept.push(...step.value);
      }
      assert.equal(kept.length, 100_000);
      assert.deepEqual(kept, distinctEntries(100_000, 4));
      assert.ok(store.getIntos >= 10, `${store.getIntos} GETs into pooled buffers`);
    }));

  it("on a store without getInto, reads with get and still fills no cache past its start", async () => {
    const entries = distinctEntries(20_000, 100);
    const { bytes, info } = build(entries);
    const store = await stored(bytes);
    const cache = new BlockCache({ maxBytes: 64 * 1024 * 1024 });
    const reader = await open(store, info, cache);
    const before = cache.stats().bytes;
    assert.deepEqual(await collect(reader.scan({}, { bulk: true, readaheadBytes })), entries);
    assert.ok(cache.stats().bytes - before <= 2 * readaheadBytes, "only its start was cached");
  });

  it("a damaged block fails a bulk scan there, after only correct entries; one it read ahead but never reached does not", () => {
    const entries = distinctEntries(20_000, 100);
    return withLocalSst(entries, async (store, info) => {
      const reader = await open(store, info, new BlockCache({ maxBytes: 0 }));
      const handle = reader.blockHandles[Math.floor(reader.blockCount * 0.8)]!;
      const bytes = await store.get(KEY);
      bytes[handle.offset + 3]! ^= 0xff;
      await store.put(KEY, bytes);
      const got: Entry[] = [];
      await assertCorrupt(
        (async () => {
          for await (const entry of reader.scan({}, { bulk: true, readaheadBytes })) got.push(entry);
        })(),
      );
      assert.ok(got.length > entries.length / 2 && got.length < entries.length);
      assert.deepEqual(got, entries.slice(0, got.length));
      const before = compareKeys(handle.firstKey, recordKey(0)) > 0 ? handle.firstKey : recordKey(0);
      assert.deepEqual(await collect(reader.scan({ end: before }, { bulk: true, readaheadBytes })), entries.filter((entry) => compareKeys(entry.key, before) < 0));
    });
  });
});

describe("isScanPrivate", () => {
  it("is true for a cache-filling scan's values only, however the lookups alternate", async () => {
    const { bytes, info } = build(recordEntries(400, 100), 1024);
    const store = await stored(bytes);
    const scanned = (options: SstScanOptions) => collect((async function* () { yield* (await open(store, info)).scan({}, options); })());
    const own = await scanned({});
    const compaction = await scanned({ fillCache: false });
    const shared = await scanned({ shareValues: true });
    const elsewhere = new Uint8Array(64 * 1024);
    const other = [elsewhere.subarray(0, 10), elsewhere.subarray(10, 20), new Uint8Array(10)];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < own.length; i += 37) {
        assert.equal(isScanPrivate(own[i]!.value!), true, `value ${i}`);
        assert.equal(isScanPrivate(other[i % 3]!), false);
        assert.equal(isScanPrivate(other[(i + 1) % 2]!), false, "a buffer found not private, again");
        assert.equal(isScanPrivate(compaction[i]!.value!), false, `compaction's value ${i}`);
        assert.equal(isScanPrivate(compaction[i + 1]!.value!), false);
        assert.equal(isScanPrivate(own[own.length - 1 - i]!.value!), true);
        assert.equal(isScanPrivate(shared[i]!.value!), false, `a shareValues value ${i}`);
      }
    }
  });
});

describe("SST corruption and store errors", () => {
  const entries = recordEntries(3000, 50);
  const built = build(entries, 1024);

  function flip(bytes: Uint8Array, pos: number): Uint8Array {
    const copy = bytes.slice();
    copy[pos]! ^= 0x40;
    return copy;
  }

  /** Rewrites a stored block's checksum so that only the decoder can catch the damage. */
  function rechecksum(bytes: Uint8Array, offset: number, length: number): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint32(offset + length - 4, checksum32(bytes.subarray(offset, offset + length - 4)));
  }

  function rechecksumFooter(bytes: Uint8Array): void {
    const footer = bytes.length - SST_FOOTER_BYTES;
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(footer, checksum32(bytes.subarray(footer + 4)));
  }

  async function openAndScan(bytes: Uint8Array, info?: SstInfo): Promise<Entry[]> {
    const reader = await open(await stored(bytes), info);
    return collect(reader.entries());
  }

  it("a flipped byte in a data block fails the scan at that block, after only correct entries", async () => {
    const handles = indexHandles(built.bytes, built.info);
    const damaged = handles[20]!;
    const bytes = flip(built.bytes, damaged.offset + 100);
    const store = await stored(bytes);
    const reader = await open(store, built.info);
    const seen: Entry[] = [];
    await assertCorrupt(
      (async () => {
        for await (const entry of reader.entries()) seen.push(entry);
      })(),
      /checksum mismatch in the block at offset/,
    );
    assert.deepEqual(seen, entries.slice(0, seen.length));
    assert.equal(compareKeys(entries[seen.length]!.key, damaged.firstKey), 0, "stopped exactly at the damaged block");
    // A scan that ends before the damaged block succeeds, although readahead fetched it.
    const fresh = await open(store, built.info);
    assert.deepEqual(await collect(fresh.scan({ end: handles[19]!.lastKey })), entries.slice(0, seen.length - 1));
    await assertCorrupt(fresh.verify());
  });

  it("a flipped byte in the index or the footer fails open, with or without SstInfo", async () => {
    const { indexOffset, indexLength } = built.info;
    for (const pos of [indexOffset, indexOffset + 40, indexOffset + indexLength - 1]) {
      await assertCorrupt(open(await stored(flip(built.bytes, pos)), built.info), /checksum mismatch/);
      await assertCorrupt(open(await stored(flip(built.bytes, pos))), /checksum mismatch/);
    }
    const footer = built.bytes.length - SST_FOOTER_BYTES;
    for (let pos = footer; pos < built.bytes.length; pos++) {
      await assertCorrupt(open(await stored(flip(built.bytes, pos)), built.info));
      await assertCorrupt(open(await stored(flip(built.bytes, pos))));
    }
  });

  it("every single-byte flip anywhere in the golden SST is a CorruptionError, never data", async () => {
    const { bytes, info } = build(goldenEntries(), GOLDEN_BLOCK_BYTES);
    for (let pos = 0; pos < bytes.length; pos++) {
      await assertCorrupt(openAndScan(flip(bytes, pos), info));
      await assertCorrupt(openAndScan(flip(bytes, pos)));
    }
  });

  it("a truncated object is a CorruptionError, with or without SstInfo", async () => {
    const size = built.bytes.length;
    for (const length of [0, 1, SST_FOOTER_BYTES - 1, SST_FOOTER_BYTES, 1000, built.info.indexOffset, size - SST_FOOTER_BYTES, size - 1]) {
      const truncated = built.bytes.slice(0, length);
      await assertCorrupt(openAndScan(truncated, built.info), /truncated|shorter/);
      await assertCorrupt(openAndScan(truncated));
    }
  });

  it("an undecodable row behind a valid checksum is a CorruptionError", async () => {
    const first = indexHandles(built.bytes, built.info)[0]!;
    const bytes = built.bytes.slice();
    const flagsAt = 2 + entries[0]!.key.length + 8; // shared, unshared, key, seq, then flags
    bytes[flagsAt] = 0x80;
    rechecksum(bytes, first.offset, first.length);
    await assertCorrupt(openAndScan(bytes, built.info), /unknown flags 128/);
    const lengths = built.bytes.slice();
    lengths[1] = 0xff; // the first row's unshared key length becomes 16383: far past the rows
    lengths[2] = 0x7f;
    rechecksum(lengths, first.offset, first.length);
    await assertCorrupt(openAndScan(lengths, built.info), /runs past the rows/);
  });

  it("an index or footer pointing outside the object is a CorruptionError", async () => {
    const { indexOffset, indexLength } = built.info;
    const bytes = built.bytes.slice();
    const view = new DataView(bytes.buffer);
    view.setUint32(indexOffset + 36 + 8, 0x7fff_ffff); // first block handle's length
    rechecksum(bytes, indexOffset, indexLength);
    await assertCorrupt(openAndScan(bytes, built.info), /index block: block 1 starts at/);
    const footer = built.bytes.slice();
    new DataView(footer.buffer).setUint32(footer.length - SST_FOOTER_BYTES + 8, indexOffset + 1_000_000);
    rechecksumFooter(footer);
    await assertCorrupt(openAndScan(footer), /does not end where the footer/);
  });

  it("names an unknown format version and a bad magic", async () => {
    const version = built.bytes.slice();
    new DataView(version.buffer).setUint16(version.length - 10, 2);
    rechecksumFooter(version);
    await assertCorrupt(openAndScan(version), /unknown SST format version 2/);
    await assertCorrupt(openAndScan(version, built.info), /unknown SST format version 2/);
    const magic = built.bytes.slice();
    magic[magic.length - 1] = 0x0d;
    await assertCorrupt(openAndScan(magic), /bad magic/);
  });

  it("an object that does not match its SstInfo is a CorruptionError", async () => {
    const other = build(recordEntries(3000, 51), 1024);
    await assertCorrupt(openAndScan(other.bytes, built.info));
    const wrongCount = { ...built.info, entryCount: built.info.entryCount + 1 };
    await assertCorrupt(openAndScan(built.bytes, wrongCount), /does not match/);
  });

  it("passes store errors through unchanged", async () => {
    const empty = new CountingStore();
    await assert.rejects(open(empty, built.info), NotFoundError);
    await assert.rejects(open(empty), NotFoundError);
    const outage = new StorageError("the store is unreachable");
    const store = await stored(built.bytes);
    const reader = await open(store, built.info, new BlockCache({ maxBytes: 0 }));
    store.get = async () => {
      throw outage;
    };
    await assert.rejects(collect(reader.entries()), (error: unknown) => error === outage);
  });

  it("verify() reads everything and reports the object's shape", async () => {
    const reader = await open(await stored(built.bytes), built.info);
    assert.deepEqual(await reader.verify(), { blocks: reader.blockCount, entries: entries.length, bytes: built.bytes.length });
  });
});

const GOLDEN_BLOCK_BYTES = 96;
const GOLDEN_DIR = new URL("./golden/", import.meta.url);

/** A small fixed entry set that exercises every row feature: versions, tombstones, expiry, prefixes. */
function goldenEntries(): Entry[] {
  const entry = (key: string, seq: number, value: string | null, expireAtMs = 0): Entry => ({
    key: utf8(key),
    seq,
    value: value === null ? null : utf8(value),
    expireAtMs,
  });
  return [
    entry("apple", 9, "red"),
    entry("apple", 4, null),
    entry("apple", 2, "green"),
    entry("apricot", 7, "orange", 1_700_000_000_000),
    entry("banana", 12, ""),
    entry("blueberry", 3, null, 1_800_000_000_000),
    entry("cherry", 2 ** 40, "dark red"),
    ...Array.from({ length: 20 }, (_, i) => entry(`fig-${String(i).padStart(2, "0")}`, 100 + i, `value ${i}`)),
    entry("kiwi", 1, "x".repeat(150)),
    entry("lime", 5, "green"),
  ];
}

describe("SST golden file (format version 1)", () => {
  const { bytes, info } = build(goldenEntries(), GOLDEN_BLOCK_BYTES);
  if (process.env.UPDATE_GOLDEN === "1") {
    writeFileSync(new URL("sst-v1.sst", GOLDEN_DIR), bytes);
    writeFileSync(new URL("sst-v1.sst.hex", GOLDEN_DIR), hexDump(bytes));
    writeFileSync(new URL("sst-v1.info.json", GOLDEN_DIR), `${JSON.stringify(sstInfoToJson(info), null, 2)}\n`);
  }
  const golden = new Uint8Array(readFileSync(new URL("sst-v1.sst", GOLDEN_DIR)));
  const goldenInfo = sstInfoFromJson(JSON.parse(readFileSync(new URL("sst-v1.info.json", GOLDEN_DIR), "utf8")));

  it("the builder still produces exactly the committed bytes (a format change must bump the version)", () => {
    assert.equal(hexDump(bytes), readFileSync(new URL("sst-v1.sst.hex", GOLDEN_DIR), "utf8"));
    assert.ok(Buffer.from(bytes).equals(golden), "builder output differs from tests/engine/golden/sst-v1.sst");
    assert.deepEqual(info, goldenInfo);
  });

  it("the reader still reads the committed file, with and without its SstInfo", async () => {
    const store = await stored(golden);
    for (const reader of [await open(store, goldenInfo), await open(store)]) {
      assert.deepEqual(reader.info, goldenInfo);
      assert.ok(reader.blockCount >= 4);
      assert.deepEqual(await collect(reader.entries()), goldenEntries());
      assert.equal((await reader.verify()).entries, goldenEntries().length);
    }
  });
});

describe("SstInfo JSON", () => {
  const { info } = build(goldenEntries(), GOLDEN_BLOCK_BYTES);

  it("round-trips through JSON text", () => {
    assert.deepEqual(sstInfoFromJson(JSON.parse(JSON.stringify(sstInfoToJson(info)))), info);
    const noExpiry = build(recordEntries(3, 1)).info;
    assert.equal("minExpireAtMs" in sstInfoFromJson(JSON.parse(JSON.stringify(noExpiry))), false);
  });

  it("rejects malformed values with CorruptionError", () => {
    const bad: unknown[] = [
      null,
      [],
      "info",
      { ...info, formatVersion: 2 },
      { ...info, sizeBytes: info.sizeBytes + 1 },
      { ...info, entryCount: 0 },
      { ...info, entryCount: 1.5 },
      { ...info, minSeq: "1" },
      { ...info, minSeq: info.maxSeq + 1 },
      { ...info, firstKey: "" },
      { ...info, firstKey: "not base64!" },
      { ...info, firstKey: info.lastKey, lastKey: info.firstKey },
      { ...info, minExpireAtMs: 0 },
      { ...info, indexLength: undefined },
    ];
    for (const value of bad) {
      assert.throws(() => sstInfoFromJson(value, "manifest/00000000000000000003"), (error: unknown) => {
        assert.ok(error instanceof CorruptionError, `${JSON.stringify(value)} gave ${String(error)}`);
        assert.equal(error.key, "manifest/00000000000000000003");
        return true;
      });
    }
  });
});

describe("SstBuilder contract", () => {
  const entry = (key: string, seq: number): Entry => ({ key: utf8(key), seq, value: utf8("v"), expireAtMs: 0 });

  it("asserts strict entry order: key ascending, seq descending, no duplicate (key, seq)", () => {
    for (const [first, second] of [
      [entry("b", 1), entry("a", 2)],
      [entry("a", 1), entry("a", 2)],
      [entry("a", 1), entry("a", 1)],
      [entry("ab", 1), entry("a", 1)],
    ] as const) {
      const builder = new SstBuilder();
      builder.add(first);
      assert.throws(() => builder.add(second), InternalError);
    }
  });

  it("asserts entry fields, refuses an empty SST and use after finish", () => {
    const builder = new SstBuilder();
    assert.throws(() => builder.add(entry("", 1)), InternalError);
    assert.throws(() => builder.add(entry("a", 0)), InternalError);
    assert.throws(() => builder.add(entry("a", 1.5)), InternalError);
    assert.throws(() => builder.add({ ...entry("a", 1), expireAtMs: -1 }), InternalError);
    assert.throws(() => new SstBuilder().finish(), InternalError);
    builder.add(entry("a", 1));
    builder.finish();
    assert.throws(() => builder.add(entry("b", 1)), InternalError);
    assert.throws(() => builder.finish(), InternalError);
  });

  it("validates blockBytes at its bounds", () => {
    assert.throws(() => new SstBuilder({ blockBytes: 31 }), ValidationError);
    assert.throws(() => new SstBuilder({ blockBytes: 16 * 1024 * 1024 + 1 }), ValidationError);
    assert.throws(() => new SstBuilder({ blockBytes: 100.5 }), ValidationError);
    new SstBuilder({ blockBytes: 32 });
    new SstBuilder({ blockBytes: 16 * 1024 * 1024 });
  });

  it("keeps its index when the caller reuses a key buffer after add (Buffer keys included)", async () => {
    const key = Buffer.from("k1");
    const builder = new SstBuilder({ blockBytes: 32 });
    builder.add({ key, seq: 1, value: utf8("v"), expireAtMs: 0 });
    builder.add({ key: Buffer.from("k2"), seq: 1, value: utf8("v"), expireAtMs: 0 });
    const { bytes, info } = builder.finish();
    key[1] = 0x39;
    assert.equal(Buffer.from(indexHandles(bytes, info)[0]!.firstKey).toString(), "k1");
  });
});
