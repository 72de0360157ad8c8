/**
 * The read path's merge against a model: any number of sources, overlapping or holding disjoint
 * runs of keys (where the merge takes a run without merging), versions of a key in one source or
 * spread over several and over chunk boundaries, chunks of any size from sync or async sources,
 * both directions, any snapshot; then the live view (tombstones and expired versions hide a key),
 * and flattenChunks (one item at a time from chunks).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Entry } from "../../src/engine/entry.js";
import { flattenChunks, mergeSources, newestVersionChunks, type EntrySource } from "../../src/engine/read-path.js";
import { MERGE_CHUNK_ENTRIES } from "../../src/limits.js";

const SEED = 20_261_126;

interface SourceSpec {
  /** Versions: key number, seq, tombstone?, expiry. */
  versions: { key: number; seq: number; tombstone: boolean; expireAtMs: number }[];
  chunkSizes: number[];
  async: boolean;
  /** Reverse only: versions of a key seq ascending, as a memtable's reverse scan gives them. */
  seqAscendingInReverse: boolean;
}

const keyOf = (n: number): Uint8Array => Uint8Array.of(0x05, n >> 8, n & 0xff);

/** Sources hold either a few keys from a small range (overlaps) or a long run from their own range. */
const sourceArbitrary: fc.Arbitrary<SourceSpec> = fc.record({
  versions: fc.oneof(
    fc.array(fc.record({ key: fc.integer({ min: 0, max: 30 }), seq: fc.integer({ min: 1, max: 200 }), tombstone: fc.boolean(), expireAtMs: fc.constantFrom(0, 0, 50, 150) }), {
      maxLength: 60,
    }),
    fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 200 })).map(([start, length, seq]) =>
      Array.from({ length }, (_, i) => ({ key: start + i, seq: seq + (i % 3), tombstone: false, expireAtMs: 0 })),
    ),
  ),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 5 }),
  async: fc.boolean(),
  seqAscendingInReverse: fc.boolean(),
});

function entriesOf(spec: SourceSpec, reverse: boolean): Entry[] {
  // One version per (key, seq) within a source, as in a memtable or an SST.
  const unique = new Map(spec.versions.map((v) => [`${v.key}/${v.seq}`, v]));
  const sorted = [...unique.values()].sort((a, b) => {
    if (a.key !== b.key) return reverse ? b.key - a.key : a.key - b.key;
    return reverse && spec.seqAscendingInReverse ? a.seq - b.seq : b.seq - a.seq;
  });
  return sorted.map((v) => ({ key: keyOf(v.key), seq: v.seq, value: v.tombstone ? null : Uint8Array.of(v.key & 0xff, v.seq & 0xff), expireAtMs: v.expireAtMs }));
}

function sourceOf(entries: Entry[], spec: SourceSpec): EntrySource {
  const chunks: Entry[][] = [];
  for (let at = 0, i = 0; at < entries.length; i++) {
    const size = spec.chunkSizes[i % spec.chunkSizes.length]!;
    chunks.push(entries.slice(at, at + size));
    at += size;
  }
  if (!spec.async) return chunks[Symbol.iterator]();
  return (async function* () {
    for (const chunk of chunks) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      yield chunk;
    }
  })();
}

/** The newest version with seq <= snapshotSeq of each key over all sources, in scan order. */
function model(all: Entry[][], reverse: boolean, snapshotSeq: number): Entry[] {
  const best = new Map<number, Entry>();
  for (const entries of all) {
    for (const entry of entries) {
      const key = (entry.key[1]! << 8) | entry.key[2]!;
      const current = best.get(key);
      if (entry.seq <= snapshotSeq && (current === undefined || entry.seq > current.seq)) best.set(key, entry);
    }
  }
  return [...best.entries()].sort(([a], [b]) => (reverse ? b - a : a - b)).map(([, entry]) => entry);
}

