import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ByteReader, ByteWriter, DecodeError, copyOf, readBigU64, readU64, writeU64 } from "../../src/util/bytes.js";
import { checksum64, checksum64Matches } from "../../src/util/checksum.js";

describe("util/bytes: the one u64 codec and byte writer", () => {
  it("writes u64s big-endian, so that byte order is numeric order, and reads them back", () => {
    const values = [0, 1, 0xff, 0x100, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER];
    let previous: Buffer | undefined;
    for (const value of values) {
      const out = new Uint8Array(10).fill(0xee);
      writeU64(out, 1, value);
      assert.equal(out[0], 0xee);
      assert.equal(out[9], 0xee);
      assert.equal(readU64(out, 1), value);
      assert.equal(Buffer.from(out.subarray(1, 9)).readBigUInt64BE(0), BigInt(value));
      const current = Buffer.from(out.subarray(1, 9));
      if (previous !== undefined) assert.equal(Buffer.compare(previous, current), -1);
      previous = current;
    }
  });

  it("reads a u64 above 2^53 - 1 as -1, and refuses to write anything but a safe integer >= 0", () => {
    const out = new Uint8Array(8);
    Buffer.from(out.buffer).writeBigUInt64BE(2n ** 53n);
    assert.equal(readU64(out, 0), -1);
    Buffer.from(out.buffer).writeBigUInt64BE(2n ** 64n - 1n);
    assert.equal(readU64(out, 0), -1);
    for (const bad of [-1, 0.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => writeU64(out, 0, bad), RangeError);
  });

  it("ByteWriter grows past its initial size and ByteReader reads the same fields back", () => {
    const writer = new ByteWriter(4);
    const blob = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    writer.u8(7).u32(0xdead_beef).u64(2 ** 50 + 3).bigU64(2n ** 63n).lengthPrefixed(blob);
    assert.equal(writer.length, 1 + 4 + 8 + 8 + 4 + 300);
    const bytes = writer.finish();
    const reader = new ByteReader(bytes);
    assert.equal(reader.u8(), 7);
    assert.equal(reader.u32(), 0xdead_beef);
    assert.equal(reader.u64(), 2 ** 50 + 3);
    assert.equal(reader.bigU64(), 2n ** 63n);
    assert.deepEqual([...reader.lengthPrefixed()], [...blob]);
    assert.equal(reader.remaining, 0);
    assert.throws(() => reader.u8(), DecodeError);
  });

  it("ByteReader refuses a u64 above 2^53 - 1 and any read past its end", () => {
    const writer = new ByteWriter();
    writer.bigU64(2n ** 53n);
    assert.throws(() => new ByteReader(writer.finish()).u64(), /above 2\^53/);
    assert.throws(() => new ByteReader(new Uint8Array(3)).u32(), DecodeError);
    assert.throws(() => new ByteWriter().u64(-1), RangeError);
  });

  it("copyOf makes a copy that shares no memory with a Buffer view", () => {
    const source = Buffer.from("abcdef").subarray(1, 4);
    const copy = copyOf(source);
    source[0] = 0x7a;
    assert.deepEqual([...copy], [0x62, 0x63, 0x64]);
  });

  it("readBigU64 reads the full 64 bits, and checksum64Matches checks a trailer at any offset", () => {
    const out = new Uint8Array(8).fill(0xff);
    assert.equal(readBigU64(out, 0), 2n ** 64n - 1n);
    const body = new TextEncoder().encode("some framed bytes");
    const framed = new ByteWriter().bytes(Uint8Array.of(9, 9)).bytes(body);
    framed.bigU64(checksum64(body));
    const bytes = framed.finish();
    assert.equal(checksum64Matches(bytes, 2, 2 + body.length), true);
    assert.equal(checksum64Matches(bytes, 1, 2 + body.length), false, "another range");
    assert.equal(checksum64Matches(bytes.subarray(0, bytes.length - 1), 2, 2 + body.length), false, "the trailer is cut short");
    const flipped = copyOf(bytes);
    flipped[5]! ^= 1;
    assert.equal(checksum64Matches(flipped, 2, 2 + body.length), false, "a flipped bit");
  });
});
