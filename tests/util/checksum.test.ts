import assert from "node:assert/strict";
import { it } from "node:test";
import xxhash from "xxhash-wasm";
import { checksum32, checksum64 } from "../../src/util/checksum.js";

it("hashes large inputs piecewise to the same digests as one-shot xxhash (wasm memory stays small)", async () => {
  const api = await xxhash();
  let state = 7;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => (state = (state * 1103515245 + 12345) & 0xff));
  // Interleaved 64- and 32-bit hashing of sizes around the piece size: one streaming hash must
  // not see what the previous one left in the shared wasm state.
  for (const n of [0, 1, 15, 16, 17, 1000, 256 * 1024, 256 * 1024 + 1, 3_000_001, 256 * 1024 + 7]) {
    const input = bytes(n);
    assert.equal(checksum64(input), api.h64Raw(input), `xxh64 of ${n} bytes`);
    assert.equal(checksum32(input), api.h32Raw(input) >>> 0, `xxh32 of ${n} bytes`);
  }
});
