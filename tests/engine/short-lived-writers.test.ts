/**
 * Issue 13, item 11: short-lived writers (a CLI append, a cron job) must not make every later open
 * slower, nor leave objects behind one per open.
 *
 *   - a clean close flushes the memtables once the replay range passes CLOSE_FLUSH_MIN_WAL_IDS, so
 *     the next open replays a bounded range however many writers came before (before, every open
 *     replayed every earlier writer's WAL: 200 cycles took an open from 70 to 376 ms here);
 *   - a clean close records itself in the manifest, so the next writer's fence stops nobody and is
 *     collected, and the segment WAL seals no cleanly closed epoch; older ack files go with their
 *     segments; a clean close waits for the garbage-collection pass its open started, which
 *     collects what the writers before it left (before, 400 cycles left 400 fences, 400 seal and
 *     400 ack files, and every manifest).
 *   - a writer that did not close cleanly keeps its fence (and seal) for good: a zombie of it must
 *     still fail (docs/decisions/0003-wal-fencing.md, 0005-segment-wal.md).
 * Bounds are on counts (objects, files, entries an open lists or reads), never on time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { readLatestManifest } from "../../src/engine/manifest-store.js";
import { MANIFEST_PREFIX, WAL_PREFIX, parseId, sstKey, walKey } from "../../src/engine/paths.js";
import { SEAL_PREFIX } from "../../src/engine/segment-format.js";
import { mayBeWalFence } from "../../src/engine/wal-format.js";
import type { WalDirectory } from "../../src/engine/wal-files.js";
import { FencedError } from "../../src/errors.js";
import { CLOSE_FLUSH_MIN_WAL_IDS, DEFAULT_MANIFESTS_KEPT, MIN_WAL_SEGMENT_BYTES } from "../../src/limits.js";
import { openLog } from "../../src/log.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ByteRange, ListEntry, ListOptions, ObjectStore } from "../../src/store/object-store.js";
import { SimulatedDisk } from "../helpers/simulated-disk.js";
import { ManualClock } from "../../src/util/clock.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const CYCLES = CLOSE_FLUSH_MIN_WAL_IDS + 16; // each cycle adds two WAL ids (a fence, an append): past the bound without the fix
const MANY_CYCLES = 400;
/**
 * WAL objects after a close: at most CLOSE_FLUSH_MIN_WAL_IDS + 1 above the replay point; after a
 * close that flushed, those are below it and wait for the next writer's garbage-collection pass,
 * with that close's fence and object (a writer collects what the ones before it left).
 */
const MAX_WAL_OBJECTS = CLOSE_FLUSH_MIN_WAL_IDS + 8;
/** Segment WAL files: per epoch whose frames are above the replay point, a segment, maybe a spare, an ack file. */
const MAX_WAL_FILES = 3 * (CLOSE_FLUSH_MIN_WAL_IDS / 2 + 2);
/**
 * What an open may list or read, whatever the number of earlier writers: the manifests, the WAL
 * above the replay point (listed by the fence placement, read by the replay, listed again by the
 * first garbage-collection pass, which starts before the open returns) and a few more.
 * Without the fix an open listed every fence ever written.
 */
const MAX_OPEN_TOUCHES = DEFAULT_MANIFESTS_KEPT + 3 * MAX_WAL_OBJECTS + 16;

async function replayRange(store: ObjectStore): Promise<number> {
  const manifest = (await readLatestManifest(store))!.manifest;
  let highest = 0;
  for await (const entry of store.list(WAL_PREFIX)) highest = Math.max(highest, parseId(WAL_PREFIX, entry.key) ?? 0);
  return highest - manifest.replayAfterWalId;
}

async function countKeys(store: ObjectStore, prefix: string): Promise<number> {
  let count = 0;
  for await (const entry of store.list(prefix)) if (entry.key.startsWith(prefix)) count++;
  return count;
}

/** Counts what the engine lists and reads: an open that walks history shows up here. */
class CountingStore implements ObjectStore {
  readonly description = "counting(memory)";
  touches = 0;
  constructor(readonly inner: ObjectStore) {}
  get(key: string, range?: ByteRange) {
    this.touches++;
    return this.inner.get(key, range);
  }
  head(key: string) {
    this.touches++;
    return this.inner.head(key);
  }
  put(...args: Parameters<ObjectStore["put"]>) {
    return this.inner.put(...args);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    for await (const entry of this.inner.list(prefix, options)) {
      this.touches++;
      yield entry;
    }
  }
}

