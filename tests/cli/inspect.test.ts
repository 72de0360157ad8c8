/**
 * inspectStore (src/inspect.ts), the library function behind `durastream inspect`: the layout it
 * reports, every checksum `verify` checks (a damaged manifest, WAL object or SST is reported by
 * key with code "corruption", and the rest is still inspected), a missing SST the manifest
 * needs, objects a live writer deletes meanwhile, and that it never writes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStore, NotFoundError, inspectStore, openLog, type ObjectStore } from "../../src/index.js";
import { mayBeWalFence } from "../../src/engine/wal-format.js";

/** A store with SSTs (tiny L0 size), a few WAL objects and two writer epochs. */
async function populatedStore(): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (let epoch = 0; epoch < 2; epoch++) {
    // One GC pass per epoch at most (its first kick): later flushes leave flushed WALs and
    // replaced SSTs behind whatever the machine's load (a full-suite run once saw none left).
    const log = await openLog({ store, l0SstBytes: 1024, flushIntervalMs: 0, gcIntervalMs: 3_600_000 });
    try {
      const stream = await log.openStream("orders", { createIfMissing: true });
      for (let i = 0; i < 12; i++) await stream.append(Array.from({ length: 8 }, (_, j) => ({ body: `order ${epoch}-${i}-${j} `.repeat(3) })));
    } finally {
      await log.close();
    }
  }
  return store;
}

/** Overwrites an object with the same bytes but one flipped in the middle. */
async function corrupt(store: ObjectStore, key: string): Promise<void> {
  const bytes = Buffer.from(await store.get(key));
  const at = bytes.length >> 1;
  bytes[at] = bytes[at]! ^ 0x01;
  await store.put(key, bytes);
}

/** Fails the test on any write: inspect must only read. */
function readOnlyView(store: ObjectStore, missing: Set<string> = new Set()): ObjectStore {
  return {
    get: (key, range) => (missing.has(key) ? Promise.reject(new NotFoundError(key)) : store.get(key, range)),
    head: (key) => (missing.has(key) ? Promise.reject(new NotFoundError(key)) : store.head(key)),
    list: (prefix, options) => store.list(prefix, options),
    put: () => Promise.reject(new Error("inspect must not write")),
    delete: () => Promise.reject(new Error("inspect must not delete")),
  };
}

