/**
 * The memtable's sorted chunks against a plain sorted array: adds in and out of order (same key
 * many times, replaced (key, seq) pairs), scans ascending and descending over any range and
 * snapshot seq, resumed after adds made while the consumer held a chunk.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareEntries, compareKeys, type Entry, type KeyRange } from "../../src/engine/entry.js";
import { Memtable } from "../../src/engine/memtable.js";
import { SstBuilder } from "../../src/engine/sst-format.js";

const keyArb = fc.uint8Array({ minLength: 1, maxLength: 3, min: 0, max: 4 });

/** What a scan must return: the entries at the snapshot, in range, in scan order. */
function expected(reference: Entry[], range: KeyRange, maxSeq: number, reverse: boolean): Entry[] {
  const inRange = reference.filter(
    (e) => e.seq <= maxSeq && (range.start === undefined || compareKeys(e.key, range.start) >= 0) && (range.end === undefined || compareKeys(e.key, range.end) < 0),
  );
  return reverse ? inRange.reverse() : inRange;
}

function addTo(reference: Entry[], entry: Entry): void {
  const at = reference.findIndex((e) => compareEntries(e, entry) >= 0);
  if (at >= 0 && compareEntries(reference[at]!, entry) === 0) reference[at] = entry;
  else if (at < 0) reference.push(entry);
  else reference.splice(at, 0, entry);
}

