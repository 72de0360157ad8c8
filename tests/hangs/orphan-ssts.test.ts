/**
 * Issue 16, defect 2: SSTs left above the manifest's nextSstId (by a close, crash or fence in the
 * middle of an L0 flush or a compaction) must never collide with a new writer's ids, must be
 * collected, and a clean close must not leave any behind.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { readLatestManifest } from "../../src/engine/manifest-store.js";
import { SST_PREFIX, parseId, sstKey } from "../../src/engine/paths.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { GatedStore } from "../helpers/gated-store.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const TINY = { l0SstBytes: 1024, maxSstBytes: 1024, flushIntervalMs: 0, gcIntervalMs: 0, gcGraceMs: 0, checkCreateOnly: false } as const;

function put(engine: Engine, index: number): number {
  const key = Buffer.from(`key-${String(index).padStart(6, "0")}`);
  return engine.write([{ type: "put", key, value: Buffer.alloc(200, index % 251) }]);
}

async function sstIds(store: ObjectStore): Promise<number[]> {
  const ids: number[] = [];
  for await (const entry of store.list(SST_PREFIX)) {
    const id = parseId(SST_PREFIX, entry.key);
    if (id !== undefined) ids.push(id);
  }
  return ids;
}

async function unreferencedSsts(store: ObjectStore): Promise<number[]> {
  const latest = await readLatestManifest(store);
  const m = latest!.manifest;
  const referenced = new Set([...m.l0, ...m.runs.flatMap((run) => run.ssts)].map((handle) => handle.id));
  return (await sstIds(store)).filter((id) => !referenced.has(id));
}

test("issue 16 defect 2: 40 leftover SSTs above nextSstId neither block L0 flushes nor survive the next GC", async () => {
  const store = new LocalStore(await makeTempDir("orphans"));
  const junk = Buffer.from("an SST a writer uploaded and never published");
  for (let id = 1; id <= 40; id++) await store.put(sstKey(id), junk, { ifNoneMatch: "*" });

  const engine = await Engine.open(store, TINY);
  let seq = 0;
  for (let i = 0; i < 40; i++) seq = put(engine, i);
  await engine.whenDurable(seq);
  await engine.flushMemtables(); // failed with "could not find a free SST id" before the fix
  assert.equal(engine.metrics().resets, 0);
  assert.ok(engine.metrics().l0Flushes > 0);
  await engine.compactor.idle();
  await engine.gc.runOnce();
  const left = (await sstIds(store)).filter((id) => id <= 40);
  assert.deepEqual(left, [], "the leftovers were collected");
  for (let i = 0; i < 40; i++) assert.ok((await engine.get(Buffer.from(`key-${String(i).padStart(6, "0")}`))) !== undefined);
  await engine.close();
});

test("issue 16 defect 2: a new epoch starts past leftovers even when there are more than a writer would probe", async () => {
  // LocalStore, not MemoryStore: before the fix the reset loop ran in microtasks on MemoryStore.
  const store = new LocalStore(await makeTempDir("leftovers"));
  const engine = await Engine.open(store, TINY);
  for (let i = 0; i < 10; i++) put(engine, i);
  await engine.flushMemtables();
  await engine.close();
  const before = await readLatestManifest(store);
  const from = before!.manifest.nextSstId;
  for (let id = from; id < from + 100; id++) await store.put(sstKey(id), Buffer.from("leftover"), { ifNoneMatch: "*" });

  const reopened = await Engine.open(store, TINY);
  for (let i = 10; i < 30; i++) put(reopened, i);
  await reopened.flushMemtables();
  const latest = await readLatestManifest(store);
  const l0Ids = latest!.manifest.l0.map((handle) => handle.id).filter((id) => id >= from);
  assert.ok(l0Ids.length > 0);
  assert.ok(l0Ids.every((id) => id >= from + 100), `new L0 ids ${l0Ids.join(",")} start past the leftovers`);
  await reopened.close();
});

test("issue 16 defect 2: close() in the middle of a compaction leaves no unpublished SST behind", async () => {
  const gated = new GatedStore(new MemoryStore());
  const engine = await Engine.open(gated, { ...TINY, l0CompactionTrigger: 2, gcGraceMs: 60_000 });
  // Two L0s start a compaction; its outputs are 1 KiB each, so it uploads several.
  let sstPuts = 0;
  let l0Puts = Number.POSITIVE_INFINITY;
  const secondOutput = gated.hold((call) => call.kind === "put" && call.key.startsWith(SST_PREFIX) && ++sstPuts === l0Puts + 2);
  for (let i = 0; i < 12; i++) put(engine, i);
  await engine.flushMemtables();
  l0Puts = sstPuts;
  for (let i = 12; i < 24; i++) put(engine, i);
  await engine.flushMemtables();
  await secondOutput.reached;
  const closed = engine.close();
  await secondOutput.release();
  await closed;
  assert.deepEqual(await unreferencedSsts(gated), [], "the abandoned compaction's outputs were deleted");
  const reopened = await Engine.open(gated, TINY);
  for (let i = 0; i < 24; i++) assert.ok((await reopened.get(Buffer.from(`key-${String(i).padStart(6, "0")}`))) !== undefined, `key ${i}`);
  await reopened.close();
});