for (const [name, makeStore] of [
  ["MemoryStore (object WAL)", async () => new MemoryStore()],
  ["LocalStore (segment WAL)", async () => new LocalStore(await makeTempDir("short-lived"))],
] as const) {
  test(`issue 13.11 on ${name}: after ${CYCLES} open-append-close cycles the next open replays at most ${CLOSE_FLUSH_MIN_WAL_IDS + 2} WAL ids`, async () => {
    const store = await makeStore();
    let worst = 0;
    for (let i = 0; i < CYCLES; i++) {
      const log = await openLog({ store });
      const stream = await log.openStream("jobs", { createIfMissing: true });
      await stream.append([{ body: `run ${i}` }]);
      await log.close();
      worst = Math.max(worst, await replayRange(store));
    }
    assert.ok(worst <= CLOSE_FLUSH_MIN_WAL_IDS + 2, `a replay range reached ${worst} WAL ids`);
    assert.ok((await countKeys(store, WAL_PREFIX)) <= MAX_WAL_OBJECTS, "WAL objects accumulate");
    const log = await openLog({ store });
    const records = [];
    for await (const record of (await log.openStream("jobs")).read({ from: { seqNum: 0 } })) records.push(Buffer.from(record.body).toString());
    assert.deepEqual(records, Array.from({ length: CYCLES }, (_, i) => `run ${i}`));
    await log.close();
  });
}

const key = (i: number) => Buffer.from(`job-${String(i).padStart(6, "0")}`);

async function cycle(store: ObjectStore, options: { walMode: "objects" | "segments"; walDirectory?: WalDirectory }, i: number): Promise<void> {
  const engine = await Engine.open(store, options);
  await engine.whenDurable(engine.write([{ type: "put", key: key(i), value: Buffer.from(`run ${i}`) }]));
  await engine.close();
}

for (const walMode of ["objects", "segments"] as const) {
  test(`issue 13.11, ${walMode} WAL: ${MANY_CYCLES} open-append-close cycles leave a bounded number of WAL objects, files and manifests, and an open lists or reads at most ${MAX_OPEN_TOUCHES} objects`, async (t) => {
    const memory = new MemoryStore();
    const store = new CountingStore(memory);
    const disk = new SimulatedDisk();
    const dir = disk.directory();
    const options = { walMode, ...(walMode === "segments" ? { walDirectory: dir, walSegmentBytes: MIN_WAL_SEGMENT_BYTES } : {}) };
    let worstWal = 0;
    let worstFiles = 0;
    let worstOpen = 0;
    for (let i = 0; i < MANY_CYCLES; i++) {
      store.touches = 0;
      const engine = await Engine.open(store, options);
      worstOpen = Math.max(worstOpen, store.touches);
      await engine.whenDurable(engine.write([{ type: "put", key: key(i), value: Buffer.from(`run ${i}`) }]));
      await engine.close();
      worstWal = Math.max(worstWal, await countKeys(memory, WAL_PREFIX));
      worstFiles = Math.max(worstFiles, (await dir.list()).length);
    }
    t.diagnostic(`worst: ${worstWal} WAL objects, ${worstFiles} segment WAL files, ${worstOpen} objects listed or read by an open`);
    assert.ok(worstWal <= MAX_WAL_OBJECTS, `WAL objects reached ${worstWal}`);
    assert.ok(worstFiles <= MAX_WAL_FILES, `segment WAL files reached ${worstFiles}`);
    assert.deepEqual((await dir.list()).filter((name) => name.startsWith(SEAL_PREFIX)), [], "a cleanly closed epoch was sealed");
    assert.ok((await countKeys(memory, MANIFEST_PREFIX)) <= DEFAULT_MANIFESTS_KEPT + 2, "manifests accumulate");
    assert.ok(worstOpen <= MAX_OPEN_TOUCHES, `an open listed or read ${worstOpen} objects`);
    const engine = await Engine.open(store, { ...options, readOnly: true });
    for (const i of [0, MANY_CYCLES / 2, MANY_CYCLES - 1]) assert.equal(Buffer.from((await engine.get(key(i)))!).toString(), `run ${i}`);
    await engine.close();
  });

  test(`issue 13.11, ${walMode} WAL: the fence above a writer that did not close cleanly stays through collection, and that zombie still fails`, async () => {
    const store = new MemoryStore();
    const disk = new SimulatedDisk();
    const options = { walMode, ...(walMode === "segments" ? { walDirectory: disk.directory() } : {}) };
    const zombie = await Engine.open(store, options);
    await zombie.whenDurable(zombie.write([{ type: "put", key: key(0), value: Buffer.from("zombie") }]));
    const taker = await Engine.open(store, options); // the zombie never closed: no clean-close mark
    let fenceId = 0;
    for await (const entry of store.list(WAL_PREFIX)) fenceId = Math.max(fenceId, parseId(WAL_PREFIX, entry.key) ?? 0);
    for (let i = 1; i <= CLOSE_FLUSH_MIN_WAL_IDS + 2; i++) await taker.whenDurable(taker.write([{ type: "put", key: key(i), value: Buffer.from("x") }]));
    await taker.close(); // flushes, then collects below the replay point
    for (let i = 0; i < 3; i++) await cycle(store, options, 100 + i);
    assert.ok((await readLatestManifest(store))!.manifest.replayAfterWalId >= fenceId, "the replay point passed the taker's fence");
    const fence = await store.head(walKey(fenceId)); // kept: it is what stops the zombie
    assert.ok(mayBeWalFence(fence.size));
    if (walMode === "segments") assert.ok((await disk.directory().list()).some((name) => name.startsWith(SEAL_PREFIX)), "the zombie's epoch is sealed");
    await assert.rejects(async () => zombie.whenDurable(zombie.write([{ type: "put", key: key(1), value: Buffer.from("late") }])), FencedError);
    await zombie.close();
    const reader = await Engine.open(store, { ...options, readOnly: true });
    assert.equal(Buffer.from((await reader.get(key(1)))!).toString(), "x");
    await reader.close();
  });
}

