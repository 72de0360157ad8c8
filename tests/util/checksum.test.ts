import assert from "node:assert/strict";
import { it } from "node:test";
import xxhash from "xxhash-wasm";
import { Checksum64Stream, checksum32, checksum64, checksum64OfPieces } from "../../src/util/checksum.js";

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

it("Checksum64Stream: pieces of any size, several streams interleaved with each other and with one-shot hashes, give xxh64 of the whole", async () => {
  const api = await xxhash();
  let state = 11;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => (state = (state * 1103515245 + 12345) & 0xff));
  const inputs = [0, 1, 31, 32, 33, 1000, 256 * 1024 + 3, 1_100_000].map(bytes);
  const cuts = [1, 7, 32, 4096, 300_000];
  const streams = inputs.map(() => new Checksum64Stream());
  const small = bytes(100);
  const large = bytes(600_000);
  // Round robin: each stream takes its next piece, then a one-shot hash runs in between.
  for (let round = 0, at = inputs.map(() => 0); at.some((pos, i) => pos < inputs[i]!.length) || round === 0; round++) {
    inputs.forEach((input, i) => {
      const end = Math.min(input.length, at[i]! + cuts[(round + i) % cuts.length]!);
      streams[i]!.update(input.subarray(at[i], end));
      at[i] = end;
      checksum64(small); // must not disturb the streams' states
      checksum64(large);
    });
  }
  inputs.forEach((input, i) => assert.equal(streams[i]!.digest(), api.h64Raw(input), `stream of ${input.length} bytes`));
  assert.throws(() => streams[0]!.update(bytes(1)), /after digest/);
});

it("checksum64OfPieces: any split of an input, empty pieces and pieces across the 256 KiB hashing step included, gives xxh64 of the whole, between Checksum64Stream updates", async () => {
  const api = await xxhash();
  let state = 13;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => (state = (state * 1103515245 + 12345) & 0xff));
  const stream = new Checksum64Stream().update(bytes(1000)); // a stream under way keeps its state
  for (const n of [0, 1, 44, 1000, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 700_001]) {
    const input = bytes(n);
    for (const cut of [1, 52, 1030, 100_000, 256 * 1024 + 5]) {
      const pieces: Uint8Array[] = [new Uint8Array(0)];
      for (let at = 0; at < n; at += cut) pieces.push(input.subarray(at, Math.min(n, at + cut)), new Uint8Array(0));
      assert.equal(checksum64OfPieces(pieces), api.h64Raw(input), `${n} bytes in pieces of ${cut}`);
    }
  }
  const rest = bytes(300_000);
  const whole = new Uint8Array(1000 + rest.length);
  state = 13;
  whole.set(bytes(1000));
  whole.set(rest, 1000);
  assert.equal(stream.update(rest).digest(), api.h64Raw(whole), "the stream under way is undisturbed");
});
