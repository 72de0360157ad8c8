import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InternalError } from "../../src/errors.js";
import { SlabAllocator } from "../../src/util/slab.js";

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
