/**
 * Checksums for every object durastream writes: xxHash (xxhash-wasm), loaded once per process.
 *
 * `checksum32` guards SST blocks and small records; `checksum64` guards whole WAL objects and
 * manifests. Both are plain functions after the module has loaded (top-level await).
 */
import xxhash from "xxhash-wasm";

const api = await xxhash();

/**
 * Inputs are hashed in pieces of at most this many bytes: xxhash-wasm copies each input into its
 * WebAssembly memory, which grows to the largest input and never shrinks (a 64 MiB SST hashed in
 * one go kept 64 MiB of wasm memory for the life of the process). Piecewise hashing gives the
 * same digest.
 */
const HASH_PIECE_BYTES = 256 * 1024;

export function checksum32(bytes: Uint8Array): number {
  if (bytes.length <= HASH_PIECE_BYTES) return api.h32Raw(bytes) >>> 0;
  const hasher = api.create32();
  for (let at = 0; at < bytes.length; at += HASH_PIECE_BYTES) hasher.update(bytes.subarray(at, at + HASH_PIECE_BYTES));
  return hasher.digest() >>> 0;
}

export function checksum64(bytes: Uint8Array): bigint {
  if (bytes.length <= HASH_PIECE_BYTES) return api.h64Raw(bytes);
  const hasher = api.create64();
  for (let at = 0; at < bytes.length; at += HASH_PIECE_BYTES) hasher.update(bytes.subarray(at, at + HASH_PIECE_BYTES));
  return hasher.digest();
}
