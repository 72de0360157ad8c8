import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StorageError } from "../../src/errors.js";
import { GarbageCollector, type GcEpoch, type GcHost, type GcOptions } from "../../src/engine/garbage-collector.js";
import { emptyManifest, type Manifest, type SstHandle } from "../../src/engine/manifest-format.js";
import { SST_PREFIX, manifestKey, sstKey, walKey } from "../../src/engine/paths.js";
import { WAL_FENCE_BYTES } from "../../src/engine/wal-format.js";
import type { WalDirectory } from "../../src/engine/wal-files.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { ManualClock } from "../../src/util/clock.js";

const OPTIONS: GcOptions = { readOnly: false, gcIntervalMs: 1_000, gcGraceMs: 5_000, manifestsKept: 2 };

function handle(id: number): SstHandle {
  const key = Buffer.from([id]).toString("base64");
  return {
    id,
    info: { formatVersion: 1, sizeBytes: 100, entryCount: 1, firstKey: key, lastKey: key, minSeq: 1, maxSeq: 1, indexOffset: 50, indexLength: 10 },
  };
}

/** A collector over a memory store, with an epoch and a host the test controls directly. */
function harness(manifest: Partial<Manifest> = {}, options: Partial<GcOptions> = {}) {
  const clock = new ManualClock();
  const memory = new MemoryStore();
  const store = new FaultyStore(memory, { clock });
  const pinned = new Set<number>();
  const forgotten: number[] = [];
  const backgroundErrors: unknown[] = [];
  const unlinked: string[] = [];
  const m: Manifest = { ...emptyManifest(), writerEpoch: 3, nextWalId: 100, nextSstId: 100, lastL0Seq: 10, ...manifest };
  const epoch: GcEpoch = { manifest: { id: 10, manifest: m }, stopped: false, sstIdFloorAtOpen: 50, segments: undefined, foreignWalFiles: [], foreignAckEpochs: [], collectableFenceIds: [], garbageSsts: new Map() };
  const directory = { unlink: async (name: string) => void unlinked.push(name) } as unknown as WalDirectory;
  const host: GcHost & { epoch: GcEpoch | undefined } = {
    clock,
    store,
    version: { isPinned: (id) => pinned.has(id), forget: (id) => void forgotten.push(id) },
    recorder: { objectsDeleted: 0 },
    segmentDirectory: directory,
    epoch,
    reportBackgroundError: (_task, error) => void backgroundErrors.push(error),
  };
  const gc = new GarbageCollector(host, { ...OPTIONS, ...options });
  const keys = async (prefix: string) => {
    const found: string[] = [];
    for await (const entry of memory.list(prefix)) found.push(entry.key);
    return found;
  };
  return { clock, memory, store, pinned, forgotten, backgroundErrors, unlinked, epoch, host, gc, keys };
}

const body = (bytes: number) => new Uint8Array(bytes).fill(7);