describe("memtable", () => {
  it("keeps entries in (key asc, seq desc) order and scans any range and snapshot both ways, adds between steps included", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyArb, fc.nat(2)), { minLength: 0, maxLength: 3000 }),
        fc.option(keyArb, { nil: undefined }),
        fc.option(keyArb, { nil: undefined }),
        fc.boolean(),
        fc.array(keyArb, { maxLength: 40 }),
        (writes, start, end, reverse, during) => {
          const memtable = new Memtable();
          const reference: Entry[] = [];
          let seq = 1;
          for (const [key, step] of writes) {
            seq += step; // 0: another op of the same batch (same seq)
            const entry: Entry = { key, seq, value: Uint8Array.of(seq & 0xff), expireAtMs: 0 };
            memtable.add(entry);
            addTo(reference, entry);
          }
          assert.equal(memtable.entryCount, reference.length);
          assert.deepEqual([...memtable.entries()], reference);
          const range: KeyRange = { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) };
          const maxSeq = Math.max(0, seq - 3);
          const got: Entry[] = [];
          let added = 0;
          for (const chunk of memtable.scan(range, maxSeq, reverse)) {
            got.push(...chunk);
            for (const key of during.slice(added, added + 10)) memtable.add({ key, seq: ++seq, value: null, expireAtMs: 0 });
            added += 10;
          }
          assert.deepEqual(got, expected(reference, range, maxSeq, reverse));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("scans resume correctly across many chunks while entries are added in the middle", () => {
    const memtable = new Memtable();
    const key = (n: number) => Buffer.from(n.toString().padStart(6, "0"));
    for (let i = 0; i < 5000; i += 2) memtable.add({ key: key(i), seq: i + 1, value: null, expireAtMs: 0 });
    const seen: string[] = [];
    let seq = 10_000;
    for (const chunk of memtable.scan({}, 9_999)) {
      seen.push(...chunk.map((e) => Buffer.from(e.key).toString()));
      for (let k = 0; k < 50; k++) memtable.add({ key: key(2 * Math.floor(Math.random() * 2500) + 1), seq: ++seq, value: null, expireAtMs: 0 });
    }
    assert.deepEqual(seen, Array.from({ length: 2500 }, (_, i) => key(2 * i).toString()));
    const all = [...memtable.entries()];
    for (let i = 1; i < all.length; i++) assert.ok(compareEntries(all[i - 1]!, all[i]!) < 0, `entries ${i - 1} and ${i} out of order`);
  });

  it("keeps order across chunk splits when several key kinds are each added in order, interleaved, with strays", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(3), fc.boolean(), fc.nat(999)), { minLength: 2000, maxLength: 4000 }), (steps) => {
        const memtable = new Memtable();
        const reference: Entry[] = [];
        const next = [0, 0, 0, 0];
        let seq = 0;
        for (const [kind, stray, random] of steps) {
          // In order per kind (a stream's records), or now and then a stray key anywhere in the kind.
          const n = stray && random % 5 === 0 ? random : (next[kind] = next[kind]! + 1);
          const key = new Uint8Array(Buffer.from(`${kind}${String(n).padStart(6, "0")}`)); // a plain Uint8Array, as scans return
          const entry: Entry = { key, seq: ++seq, value: null, expireAtMs: 0 };
          memtable.add(entry);
          addTo(reference, entry);
        }
        assert.deepEqual([...memtable.entries()], reference);
        assert.deepEqual([...memtable.scan({}, seq, true)].flat(), [...reference].reverse());
      }),
      { numRuns: 10 },
    );
  });

  it("keeps its own copy of every key and of values up to 64 bytes (the caller's arrays may change after add), longer values by reference, of any size", () => {
    const memtable = new Memtable();
    const inputs: Entry[] = [];
    const sizes = [0, 1, 32, 33, 1024, 300 * 1024, 1536 * 1024, 5];
    for (let i = 0; i < 3000; i++) {
      const long = i % 7 === 0; // longer than KEY_JS_COMPARE_MAX_BYTES: compared natively
      const key = new Uint8Array(long ? 80 : 6);
      key[0] = 9;
      key[long ? 79 : 5] = i % 251;
      key[1] = i >> 8;
      key[2] = i & 255;
      const size = sizes[i % sizes.length]!;
      const value = i % 11 === 0 ? null : Uint8Array.from({ length: size }, (_, k) => (i + k) % 256);
      const entry: Entry = { key, seq: i + 1, value, expireAtMs: i % 3 === 0 ? 1_000 + i : 0 };
      inputs.push({ key: key.slice(), seq: entry.seq, value: value?.slice() ?? null, expireAtMs: entry.expireAtMs });
      memtable.add(entry);
      key.fill(0xff); // the memtable must not have kept the caller's key
      if (value !== null && value.length <= 64) value.fill(0xee); // nor a short value (longer ones are never changed: WriteOp)
    }
    const reference: Entry[] = [];
    for (const entry of inputs) addTo(reference, entry);
    const plain = (entries: Entry[]) => entries.map((e) => ({ key: [...e.key], seq: e.seq, value: e.value === null ? null : Buffer.from(e.value).toString("hex"), expireAtMs: e.expireAtMs }));
    assert.deepEqual(plain([...memtable.entries()]), plain(reference));
    assert.deepEqual(plain([...memtable.scan({}, 3000)].flat()), plain(reference));
    assert.deepEqual(plain([...memtable.scan({}, 3000, true)].flat()), plain([...reference].reverse()));
  });

  it("counts a replaced (key, seq) once and refuses adds that go back in seq or reach a frozen memtable", () => {
    const memtable = new Memtable();
    memtable.add({ key: Uint8Array.of(1), seq: 5, value: Uint8Array.of(1), expireAtMs: 0 });
    memtable.add({ key: Uint8Array.of(1), seq: 5, value: null, expireAtMs: 0 });
    assert.equal(memtable.entryCount, 1);
    assert.equal([...memtable.entries()][0]!.value, null);
    assert.throws(() => memtable.add({ key: Uint8Array.of(2), seq: 4, value: null, expireAtMs: 0 }), /went back/);
    memtable.freeze();
    assert.throws(() => memtable.add({ key: Uint8Array.of(2), seq: 6, value: null, expireAtMs: 0 }), /frozen/);
  });

  it("bounds the SST of its entries (what sizes an L0's buffer), replaced entries and any block size included", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat(3), fc.option(fc.uint8Array({ maxLength: 3000 }), { nil: null }), fc.boolean()), {
          minLength: 1,
          maxLength: 400,
        }),
        fc.integer({ min: 1024, max: 64 * 1024 }),
        (writes, blockBytes) => {
          const memtable = new Memtable();
          let seq = 1;
          for (const [key, step, value, expires] of writes) {
            seq += step;
            memtable.add({ key, seq, value, expireAtMs: expires ? 1_700_000_000_000 + seq : 0 });
          }
          const builder = new SstBuilder({ blockBytes });
          for (const entry of memtable.entries()) builder.add(entry);
          const sstBytes = builder.finish().bytes.length;
          assert.ok(sstBytes <= memtable.sstSizeBound(blockBytes), `SST of ${sstBytes} bytes over the bound ${memtable.sstSizeBound(blockBytes)}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("floorKey finds the last key in range below a monotone bound with a version at the snapshot, skipping newer versions", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyArb, fc.nat(2)), { minLength: 0, maxLength: 2000 }),
        fc.option(keyArb, { nil: undefined }),
        fc.option(keyArb, { nil: undefined }),
        keyArb,
        fc.nat(40),
        (writes, start, end, pivot, behind) => {
          const memtable = new Memtable();
          const reference: Entry[] = [];
          let seq = 1;
          for (const [key, step] of writes) {
            seq += step;
            const entry: Entry = { key, seq, value: null, expireAtMs: 0 };
            memtable.add(entry);
            addTo(reference, entry);
          }
          const range: KeyRange = { start, end };
          const maxSeq = Math.max(0, seq - behind); // the newest versions are not durable yet
          const below = expected(reference, range, maxSeq, true).find((e) => compareKeys(e.key, pivot) < 0);
          const got = memtable.floorKey(range, maxSeq, (key) => compareKeys(key, pivot) < 0);
          assert.deepEqual(got === undefined ? undefined : [...got], below === undefined ? undefined : [...below.key]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
