/**
 * BlockCache: LRU order, the byte budget, de-duplication of concurrent loads, failed loads,
 * evictObject (also while a load is in flight), readahead views getting their own copy, and the
 * lookups of scans (getIfCached) and of compaction (peek).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BlockCache } from "../../src/engine/block-cache.js";
import { ValidationError } from "../../src/errors.js";

const block = (bytes: number, fill = 1): Uint8Array => new Uint8Array(bytes).fill(fill);

/** A load the test resolves or rejects by hand, counting how often it was started. */
function manualLoad(): { load: () => Promise<Uint8Array>; resolve: (bytes: Uint8Array) => void; reject: (error: Error) => void; calls: () => number } {
  let calls = 0;
  let resolve: (bytes: Uint8Array) => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<Uint8Array>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    load: () => {
      calls++;
      return promise;
    },
    resolve: (bytes) => resolve(bytes),
    reject: (error) => reject(error),
    calls: () => calls,
  };
}

describe("BlockCache", () => {
  it("evicts the least recently used block first; a hit makes a block recent", () => {
    const cache = new BlockCache({ maxBytes: 30 });
    cache.put("a", 0, block(10));
    cache.put("a", 10, block(10));
    cache.put("a", 20, block(10));
    assert.ok(cache.get("a", 0) !== undefined); // now a/10 is the least recent
    cache.put("b", 0, block(10));
    assert.equal(cache.has("a", 10), false);
    assert.equal(cache.has("a", 0), true);
    assert.equal(cache.has("a", 20), true);
    assert.deepEqual(cache.stats(), { hits: 1, misses: 0, bytes: 30, entries: 3, evictions: 1 });
  });

  it("matches an LRU model with a byte budget, whatever the sequence of puts and gets", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ object: fc.constantFrom("x", "y"), offset: fc.integer({ min: 0, max: 9 }), bytes: fc.integer({ min: 0, max: 40 }), get: fc.boolean() }), { maxLength: 200 }),
        (ops) => {
          const cache = new BlockCache({ maxBytes: 100 });
          const model = new Map<string, number>(); // insertion order = recency order
          const modelBytes = (): number => [...model.values()].reduce((sum, bytes) => sum + bytes, 0);
          for (const op of ops) {
            const key = `${op.object}/${op.offset}`;
            if (op.get) {
              const got = cache.get(op.object, op.offset);
              const size = model.get(key);
              assert.equal(got?.length, size);
              if (size !== undefined) {
                model.delete(key);
                model.set(key, size);
              }
            } else {
              cache.put(op.object, op.offset, block(op.bytes));
              model.delete(key);
              if (op.bytes <= 100) model.set(key, op.bytes);
              for (const oldest of model.keys()) {
                if (modelBytes() <= 100) break;
                model.delete(oldest);
              }
            }
            assert.deepEqual([cache.stats().bytes, cache.stats().entries], [modelBytes(), model.size]);
            for (const object of ["x", "y"]) {
              for (let offset = 0; offset < 10; offset++) assert.equal(cache.has(object, offset), model.has(`${object}/${offset}`));
            }
          }
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });

  it("returns a block larger than the budget but does not keep it", async () => {
    const cache = new BlockCache({ maxBytes: 100 });
    cache.put("a", 0, block(60));
    const big = await cache.getOrLoad("a", 100, async () => block(101));
    assert.equal(big.length, 101);
    assert.deepEqual(cache.stats(), { hits: 0, misses: 1, bytes: 60, entries: 1, evictions: 0 });
    assert.equal(cache.has("a", 100), false);
    cache.put("a", 0, block(200)); // replacing a cached block with an oversized one drops it
    assert.deepEqual([cache.stats().bytes, cache.stats().entries], [0, 0]);
  });

  it("de-duplicates concurrent loads of one block into a single load", async () => {
    const cache = new BlockCache({ maxBytes: 1000 });
    const manual = manualLoad();
    const first = cache.getOrLoad("a", 0, manual.load);
    const second = cache.getOrLoad("a", 0, manual.load);
    const other = cache.getOrLoad("a", 64, async () => block(5, 2));
    assert.equal(cache.has("a", 0), true, "a block being loaded counts as present");
    manual.resolve(block(10, 9));
    const [a, b, c] = await Promise.all([first, second, other]);
    assert.equal(manual.calls(), 1);
    assert.equal(a, b);
    assert.deepEqual([a[0], c[0]], [9, 2]);
    assert.deepEqual(cache.stats(), { hits: 1, misses: 2, bytes: 15, entries: 2, evictions: 0 });
    assert.equal(await cache.getOrLoad("a", 0, () => Promise.reject(new Error("not called"))), a);
  });

  it("does not cache a failed load: every waiter gets the error and the next call loads again", async () => {
    const cache = new BlockCache({ maxBytes: 1000 });
    const manual = manualLoad();
    const waiters = [cache.getOrLoad("a", 0, manual.load), cache.getOrLoad("a", 0, manual.load)];
    manual.reject(new Error("GET failed"));
    for (const waiter of waiters) await assert.rejects(waiter, /GET failed/);
    assert.equal(cache.has("a", 0), false);
    assert.deepEqual(await cache.getOrLoad("a", 0, async () => block(3)), block(3));
    assert.equal(cache.stats().entries, 1);
    await assert.rejects(
      cache.getOrLoad("b", 0, () => {
        throw new Error("thrown synchronously");
      }),
      /thrown synchronously/,
    );
    assert.equal(cache.has("b", 0), false, "a synchronous throw leaves no load behind");
  });

  it("evictObject drops every block of one object and nothing else", () => {
    const cache = new BlockCache({ maxBytes: 1000 });
    for (const offset of [0, 10, 20]) cache.put("sst/1", offset, block(10));
    cache.put("sst/2", 0, block(7));
    cache.evictObject("sst/1");
    cache.evictObject("sst/404");
    assert.deepEqual([cache.stats().bytes, cache.stats().entries], [7, 1]);
    assert.equal(cache.has("sst/1", 10), false);
    assert.equal(cache.has("sst/2", 0), true);
    cache.put("sst/1", 0, block(10)); // an object can be cached again after its eviction
    assert.equal(cache.stats().entries, 2);
  });

  it("a load that finishes after evictObject is returned but not cached", async () => {
    const cache = new BlockCache({ maxBytes: 1000 });
    const manual = manualLoad();
    const pending = cache.getOrLoad("sst/1", 0, manual.load);
    cache.evictObject("sst/1");
    assert.equal(cache.has("sst/1", 0), false);
    manual.resolve(block(10));
    assert.equal((await pending).length, 10);
    assert.equal(cache.has("sst/1", 0), false);
    assert.equal(cache.stats().entries, 0);
  });

  it("gives a block that is a view of a larger buffer its own copy on its first hit", async () => {
    const cache = new BlockCache({ maxBytes: 1000 });
    const readahead = new Uint8Array(300).fill(4);
    cache.put("a", 0, readahead.subarray(0, 100));
    const hit = cache.get("a", 0);
    assert.ok(hit !== undefined);
    assert.equal(hit.buffer.byteLength, 100, "no longer pins the 300-byte buffer");
    assert.deepEqual(hit, readahead.subarray(0, 100));
    assert.equal(await cache.getOrLoad("a", 0, () => Promise.reject(new Error("not called"))), hit);
  });

  it("getIfCached counts and refreshes a hit like get, but counts nothing for a block it does not have", async () => {
    const cache = new BlockCache({ maxBytes: 20 });
    cache.put("a", 0, block(10));
    cache.put("a", 10, block(10));
    assert.equal(cache.getIfCached("a", 20), undefined);
    assert.deepEqual([cache.stats().hits, cache.stats().misses], [0, 0], "the load that follows counts the miss");
    assert.ok(cache.getIfCached("a", 0) !== undefined); // now a/10 is the least recent
    assert.deepEqual([cache.stats().hits, cache.stats().misses], [1, 0]);
    cache.put("b", 0, block(10));
    assert.equal(cache.has("a", 10), false);
    assert.equal(cache.has("a", 0), true);
    await cache.getOrLoad("a", 20, async () => block(1));
    assert.equal(cache.stats().misses, 1);
  });

  it("peek counts a hit or a miss but leaves recency alone, and does not copy a view of a larger buffer", () => {
    const cache = new BlockCache({ maxBytes: 20 });
    const readahead = new Uint8Array(300).fill(4);
    cache.put("a", 0, readahead.subarray(0, 10));
    cache.put("a", 10, block(10));
    const peeked = cache.peek("a", 0);
    assert.equal(peeked?.buffer, readahead.buffer, "no copy");
    assert.equal(cache.peek("a", 20), undefined);
    assert.deepEqual([cache.stats().hits, cache.stats().misses], [1, 1]);
    cache.put("b", 0, block(10)); // a/0 is still the least recent: it goes
    assert.equal(cache.has("a", 0), false);
    assert.equal(cache.has("a", 10), true);
  });

  it("clear() empties it; maxBytes 0 keeps nothing; a bad maxBytes is refused", async () => {
    const cache = new BlockCache({ maxBytes: 100 });
    cache.put("a", 0, block(10));
    cache.clear();
    assert.deepEqual([cache.stats().bytes, cache.stats().entries], [0, 0]);
    const off = new BlockCache({ maxBytes: 0 });
    assert.equal((await off.getOrLoad("a", 0, async () => block(1))).length, 1);
    assert.equal(off.stats().entries, 0);
    for (const maxBytes of [-1, 1.5, Number.NaN]) assert.throws(() => new BlockCache({ maxBytes }), ValidationError);
  });
});
