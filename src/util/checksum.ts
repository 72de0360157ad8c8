/**
 * Checksums for every object durastream writes: xxHash32 and xxHash64, computed by the
 * WebAssembly build of xxHash that the xxhash-wasm package ships.
 *
 * `checksum32` guards SST blocks and small records; `checksum64` guards whole WAL objects and
 * manifests. Both are plain synchronous functions from the moment this module loads.
 *
 * Decision: the module is compiled and instantiated synchronously (`new WebAssembly.Module` on
 * the package's xxhash.wasm, 3 KiB), not through xxhash-wasm's async loader. An async loader
 * needs a top-level `await`, and a module graph with one cannot be loaded by `require()` (Node's
 * require(esm) refuses it with ERR_REQUIRE_ASYNC_MODULE), nor can its checksums be plain
 * functions without it. The package's JavaScript is not used; the calls below use the wasm
 * module's exports directly:
 *
 *   xxh32(ptr, len, seed) -> i32          xxh64(ptr, len, seed) -> i64 (a signed BigInt)
 *   init32(state, seed)   update32(state, ptr, len)   digest32(state) -> i32   (state: 48 bytes)
 *   init64(state, seed)   update64(state, ptr, len)   digest64(state) -> i64   (state: 88 bytes)
 *
 * Memory layout used here: the streaming state at offset 0 (zeroed before each init: init does
 * not clear the count of buffered bytes), the input at INPUT_OFFSET. The wasm
 * memory grows to hold the largest piece hashed and never shrinks, so inputs are hashed in pieces
 * of at most HASH_PIECE_BYTES (a 64 MiB SST hashed in one go kept 64 MiB of wasm memory for the
 * life of the process). Piecewise hashing gives the same digest.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { readBigU64 } from "./bytes.js";

/** Inputs are hashed in pieces of at most this many bytes (see the header). */
const HASH_PIECE_BYTES = 256 * 1024;
/** Where inputs are copied in wasm memory: after the largest streaming state (88 bytes), aligned. */
const INPUT_OFFSET = 128;
const WASM_PAGE_BYTES = 64 * 1024;
const U64_MASK = 2n ** 64n - 1n;

/** The WebAssembly API used here: TypeScript declares it only in the DOM library, which this project does not load. */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: unknown };
};

interface XxhashExports {
  readonly mem: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  xxh32(ptr: number, len: number, seed: number): number;
  xxh64(ptr: number, len: number, seed: bigint): bigint;
  init32(state: number, seed: number): void;
  update32(state: number, ptr: number, len: number): void;
  digest32(state: number): number;
  init64(state: number, seed: bigint): void;
  update64(state: number, ptr: number, len: number): void;
  digest64(state: number): bigint;
}

const wasm = instantiateXxhash();
let memory = new Uint8Array(wasm.mem.buffer);

/** Compiles the xxHash wasm module that xxhash-wasm ships, synchronously (see the header). */
function instantiateXxhash(): XxhashExports {
  const entry = createRequire(import.meta.url).resolve("xxhash-wasm"); // <package>/cjs/xxhash-wasm.cjs
  const bytes = readFileSync(path.join(path.dirname(entry), "..", "workerd", "xxhash.wasm"));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as XxhashExports;
}

/** Copies `piece` into wasm memory at INPUT_OFFSET, growing the memory when it is too small. */
function place(piece: Uint8Array): void {
  reserveInput(piece.length);
  memory.set(piece, INPUT_OFFSET);
}

/** Grows the wasm memory, if needed, to hold `bytes` of input at INPUT_OFFSET. */
function reserveInput(bytes: number): void {
  const needBytes = INPUT_OFFSET + bytes;
  if (wasm.mem.buffer.byteLength < needBytes) {
    wasm.mem.grow(Math.ceil((needBytes - wasm.mem.buffer.byteLength) / WASM_PAGE_BYTES));
    memory = new Uint8Array(wasm.mem.buffer);
  }
}

/** The init functions expect a zeroed state (they set the seeds and leave the buffered-bytes count alone). */
function startStream(): void {
  memory.fill(0, 0, INPUT_OFFSET);
}

