/**
 * The L0 flush's batch of frozen memtables: how many it takes (sizes against the budget, the
 * count cap, always at least one) and their entries merged in entry order, against a plain sort.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareEntries, type Entry } from "../../src/engine/entry.js";
import { Memtable } from "../../src/engine/memtable.js";
import { flushBatchLength, mergeMemtableEntries } from "../../src/engine/memtable-merge.js";
import { L0_FLUSH_MERGE_FLOOR_BYTES, L0_FLUSH_MERGE_MAX_MEMTABLES } from "../../src/limits.js";

const sized = (...sizes: number[]) => sizes.map((sizeBytes) => ({ memtable: { sizeBytes } }));

describe("flushBatchLength", () => {
  it("takes nothing from an empty line and always the first memtable, however big", () => {
    assert.equal(flushBatchLength([], 4096), 0);
    assert.equal(flushBatchLength(sized(100 * L0_FLUSH_MERGE_FLOOR_BYTES, 1), 4096), 1);
  });

  it("adds memtables while their sizes fit max(l0SstBytes, the floor)", () => {
    const quarter = L0_FLUSH_MERGE_FLOOR_BYTES / 4;
    assert.equal(flushBatchLength(sized(quarter, quarter, quarter, quarter, 1), 4096), 4);
    assert.equal(flushBatchLength(sized(quarter, quarter, quarter, quarter + 1), 4096), 3);
    const l0 = 8 * L0_FLUSH_MERGE_FLOOR_BYTES;
    assert.equal(flushBatchLength(sized(l0 / 2, l0 / 2, 1), l0), 2);
    assert.equal(flushBatchLength(sized(l0, 1), l0), 1, "full memtables stay one L0 each");
  });

  it(`stops at ${L0_FLUSH_MERGE_MAX_MEMTABLES} memtables`, () => {
    const line = sized(...Array.from({ length: L0_FLUSH_MERGE_MAX_MEMTABLES + 10 }, () => 1));
    assert.equal(flushBatchLength(line, 4096), L0_FLUSH_MERGE_MAX_MEMTABLES);
  });
});

describe("mergeMemtableEntries", () => {
  it("yields every entry of the memtables in entry order (property)", () => {
    const keyArb = fc.uint8Array({ minLength: 1, maxLength: 2, min: 0, max: 3 });
    fc.assert(
      fc.property(fc.array(fc.array(keyArb, { maxLength: 30 }), { minLength: 1, maxLength: 6 }), (keysPerMemtable) => {
        let seq = 0;
        const all: Entry[] = [];
        const memtables = keysPerMemtable.map((keys) => {
          const memtable = new Memtable();
          for (const key of keys) {
            const entry: Entry = { key, seq: ++seq, value: Uint8Array.of(seq & 0xff), expireAtMs: 0 };
            memtable.add(entry);
            all.push(entry);
          }
          return memtable;
        });
        const merged = [...mergeMemtableEntries(memtables)];
        assert.deepEqual(merged, [...all].sort(compareEntries));
      }),
      { numRuns: 300 },
    );
  });

  it("refuses two memtables that hold the same key and seq (an invariant of the line)", () => {
    const a = new Memtable();
    const b = new Memtable();
    const entry: Entry = { key: Uint8Array.of(1), seq: 7, value: null, expireAtMs: 0 };
    a.add(entry);
    b.add({ ...entry });
    assert.throws(() => [...mergeMemtableEntries([a, b])], { code: "internal" });
  });
});