async function collectChunks(chunks: AsyncIterable<Entry[]>): Promise<Entry[][]> {
  const out: Entry[][] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

const scenario = fc.record({
  sources: fc.array(sourceArbitrary, { minLength: 1, maxLength: 5 }),
  reverse: fc.boolean(),
  snapshotSeq: fc.constantFrom(0, 50, 120, 1000),
  nowMs: fc.constantFrom(0, 100, 200),
});

describe("read path: merge", () => {
  it("yields the newest visible version of each key over every source, in order, in non-empty chunks", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ sources, reverse, snapshotSeq }) => {
        const all = sources.map((spec) => entriesOf(spec, reverse));
        const chunks = await collectChunks(newestVersionChunks(all.map((entries, i) => sourceOf(entries, sources[i]!)), { reverse, snapshotSeq }));
        assert.ok(chunks.every((chunk) => chunk.length > 0), "no empty chunks");
        assert.deepEqual(chunks.flat(), model(all, reverse, snapshotSeq));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("hides a key whose newest visible version is a tombstone or expired", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ sources, reverse, snapshotSeq, nowMs }) => {
        const all = sources.map((spec) => entriesOf(spec, reverse));
        const merged = await collectChunks(mergeSources(all.map((entries, i) => sourceOf(entries, sources[i]!)), { reverse, snapshotSeq, nowMs: () => nowMs }));
        const live = model(all, reverse, snapshotSeq).filter((entry) => entry.value !== null && (entry.expireAtMs === 0 || entry.expireAtMs > nowMs));
        assert.deepEqual(merged.flat(), live);
      }),
      { seed: SEED + 1, numRuns: 200 },
    );
  });

  it("takes a source's run of keys below every other source's head whole: a key another source also holds still merges", async () => {
    // Source a: keys 0..99 at seq 10; source b: key 50 at seq 20 and keys 200..209. Key 50 must come from b.
    const a = Array.from({ length: 100 }, (_, i) => ({ key: keyOf(i), seq: 10, value: Uint8Array.of(1), expireAtMs: 0 }));
    const b = [{ key: keyOf(50), seq: 20, value: Uint8Array.of(2), expireAtMs: 0 }, ...Array.from({ length: 10 }, (_, i) => ({ key: keyOf(200 + i), seq: 20, value: Uint8Array.of(2), expireAtMs: 0 }))];
    const chunks = await collectChunks(newestVersionChunks([[a][Symbol.iterator](), [b][Symbol.iterator]()], { reverse: false, snapshotSeq: 100 }));
    const merged = chunks.flat();
    assert.equal(merged.length, 110);
    assert.deepEqual(merged[50]!.value, Uint8Array.of(2));
    assert.deepEqual(
      merged.map((entry) => (entry.key[1]! << 8) | entry.key[2]!),
      [...Array.from({ length: 100 }, (_, i) => i), ...Array.from({ length: 10 }, (_, i) => 200 + i)],
    );
  });
});

describe("read path: grouping versions in an ascending scan by seq", () => {
  const entry = (key: number, seq: number): Entry => ({ key: keyOf(key), seq, value: Uint8Array.of(key & 0xff, seq & 0xff), expireAtMs: 0 });

  it("keeps one version per key whether seqs rise along the keys (stream records), repeat, or drop", async () => {
    // Keys 0..5 with seqs rising or equal (one append's records share a seq), key 6 with three
    // versions, keys 7 and 8 with seqs dropping (their keys must be compared), key 9 straddling chunks.
    const entries = [entry(0, 5), entry(1, 5), entry(2, 5), entry(3, 6), entry(4, 6), entry(5, 7), entry(6, 9), entry(6, 8), entry(6, 3), entry(7, 2), entry(8, 1), entry(9, 9), entry(9, 4)];
    for (const snapshotSeq of [100, 8, 4]) {
      for (const split of [1, 4, 7, 8, 12]) {
        const source = [entries.slice(0, split), entries.slice(split)][Symbol.iterator]();
        const merged = (await collectChunks(newestVersionChunks([source], { reverse: false, snapshotSeq }))).flat();
        assert.deepEqual(merged, model([entries], false, snapshotSeq), `snapshot ${snapshotSeq}, chunks split at ${split}`);
      }
    }
  });
});

