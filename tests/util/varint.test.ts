import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_VARINT_BYTES, MAX_VARINT_U32, readVarint, varintBytes, varintProblem, writeVarint } from "../../src/util/varint.js";

function encode(value: number): Uint8Array {
  const out = new Uint8Array(MAX_VARINT_BYTES);
  return out.subarray(0, writeVarint(out, 0, value));
}

function read(bytes: Uint8Array): number {
  return readVarint(bytes, { pos: 0 }, bytes.length);
}

describe("util/varint: the one LEB128 codec", () => {
  it("round-trips every length boundary and takes the fewest bytes (canonical)", () => {
    const values = [0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0x1f_ffff, 0x20_0000, 0x0fff_ffff, 0x1000_0000, MAX_VARINT_U32];
    for (const value of values) {
      const bytes = encode(value);
      assert.equal(bytes.length, varintBytes(value), `length of ${value}`);
      assert.equal(bytes[bytes.length - 1]! === 0 && bytes.length > 1, false, `${value} ends in a zero group`);
      const cursor = { pos: 0 };
      assert.equal(readVarint(bytes, cursor, bytes.length), value);
      assert.equal(cursor.pos, bytes.length);
    }
    assert.deepEqual([...encode(300)], [0xac, 0x02]);
  });

  it("refuses non-canonical encodings (a trailing zero group), so every value has one encoding", () => {
    for (const bytes of [[0x80, 0x00], [0x81, 0x80, 0x00], [0xff, 0xff, 0xff, 0x80, 0x00]]) {
      const input = Uint8Array.from(bytes);
      assert.equal(read(input), -1, `${bytes} must be refused`);
      assert.equal(varintProblem(input, 0, input.length), "non-canonical");
    }
  });

  it("refuses truncated, over-long and over-u32 varints and leaves the cursor in place", () => {
    const cases: [number[], string][] = [
      [[], "truncated"],
      [[0x80], "truncated"],
      [[0xff, 0xff, 0xff, 0xff], "truncated"],
      [[0xff, 0xff, 0xff, 0xff, 0x10], "too large"],
      [[0xff, 0xff, 0xff, 0xff, 0x8f, 0x01], "longer than 5 bytes"],
    ];
    for (const [bytes, problem] of cases) {
      const input = Uint8Array.from(bytes);
      const cursor = { pos: 0 };
      assert.equal(readVarint(input, cursor, input.length), -1, `${bytes}`);
      assert.equal(cursor.pos, 0);
      assert.equal(varintProblem(input, 0, input.length), problem, `${bytes}`);
    }
    assert.equal(varintProblem(encode(300), 0, 2), undefined);
  });

  it("never reads past its limit, even when the buffer goes on", () => {
    const bytes = Uint8Array.of(0xac, 0x02);
    assert.equal(readVarint(bytes, { pos: 0 }, 1), -1);
    assert.equal(readVarint(bytes, { pos: 0 }, 2), 300);
  });
});
