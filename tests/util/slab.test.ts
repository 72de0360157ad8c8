import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InternalError } from "../../src/errors.js";
import { BufferPool, releaseSlabArrays, SlabAllocator } from "../../src/util/slab.js";
import { prefault } from "../../src/util/prefault.js";

describe("util/slab: small arrays carved from large ones", () => {
  it("hands out arrays of the asked size that never overlap, from a new slab when one is full", () => {
    const slabs = new SlabAllocator({ slabBytes: 64, maxSlabbedBytes: 32 });
    const arrays = [20, 20, 30, 4, 32, 1, 0, 17].map((size, i) => {
      const out = slabs.allocUnsafe(size);
      assert.equal(out.length, size);
      out.fill(i);
      return out;
    });
    arrays.forEach((array, i) => assert.ok(array.every((byte) => byte === i), `array ${i} was overwritten`));
    assert.equal(arrays[0]!.buffer, arrays[1]!.buffer, "small arrays share a slab");
    assert.notEqual(arrays[0]!.buffer, arrays[2]!.buffer, "a full slab is replaced, not overwritten");
    assert.equal(arrays[2]!.buffer.byteLength, 64);
  });

  it("with prefaultNext, switches to a slab made ready on the thread pool, and arrays still never overlap", async () => {
    const slabs = new SlabAllocator({ slabBytes: 64 * 1024, maxSlabbedBytes: 4096, prefaultNext: true });
    const arrays: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const out = slabs.allocUnsafe(1000 + (i % 7));
      out.fill(i & 255);
      arrays.push(out);
      if (i % 50 === 0) await slabs.whenNextReady(); // some switches find the next slab ready, others do not
    }
    arrays.forEach((array, i) => assert.ok(array.every((byte) => byte === (i & 255)), `array ${i} was overwritten`));
    assert.ok(new Set(arrays.map((array) => array.buffer)).size >= 3, "several slabs were used");
  });

  it("prefault writes zeros into every byte of the buffer (the pages are faulted in by the kernel)", async () => {
    const buffer = new Uint8Array(5 * 1024 * 1024 + 123).fill(0xab);
    const done = await prefault(buffer);
    if (process.platform === "win32") return assert.equal(done, false);
    assert.equal(done, true);
    assert.ok(buffer.every((byte) => byte === 0));
  });

  it("gives an array larger than maxSlabbedBytes a buffer of its own", () => {
    const slabs = new SlabAllocator({ slabBytes: 64, maxSlabbedBytes: 32 });
    const big = slabs.allocUnsafe(33);
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength, 33);
  });

  it("copies bytes (from an offset) into memory of its own, short and long", () => {
    const slabs = new SlabAllocator({ slabBytes: 1024, maxSlabbedBytes: 256 });
    for (const length of [0, 1, 31, 32, 33, 200, 300]) {
      const source = Uint8Array.from({ length }, (_, i) => (i * 7) & 0xff);
      for (const from of [0, Math.min(2, length)]) {
        const copy = slabs.copy(source, from);
        assert.deepEqual([...copy], [...source.subarray(from)], `length ${length} from ${from}`);
        if (copy.length > 0) {
          source[from] = (source[from]! + 1) & 0xff;
          assert.notEqual(copy[0], source[from], "the copy shares no memory with its source");
        }
      }
    }
  });

  it("refuses options where an array could not fit a slab", () => {
    assert.throws(() => new SlabAllocator({ slabBytes: 16, maxSlabbedBytes: 17 }), InternalError);
    assert.throws(() => new SlabAllocator({ slabBytes: 16, maxSlabbedBytes: 0 }), InternalError);
  });
});

describe("util/slab: BufferPool", () => {
  it("takes a lent buffer back only when its last part is released, and keeps at most maxFree", () => {
    const pool = new BufferPool({ bufferBytes: 32, maxFree: 1 });
    const a = pool.take();
    assert.equal(a.length, 32);
    pool.lend(a, 2);
    const [first, second] = [a.subarray(0, 16), a.subarray(16, 32)];
    assert.equal(pool.holds(first), true);
    pool.release(first);
    assert.notEqual(pool.take().buffer, a.buffer, "one part is still in use: the buffer is not handed out");
    pool.release(second);
    assert.equal(pool.holds(second), false);
    pool.release(second); // not lent any more: ignored, and it is still free only once
    const again = pool.take();
    assert.equal(again.buffer, a.buffer, "free again once every part was released");
    assert.notEqual(pool.take().buffer, a.buffer, "handed out once");
    pool.release(new Uint8Array(8)); // never lent: ignored
  });

  it("gives back an unused buffer, drops what exceeds maxFree, and refuses to give back a lent one", () => {
    const pool = new BufferPool({ bufferBytes: 8, maxFree: 1 });
    const [a, b] = [pool.take(), pool.take()];
    pool.giveBack(a);
    pool.giveBack(b); // one free buffer is kept: b is dropped
    assert.equal(pool.take().buffer, a.buffer);
    assert.notEqual(pool.take().buffer, b.buffer);
    const c = pool.take();
    pool.lend(c, 1);
    assert.throws(() => pool.giveBack(c), InternalError);
    assert.throws(() => pool.lend(c, 1), InternalError);
    assert.throws(() => new BufferPool({ bufferBytes: 0, maxFree: 1 }), InternalError);
  });
});

describe("util/slab: recycled slabs (recycleSlabs)", () => {
  const carve = (allocator: SlabAllocator, n: number) => Array.from({ length: n }, () => allocator.allocUnsafe(8));

  it("carves from a slab again only once it was left for another and every array of it was released, up to recycleSlabs kept", () => {
    const allocator = new SlabAllocator({ slabBytes: 32, maxSlabbedBytes: 8, recycleSlabs: 1 });
    const first = carve(allocator, 4); // fills slab A
    const slabA = first[0]!.buffer;
    releaseSlabArrays(slabA, 3); // A is still the current slab, and one array is in use
    const second = carve(allocator, 4); // slab B: A is left (sealed), one of its arrays still in use
    assert.notEqual(second[0]!.buffer, slabA);
    releaseSlabArrays(slabA, 1); // now every array of A was released
    const third = carve(allocator, 1); // B is full: the next slab is A again
    assert.equal(third[0]!.buffer, slabA, "a sealed slab with every array released is carved from again");
    assert.equal(allocator.reusedSlabs, 1);
    releaseSlabArrays(second[0]!.buffer, 3); // one array of B is still in use
    carve(allocator, 4); // A is full again: a new slab, not B
    assert.notEqual(carve(allocator, 1)[0]!.buffer, second[0]!.buffer, "a slab with an array still in use is not reused");
    assert.throws(() => releaseSlabArrays(second[0]!.buffer, 2), InternalError, "more arrays released than handed out");
    releaseSlabArrays(new ArrayBuffer(32), 1); // no slab of a recycling allocator: ignored
  });

  it("without recycleSlabs, keeps no ledger: releasing changes nothing", () => {
    const allocator = new SlabAllocator({ slabBytes: 16, maxSlabbedBytes: 8 });
    const [a] = carve(allocator, 2);
    releaseSlabArrays(a!.buffer, 2);
    carve(allocator, 2);
    assert.notEqual(carve(allocator, 1)[0]!.buffer, a!.buffer);
    assert.equal(allocator.reusedSlabs, 0);
  });
});