describe("inspectStore", () => {
  it("reports an empty store as having no manifest and no problems", async () => {
    const report = await inspectStore(new MemoryStore(), { verify: true });
    assert.equal(report.manifest, undefined);
    assert.deepEqual([report.manifests, report.wal, report.ssts, report.problems], [[], [], [], []]);
    assert.equal(report.totalBytes, 0);
  });

  it("describes the newest manifest, the WAL objects and the SSTs with their levels and key ranges, without writing", async () => {
    const store = await populatedStore();
    await store.put("notes.txt", Buffer.from("not ours"));
    const report = await inspectStore(readOnlyView(store));
    const manifest = report.manifest!;
    assert.equal(manifest.writerEpoch, 2);
    assert.equal(manifest.key, report.manifests[report.manifests.length - 1]!.key);
    assert.ok(manifest.l0Count + manifest.sortedRunCount > 0);
    assert.equal(report.verified, false);
    assert.equal(report.checkedObjects, 0);

    assert.ok(report.wal.filter((w) => w.state === "fence").length >= 2, "each writer left a fence");
    for (const wal of report.wal) {
      assert.equal(wal.state === "fence", mayBeWalFence(wal.sizeBytes));
      if (wal.state === "replay") assert.ok(wal.id > manifest.replayAfterWalId);
      if (wal.state === "flushed") assert.ok(wal.id <= manifest.replayAfterWalId);
    }
    const referenced = report.ssts.filter((s) => s.level !== "unreferenced");
    assert.equal(referenced.length, manifest.l0Count + report.ssts.filter((s) => s.level === "run").length);
    for (const sst of referenced) {
      assert.ok(sst.entryCount! > 0 && sst.minSeq! <= sst.maxSeq!);
      assert.ok(sst.firstKey!.hex <= sst.lastKey!.hex);
    }
    const keyTexts = referenced.flatMap((s) => [s.firstKey!.text, s.lastKey!.text]);
    assert.ok(keyTexts.some((text) => /^record stream 1 seq \d+ ts \d+$/.test(text) || /^timestamp index stream 1 /.test(text) || /^meta "orders"$/.test(text) || text === "stream id counter"), keyTexts.join(", "));
    assert.deepEqual(report.other, [{ key: "notes.txt", sizeBytes: 8 }]);
    const listedBytes = [...report.manifests, ...report.wal, ...report.ssts, ...report.other].reduce((sum, o) => sum + o.sizeBytes, 0);
    assert.equal(report.totalBytes, listedBytes);
  });

  it("verify reads every object and finds no problem in a healthy store", async () => {
    const store = await populatedStore();
    const report = await inspectStore(readOnlyView(store), { verify: true });
    assert.deepEqual(report.problems, []);
    assert.equal(report.checkedObjects, report.manifests.length + report.wal.length + report.ssts.length);
    assert.equal(report.checkedBytes, report.totalBytes);
    for (const wal of report.wal.filter((w) => w.state !== "fence")) {
      assert.ok(wal.writerEpoch! >= 1 && wal.batches! >= 1 && wal.firstSeq! <= wal.lastSeq!);
    }
    assert.ok(report.ssts.every((s) => s.blocks! >= 1));
  });

  it("verify reports a flipped byte in an old manifest, a WAL object and an SST by key with code corruption", async () => {
    const store = await populatedStore();
    const before = await inspectStore(store);
    const oldManifest = before.manifests[0]!.key;
    const wal = before.wal.find((w) => w.state !== "fence")!.key;
    const sst = before.ssts.find((s) => s.level !== "unreferenced")!.key;
    for (const key of [oldManifest, wal, sst]) await corrupt(store, key);
    const report = await inspectStore(readOnlyView(store), { verify: true });
    assert.deepEqual(report.problems.map((p) => [p.key, p.code]).sort(), [[oldManifest, "corruption"], [wal, "corruption"], [sst, "corruption"]].sort());
    assert.ok(report.problems.every((p) => p.message.includes(p.key)), "each message names its object");
    assert.equal(report.checkedObjects, before.manifests.length + before.wal.length + before.ssts.length - 3, "every other object was still checked");
    // Without verify, only the newest manifest is read: damage elsewhere goes unseen.
    assert.deepEqual((await inspectStore(store)).problems, []);
  });

  it("reports a damaged newest manifest, and a missing SST that the manifest lists", async () => {
    const store = await populatedStore();
    const before = await inspectStore(store);
    const sst = before.ssts.find((s) => s.level !== "unreferenced")!;
    await store.delete(sst.key);
    const missing = await inspectStore(store, { verify: true });
    assert.deepEqual(missing.problems.map((p) => [p.key, p.code]), [[sst.key, "not_found"]]);
    assert.ok(missing.ssts.some((s) => s.key === sst.key && s.level === sst.level), "the missing SST is still listed");

    const newest = before.manifest!.key;
    await corrupt(store, newest);
    for (const verify of [false, true]) {
      const damaged = await inspectStore(store, { verify });
      assert.equal(damaged.manifest, undefined);
      assert.deepEqual(damaged.problems.map((p) => [p.key, p.code]), [[newest, "corruption"]], `verify: ${verify}`);
    }
  });

  it("counts objects a live writer deleted after the listing (a flushed WAL, a replaced SST) as vanished, not as problems", async () => {
    const store = await populatedStore();
    const before = await inspectStore(store);
    const flushed = before.wal.find((w) => w.state === "flushed");
    const unreferenced = before.ssts.find((s) => s.level === "unreferenced");
    assert.ok(flushed !== undefined && unreferenced !== undefined, "the workload left a flushed WAL and a replaced SST");
    const report = await inspectStore(readOnlyView(store, new Set([flushed.key, unreferenced.key])), { verify: true });
    assert.deepEqual(report.problems, []);
    assert.equal(report.vanished, 2);
  });

  it("reports a missing WAL object that still holds batches to replay (next to a live writer)", async () => {
    const store = new MemoryStore();
    const log = await openLog({ store, flushIntervalMs: 0 });
    try {
      await (await log.openStream("orders", { createIfMissing: true })).append([{ body: "only in the WAL" }]);
      const replay = (await inspectStore(store)).wal.find((w) => w.state === "replay");
      assert.ok(replay !== undefined);
      const report = await inspectStore(readOnlyView(store, new Set([replay.key])), { verify: true });
      assert.deepEqual(report.problems.map((p) => [p.key, p.code]), [[replay.key, "not_found"]]);
      assert.equal(report.vanished, 0);
    } finally {
      await log.close();
    }
  });
});