describe("GarbageCollector", () => {
  it("deletes WAL objects at or below the replay point, except anything sized like a fence", async () => {
    const { memory, gc, keys, host } = harness({ replayAfterWalId: 4 });
    await memory.put(walKey(1), body(WAL_FENCE_BYTES)); // a fence: kept forever
    await memory.put(walKey(2), body(64));
    await memory.put(walKey(3), body(0)); // an older version's zero-byte fence: kept
    await memory.put(walKey(4), body(64));
    await memory.put(walKey(5), body(64)); // past the replay point: still needed
    await gc.runOnce();
    assert.deepEqual(await keys("wal/"), [walKey(1), walKey(3), walKey(5)]);
    assert.equal(host.recorder.objectsDeleted, 2);
  });

  it("deletes an SST taken out of the manifest only after the grace period and once no scan pins it", async () => {
    const { clock, memory, gc, keys, pinned, forgotten } = harness();
    await memory.put(sstKey(60), body(10));
    gc.markDereferenced([60]);
    await clock.advance(OPTIONS.gcGraceMs - 1);
    await gc.runOnce();
    assert.deepEqual(await keys(SST_PREFIX), [sstKey(60)], "within the grace period");
    pinned.add(60);
    await clock.advance(1);
    await gc.runOnce();
    assert.deepEqual(await keys(SST_PREFIX), [sstKey(60)], "pinned by a scan");
    pinned.delete(60);
    await gc.runOnce();
    assert.deepEqual(await keys(SST_PREFIX), []);
    assert.deepEqual(forgotten, [60]);
  });

  it("leaves no timer behind once idle, even when the pass it waited for scheduled one, and none for a stopped epoch", async () => {
    const { clock, memory, gc, epoch } = harness();
    await memory.put(sstKey(60), body(10));
    await clock.advance(OPTIONS.gcIntervalMs);
    gc.markDereferenced([60]); // within its grace period: the pass schedules the pass that deletes it
    gc.kick();
    await gc.idle();
    // A timer left here held a closing process open for gcGraceMs (60 s by default).
    assert.equal(clock.pendingTimerCount, 0, "a timer outlived idle()");
    epoch.stopped = true;
    await clock.advance(OPTIONS.gcGraceMs);
    gc.kick();
    await gc.runOnce();
    assert.equal(clock.pendingTimerCount, 0, "a stopped epoch got a timer");
  });

  it("never deletes an SST the manifest references again, even when it was marked", async () => {
    const { clock, memory, gc, keys, epoch } = harness();
    await memory.put(sstKey(60), body(10));
    gc.markDereferenced([60]);
    epoch.manifest.manifest.l0 = [handle(60)];
    await clock.advance(OPTIONS.gcGraceMs);
    await gc.runOnce();
    assert.deepEqual(await keys(SST_PREFIX), [sstKey(60)]);
  });

  it("collects orphans below the epoch's first SST id after the grace period; referenced SSTs and ids of its own stay", async () => {
    const { clock, memory, gc, keys } = harness({ l0: [handle(10)] });
    for (const id of [10, 20, 50, 70]) await memory.put(sstKey(id), body(10));
    await gc.runOnce(); // finds 20 unreferenced below the floor (50): marked now
    assert.deepEqual(await keys(SST_PREFIX), [10, 20, 50, 70].map(sstKey));
    await clock.advance(OPTIONS.gcGraceMs);
    await gc.runOnce();
    assert.deepEqual(await keys(SST_PREFIX), [10, 50, 70].map(sstKey));
  });

  it("keeps the current manifest and the newest manifestsKept before it", async () => {
    const { memory, gc, keys } = harness();
    for (let id = 5; id <= 10; id++) await memory.put(manifestKey(id), body(10));
    await gc.runOnce();
    assert.deepEqual(await keys("manifest/"), [8, 9, 10].map(manifestKey));
  });

  it("does nothing for a stopped epoch or once the engine closed", async () => {
    const { memory, gc, keys, epoch, host } = harness({ replayAfterWalId: 4 });
    await memory.put(walKey(2), body(64));
    epoch.stopped = true;
    await gc.runOnce();
    epoch.stopped = false;
    host.epoch = undefined;
    await gc.runOnce();
    assert.deepEqual(await keys("wal/"), [walKey(2)]);
  });

  it("reports a failed delete as a background error and retries it in the next pass", async () => {
    const { memory, store, gc, keys, backgroundErrors } = harness({ replayAfterWalId: 4 });
    await memory.put(walKey(2), body(64));
    store.failWhen((call) => call.kind === "delete");
    await gc.runOnce();
    assert.equal(backgroundErrors.length, 1);
    assert.ok(backgroundErrors[0] instanceof StorageError);
    assert.deepEqual(await keys("wal/"), [walKey(2)]);
    await gc.runOnce();
    assert.deepEqual(await keys("wal/"), []);
  });

  it("unlinks older epochs' segment files once the replay point covers them, and keeps the rest", async () => {
    const { gc, epoch, unlinked } = harness({ replayAfterWalId: 4 });
    epoch.foreignWalFiles = [
      { name: "wal-00001-a", writerEpoch: 1, maxWalId: 3 },
      { name: "wal-00001-b", writerEpoch: 1, maxWalId: 9 },
    ];
    await gc.runOnce();
    assert.deepEqual(unlinked, ["wal-00001-a"]);
    assert.deepEqual(epoch.foreignWalFiles.map((f) => f.name), ["wal-00001-b"]);
  });

  it("paces passes by gcIntervalMs: a kick within the interval runs from a timer, not at once", async () => {
    const { clock, store, gc } = harness();
    const lists = () => store.counters().calls.list;
    gc.kick();
    await gc.idle();
    const afterFirst = lists();
    assert.ok(afterFirst > 0);
    gc.kick();
    await clock.settle();
    assert.equal(lists(), afterFirst, "a second kick within the interval waits");
    await clock.advance(OPTIONS.gcIntervalMs);
    await clock.settle();
    assert.ok(lists() > afterFirst, "the timer ran the next pass");
    await gc.idle();
  });
});