test("SSTs a compaction replaced are deleted gcGraceMs after it, even when every writer lives shorter than that (the removal time is in the manifest)", async () => {
  const store = new MemoryStore();
  const clock = new ManualClock({ startMs: 1_767_225_600_000 });
  const gcGraceMs = 60_000;
  const options = { clock, flushIntervalMs: 0, l0SstBytes: 4096, sstBlockBytes: 512, l0CompactionTrigger: 2, gcIntervalMs: 10_000, gcGraceMs, compactionThread: "main" } as const;
  const sstKeys = async () => {
    const keys: string[] = [];
    for await (const entry of store.list("sst/")) keys.push(entry.key);
    return keys;
  };
  // Writer 1 flushes two L0s; they merge into a run, and the merge's inputs leave the manifest.
  const first = await Engine.open(store, options);
  for (let flush = 0; flush < 2; flush++) {
    for (let i = 0; i < 20; i++) first.write([{ type: "put", key: Buffer.from(`k${i}`), value: Buffer.from(`v${flush}-${i}`.padEnd(100, "x")) }]);
    await first.flushMemtables();
  }
  await first.compactor.idle();
  const replaced = (await sstKeys()).filter((key) => !listed(first).has(key));
  assert.ok(replaced.length >= 2, `the compaction replaced its inputs (${replaced.length})`);
  await clock.advance(gcGraceMs / 2);
  await first.close(); // within their grace period: kept
  const kept = await sstKeys();
  for (const key of replaced) assert.ok(kept.includes(key), `${key} was deleted before its grace period ended`);
  // Writers 2 and 3 each live a few seconds; the grace period ends while writer 3 is open.
  for (const writer of [2, 3]) {
    await clock.advance(gcGraceMs / 4);
    const engine = await Engine.open(store, options);
    await engine.gc.runOnce();
    const now = await sstKeys();
    for (const key of replaced) {
      assert.equal(now.includes(key), writer === 2, `writer ${writer}: ${key} ${now.includes(key) ? "kept" : "deleted"}`);
    }
    await engine.close();
  }
  const last = await Engine.open(store, options);
  const read = new Map<string, string>();
  for await (const entry of last.scan({})) read.set(Buffer.from(entry.key).toString(), Buffer.from(entry.value!).toString().slice(0, 6));
  assert.equal(read.size, 20);
  assert.equal(read.get("k7"), "v1-7xx");
  await last.close();
});

/** The SST keys the engine's current manifest lists. */
function listed(engine: Engine): Set<string> {
  const m = engine.epoch!.manifest.manifest;
  return new Set([...m.l0, ...m.runs.flatMap((run) => run.ssts)].map((handle) => sstKey(handle.id)));
}
