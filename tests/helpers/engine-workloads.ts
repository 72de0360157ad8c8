/**
 * Engine workloads that several tests write the same way: L0s that a compaction must merge, and
 * L0s of records large enough to be written around the page cache.
 */
import assert from "node:assert/strict";
import path from "node:path";
import type { Engine } from "../../src/engine/engine.js";
import type { Manifest, SstHandle } from "../../src/engine/manifest-format.js";
import { directWritableBuffer } from "../../src/store/direct-write.js";
import type { LocalStore } from "../../src/store/local-store.js";
import { DIRECT_WRITE_MIN_BYTES } from "../../src/limits.js";

const MiB = 1024 * 1024;

/** Four L0 flushes of 40 entries each (700-739-byte values, keys of each flush apart); returns what was written. */
export async function writeFourL0s(engine: Engine): Promise<Map<string, string>> {
  const written = new Map<string, string>();
  for (let flush = 0; flush < 4; flush++) {
    for (let i = 0; i < 40; i++) {
      const key = `k${flush}-${String(i).padStart(3, "0")}`;
      const value = `${key}:`.padEnd(700 + i, String.fromCharCode(97 + flush));
      written.set(key, value);
      engine.write([{ type: "put", key: Buffer.from(key), value: Buffer.from(value) }]);
    }
    await engine.flushMemtables();
  }
  return written;
}

/** Two L0 flushes over the same 60 keys (600-byte values), so that a compaction merges them; returns what was written. */
export async function writeTwoOverlappingL0s(engine: Engine): Promise<Map<string, string>> {
  const written = new Map<string, string>();
  for (let flush = 0; flush < 2; flush++) {
    for (let i = 0; i < 60; i++) {
      const key = `k${String(i).padStart(3, "0")}-${flush}`; // both L0s span every key: they merge
      const value = `${key}:`.padEnd(600, "v");
      written.set(key, value);
      engine.write([{ type: "put", key: Buffer.from(key), value: Buffer.from(value) }]);
    }
    await engine.flushMemtables();
  }
  return written;
}

/** Record `i` of `writeThreeLargeL0s`: key k000000.., a 2000-byte value that names it. */
export const largeRecordKey = (i: number): Buffer => Buffer.from(`k${String(i).padStart(6, "0")}`);
export const largeRecordValue = (i: number): Buffer => Buffer.from(`${i}:`.padEnd(2000, String.fromCharCode(97 + (i % 26))));

/**
 * Writes three L0s of `perFlush` 2000-byte records each and waits for their compaction. Returns
 * how many puts of `local` went direct once the L0s were written, the manifest, and the outputs of
 * DIRECT_WRITE_MIN_BYTES or more. When no L0 went direct, asserts that direct writes are not
 * possible under `dir` (else the engine failed to use them).
 */
export async function writeThreeLargeL0s(engine: Engine, local: LocalStore, dir: string, perFlush: number): Promise<{ afterL0s: number; manifest: Manifest; outputs: SstHandle[] }> {
  for (let flush = 0; flush < 3; flush++) {
    for (let i = flush * perFlush; i < (flush + 1) * perFlush; i++) engine.write([{ type: "put", key: largeRecordKey(i), value: largeRecordValue(i) }]);
    await engine.flushMemtables();
  }
  const afterL0s = local.directPutCount;
  await engine.compactor.idle();
  const manifest = engine.epoch!.manifest.manifest;
  assert.equal(manifest.l0.length, 0, "the three L0s were compacted");
  const outputs = manifest.runs.flatMap((run) => run.ssts).filter((sst) => sst.info.sizeBytes >= DIRECT_WRITE_MIN_BYTES);
  if (afterL0s === 0) {
    // (not "probe": that is the engine's store probe's directory, where no scratch file can be made)
    assert.equal(directWritableBuffer(path.join(dir, "direct-write-probe"), 2 * MiB), undefined, "direct writes possible here, yet no L0 was written direct");
  } else {
    assert.equal(afterL0s, 3, "every L0 went direct");
  }
  return { afterL0s, manifest, outputs };
}

/** Asserts that the engine holds exactly records 0 .. count - 1 of `writeThreeLargeL0s`, in order. */
export async function assertLargeRecords(engine: Engine, count: number): Promise<void> {
  let n = 0;
  for await (const entry of engine.scan({})) {
    assert.ok(Buffer.from(entry.key).equals(largeRecordKey(n)) && Buffer.from(entry.value).equals(largeRecordValue(n)), `entry ${n}`);
    n++;
  }
  assert.equal(n, count);
}