describe("read path: flattenChunks", () => {
  async function* numberChunks(log: string[]): AsyncGenerator<number[], void, void> {
    try {
      yield [0, 1, 2];
      yield [];
      await new Promise<void>((resolve) => setImmediate(resolve));
      yield [3];
      yield [4, 5];
    } finally {
      log.push("source closed");
    }
  }

  it("hands out the items in order, skipping empty chunks, and answers calls made without waiting in order", async () => {
    const log: string[] = [];
    const items = flattenChunks(numberChunks(log));
    const steps = await Promise.all(Array.from({ length: 8 }, () => items.next()));
    assert.deepEqual(
      steps.map((step) => (step.done === true ? "done" : step.value)),
      [0, 1, 2, 3, 4, 5, "done", "done"],
    );
    assert.deepEqual(log, ["source closed"]);
  });

  it("return() ends the source; an error of the source reaches the consumer after the items before it", async () => {
    const log: string[] = [];
    const items = flattenChunks(numberChunks(log));
    assert.deepEqual(await items.next(), { value: 0, done: false });
    assert.deepEqual(await items.return!(), { value: undefined, done: true });
    assert.deepEqual(log, ["source closed"]);
    assert.deepEqual(await items.next(), { value: undefined, done: true });
    const failing = flattenChunks(
      (async function* () {
        yield [1, 2];
        throw new Error("source failed");
      })(),
    );
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const item of failing) seen.push(item);
      })(),
      /source failed/,
    );
    assert.deepEqual(seen, [1, 2]);
  });
});

describe("newestVersionChunks: a source failing while the consumer holds a chunk", () => {
  it("never leaves the failure unobserved (an unhandled rejection crashes the process); the consumer gets it on its next call", async () => {
    const entry = (key: string, seq: number): Entry => ({ key: Buffer.from(key), seq, value: Buffer.from("v"), expireAtMs: 0 });
    // Source a: [k0, k1], then its next chunk fails a moment later. Source b holds k1 too, so the
    // merge reaches k1 through its general step, which starts a's fetch and hands on [k0] first.
    const failing: EntrySource = {
      calls: 0,
      next(this: { calls: number }) {
        this.calls++;
        if (this.calls === 1) return Promise.resolve({ value: [entry("k0", 1), entry("k1", 2)], done: false });
        return new Promise((_, reject) => setTimeout(() => reject(new Error("store down")), 5));
      },
    } as EntrySource & { calls: number };
    const other: EntrySource = [[entry("k1", 3)]][Symbol.iterator]();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const merge = newestVersionChunks([failing, other], { reverse: false, snapshotSeq: 100 });
      const first = await merge.next();
      assert.deepEqual((first.value as Entry[]).map((e) => Buffer.from(e.key).toString()), ["k0"]);
      await new Promise((resolve) => setTimeout(resolve, 30)); // the consumer is slow: the fetch fails meanwhile
      await assert.rejects(merge.next(), /store down/);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.deepEqual(unhandled.map(String), []);
  });
});

describe("newestVersionChunks: synchronous sources (a memtable's scan)", () => {
  const entry = (key: number, seq: number): Entry => ({ key: keyOf(key), seq, value: Uint8Array.of(key & 0xff), expireAtMs: 0 });

  it("are read on without handing on a short chunk at each of their chunk ends; an asynchronous source's end still hands one on", async () => {
    const entries = Array.from({ length: 1000 }, (_, i) => entry(i, 1));
    const chunksOf = (size: number): Entry[][] => Array.from({ length: entries.length / size }, (_, i) => entries.slice(i * size, (i + 1) * size));
    const tail = [entry(5000, 1)];
    const sync = await collectChunks(newestVersionChunks([chunksOf(10)[Symbol.iterator](), [tail][Symbol.iterator]()], { reverse: false, snapshotSeq: 10 }));
    assert.deepEqual(sync.flat(), [...entries, ...tail]);
    assert.ok(sync.length <= Math.ceil(1001 / MERGE_CHUNK_ENTRIES) + 1, `${sync.length} chunks from 100 source chunks`);
    const asyncSource = (async function* () {
      yield* chunksOf(10);
    })();
    const merged = await collectChunks(newestVersionChunks([asyncSource, [tail][Symbol.iterator]()], { reverse: false, snapshotSeq: 10 }));
    assert.deepEqual(merged.flat(), [...entries, ...tail]);
    assert.ok(merged.length >= 100, `${merged.length} chunks: one before each wait for the asynchronous source`);
  });

  it("that throw fail the merge after the entries before the failure are handed on", async () => {
    function* failing(): Generator<Entry[]> {
      yield [entry(0, 1), entry(1, 1)];
      throw new Error("memtable broke");
    }
    const merge = newestVersionChunks([failing(), [[entry(1, 2)]][Symbol.iterator]()], { reverse: false, snapshotSeq: 10 });
    const first = await merge.next();
    assert.deepEqual((first.value as Entry[]).map((e) => e.key[2]), [0]);
    await assert.rejects(merge.next(), /memtable broke/);
  });
});
