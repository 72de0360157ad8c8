/**
 * LocalStore's puts around the page cache (store/direct-write.ts): a buffer from
 * allocatePutBuffer, or a prefix of it, is written with O_DIRECT where the filesystem takes it,
 * and reads back byte for byte; anything else takes the page-cache path with the same result.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { LOCAL_TEMP_DIR, LocalStore } from "../../src/store/local-store.js";
import { DIRECT_WRITE_ALIGN_BYTES, directWritableBuffer, writeDirect } from "../../src/store/direct-write.js";
import { DIRECT_WRITE_MIN_BYTES } from "../../src/limits.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { assertLargeRecords, writeThreeLargeL0s } from "../helpers/engine-workloads.js";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";

const MiB = 1024 * 1024;
const directSupported = process.platform === "linux";

function fillPattern(bytes: Uint8Array, seed: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + seed) & 255;
}

describe("LocalStore puts around the page cache (O_DIRECT)", () => {
  it("writes a buffer it allocated, and prefixes of every tail length, and reads them back whole", async () => {
    const dir = await makeTempDir("direct-write");
    const store = new LocalStore(dir);
    await store.put("warm", new Uint8Array([1])); // the temp directory exists from the first put on
    const buffer = store.allocatePutBuffer(2 * MiB + 5000);
    assert.equal(buffer.length, 2 * MiB + 5000);
    const lengths = [buffer.length, 2 * MiB, 2 * MiB - 1, DIRECT_WRITE_MIN_BYTES + 1, DIRECT_WRITE_MIN_BYTES + DIRECT_WRITE_ALIGN_BYTES - 1];
    for (const [i, length] of lengths.entries()) {
      fillPattern(buffer, i);
      const body = buffer.subarray(0, length);
      await store.put(`sst/${i}`, body);
      const back = await store.get(`sst/${i}`);
      assert.equal(back.length, length);
      assert.ok(Buffer.from(back).equals(Buffer.from(body)), `object ${i} (${length} bytes) reads back whole`);
      const range = await store.get(`sst/${i}`, { offset: length - 10, length: 10 });
      assert.ok(Buffer.from(range).equals(Buffer.from(body.subarray(length - 10))), "its tail, written through the page cache, is there");
    }
    if (directSupported && store.directPutCount === 0) {
      // Only a filesystem without O_DIRECT (tmpfs) may refuse: then every put took the page-cache path.
      assert.equal(directWritableBuffer(path.join(dir, "probe"), 2 * MiB), undefined, "direct writes possible here, yet none was made");
    }
    if (directSupported && store.directPutCount > 0) assert.equal(store.directPutCount, lengths.length);
    assert.deepEqual(await readdir(path.join(dir, LOCAL_TEMP_DIR)), [], "no temp or scratch file is left");
  });

  it("puts other bodies (small, or in buffers it did not allocate) through the page cache, the same way as before", async () => {
    const dir = await makeTempDir("direct-write-plain");
    const store = new LocalStore(dir);
    const plain = new Uint8Array(3 * MiB + 17);
    fillPattern(plain, 7);
    await store.put("plain", plain);
    const small = store.allocatePutBuffer(DIRECT_WRITE_MIN_BYTES - 1);
    fillPattern(small, 3);
    await store.put("small", small);
    assert.equal(store.directPutCount, 0);
    assert.ok(Buffer.from(await store.get("plain")).equals(Buffer.from(plain)));
    assert.ok(Buffer.from(await store.get("small")).equals(Buffer.from(small)));
  });

  it("writeDirect answers false for a body the kernel will not take direct, and leaves no file behind", { skip: !directSupported }, async () => {
    const dir = await makeTempDir("direct-write-refused");
    const aligned = directWritableBuffer(path.join(dir, "probe"), 2 * MiB + 64);
    if (aligned === undefined) return; // this filesystem takes no direct writes at all: nothing to refuse
    const unaligned = new Uint8Array(aligned.buffer, aligned.byteOffset + 16, 2 * MiB);
    fillPattern(unaligned, 5);
    const file = path.join(dir, "object");
    let unsupported = false;
    assert.equal(await writeDirect(file, unaligned, () => (unsupported = true)), false);
    assert.equal(existsSync(file), false, "the refused file was removed");
    assert.equal(unsupported, false, "an unaligned body is not a filesystem without O_DIRECT");
    assert.equal(await writeDirect(file, aligned, () => (unsupported = true)), true);
    assert.ok(Buffer.from(await readFile(file)).equals(Buffer.from(aligned)));
  });
});

describe("an engine on a LocalStore writes its SSTs around the page cache", () => {
  it("its L0s and its compaction outputs go direct, and everything reads back", { skip: !directSupported }, async () => {
    const dir = await makeTempDir("direct-write-engine");
    const store = new LocalStore(dir);
    const options: EngineOptions = { l0SstBytes: 2 * MiB, maxSstBytes: 2 * MiB, l0CompactionTrigger: 3, compactionThread: "worker", gcIntervalMs: 0, gcGraceMs: 0 };
    const engine = await Engine.open(store, options);
    const { afterL0s, outputs } = await writeThreeLargeL0s(engine, store, dir, 1200);
    if (afterL0s > 0) {
      assert.ok(outputs.length >= 1);
      assert.equal(store.directPutCount - afterL0s, outputs.length, "every large output of the worker went direct");
    }
    await assertLargeRecords(engine, 3600);
    await engine.close();
  });
});
