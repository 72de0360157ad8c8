/**
 * Checksums for every object durastream writes: xxHash (xxhash-wasm), loaded once per process.
 *
 * `checksum32` guards SST blocks and small records; `checksum64` guards whole WAL objects and
 * manifests. Both are plain functions after the module has loaded (top-level await).
 */
import xxhash from "xxhash-wasm";

const api = await xxhash();

export function checksum32(bytes: Uint8Array): number {
  return api.h32Raw(bytes) >>> 0;
}

export function checksum64(bytes: Uint8Array): bigint {
  return api.h64Raw(bytes);
}
