/**
 * SST format and reader: round trips against a sorted-array model (fast-check, seeded), lazy
 * reading and readahead proven by counting the store's GETs, corruption of every region, the
 * golden file, and SstInfo validation. Block cache behaviour is in block-cache.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
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
import { SstReader, type SstScanOptions } from "../../src/engine/sst-reader.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";
import { checksum32 } from "../../src/util/checksum.js";

const SEED = 20_240_601;
const KEY = "sst/00000000000000000001";

/** A MemoryStore that counts reads, so tests can prove what a reader fetched. */
class CountingStore implements ObjectStore {
  readonly inner = new MemoryStore();
  gets = 0;
  getBytes = 0;
  heads = 0;
  readonly ranges: ByteRange[] = [];

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.gets++;
    if (range !== undefined) this.ranges.push(range);
    const bytes = await this.inner.get(key, range);
    this.getBytes += bytes.length;
    return bytes;
  }
  head(key: string): Promise<ObjectInfo> {
    this.heads++;
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

/** Entries shaped like stream records: `05 streamId(u64) seq(u64)` keys, fixed-size values. */
function recordEntries(count: number, valueBytes: number): Entry[] {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const key = Buffer.alloc(17);
    key[0] = 5;
    key.writeBigUInt64BE(7n, 1);
    key.writeBigUInt64BE(BigInt(i), 9);
    const value = Buffer.alloc(valueBytes, i % 251);
    entries.push({ key: new Uint8Array(key), seq: i + 1, value: new Uint8Array(value), expireAtMs: 0 });
  }
  return entries;
}

function recordKey(i: number): Uint8Array {
  return recordEntries(i + 1, 0)[i]!.key;
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

  it("gives a single entry larger than a block a block of its own, and keeps other blocks near blockBytes", () => {
    const small = (i: number): Entry => ({ key: utf8(`k${String(i).padStart(4, "0")}`), seq: 1, value: new Uint8Array(20), expireAtMs: 0 });
    const entries = [small(1), small(2), { ...small(3), value: new Uint8Array(10_000) }, small(4), small(5)];
    const { bytes, info } = build(entries, 256);
    const handles = indexHandles(bytes, info);
    const big = handles.find((handle) => handle.length > 256);
    assert.ok(big !== undefined);
    assert.deepEqual(Buffer.from(big.firstKey).toString(), "k0003");
    assert.deepEqual(Buffer.from(big.lastKey).toString(), "k0003");
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