export function checksum32(bytes: Uint8Array): number {
  if (bytes.length <= HASH_PIECE_BYTES) {
    place(bytes);
    return wasm.xxh32(INPUT_OFFSET, bytes.length, 0) >>> 0;
  }
  startStream();
  wasm.init32(0, 0);
  for (let at = 0; at < bytes.length; at += HASH_PIECE_BYTES) {
    const piece = bytes.subarray(at, at + HASH_PIECE_BYTES);
    place(piece);
    wasm.update32(0, INPUT_OFFSET, piece.length);
  }
  return wasm.digest32(0) >>> 0;
}

export function checksum64(bytes: Uint8Array): bigint {
  if (bytes.length <= HASH_PIECE_BYTES) {
    place(bytes);
    return wasm.xxh64(INPUT_OFFSET, bytes.length, 0n) & U64_MASK;
  }
  return new Checksum64Stream().update(bytes).digest();
}

/**
 * checksum64 of the concatenation of `pieces`, without concatenating them: the pieces are copied
 * into the wasm memory one after another and hashed HASH_PIECE_BYTES at a time (one call for
 * many small pieces). For a segment WAL frame gathered from the batches' own bytes
 * (segment-format.ts FrameGather). Synchronous: no other stream can run in between.
 */
export function checksum64OfPieces(pieces: readonly Uint8Array[]): bigint {
  reserveInput(HASH_PIECE_BYTES);
  let filled = 0;
  let streaming = false;
  for (const piece of pieces) {
    for (let at = 0; at < piece.length; ) {
      const n = Math.min(piece.length - at, HASH_PIECE_BYTES - filled);
      memory.set(n === piece.length ? piece : piece.subarray(at, at + n), INPUT_OFFSET + filled);
      filled += n;
      at += n;
      if (filled < HASH_PIECE_BYTES) continue;
      if (!streaming) {
        startStream();
        wasm.init64(0, 0n);
        streaming = true;
      }
      wasm.update64(0, INPUT_OFFSET, filled);
      filled = 0;
    }
  }
  if (!streaming) return wasm.xxh64(INPUT_OFFSET, filled, 0n) & U64_MASK;
  if (filled > 0) wasm.update64(0, INPUT_OFFSET, filled);
  return wasm.digest64(0) & U64_MASK;
}

/** Bytes of xxHash64's streaming state in wasm memory (the header: at most 88). */
const STATE64_BYTES = 88;

/**
 * checksum64 of bytes given in pieces, with a state of its own: several may be under way at
 * once (each update copies the state into the wasm memory and back), so a caller can hash a
 * large array a piece per turn of the event loop instead of holding the loop for milliseconds.
 * The digest is the same as checksum64 of the pieces' concatenation.
 */
export class Checksum64Stream {
  readonly #state = new Uint8Array(STATE64_BYTES);
  #started = false;
  #done = false;

  update(bytes: Uint8Array): this {
    if (this.#done) throw new Error("Checksum64Stream.update() after digest()");
    this.#resume();
    for (let at = 0; at < bytes.length; at += HASH_PIECE_BYTES) {
      const piece = bytes.subarray(at, at + HASH_PIECE_BYTES);
      place(piece); // (growing the memory keeps the state at offset 0)
      wasm.update64(0, INPUT_OFFSET, piece.length);
    }
    this.#state.set(memory.subarray(0, STATE64_BYTES));
    return this;
  }

  digest(): bigint {
    this.#done = true;
    this.#resume();
    return wasm.digest64(0) & U64_MASK;
  }

  /** Puts this stream's state at offset 0 of the wasm memory (a new one: zeroed and initialised). */
  #resume(): void {
    if (!this.#started) {
      this.#started = true;
      startStream();
      wasm.init64(0, 0n);
      this.#state.set(memory.subarray(0, STATE64_BYTES));
      return;
    }
    memory.set(this.#state, 0);
  }
}

/**
 * Whether the 8 bytes at `end` hold checksum64 of `bytes[from, end)` (big-endian): how every
 * format here checks its trailer. False, not an exception, when those 8 bytes are missing.
 */
export function checksum64Matches(bytes: Uint8Array, from: number, end: number): boolean {
  if (from < 0 || from > end || end + 8 > bytes.length) return false;
  return checksum64(bytes.subarray(from, end)) === readBigU64(bytes, end);
}
