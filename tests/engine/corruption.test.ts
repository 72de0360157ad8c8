/**
 * Corrupt and truncated objects (DESIGN 5, "Bad input"): damage one object in a store that holds
 * WAL objects to replay, L0 SSTs, sorted runs and manifests, then open the engine and read
 * everything (forward and reverse). The result must be a CorruptionError (code "corruption"),
 * from open or from the read that touches the object; never wrong data, never a success with
 * data missing. Damage to an object the engine does not need (an older manifest) may also
 * succeed, but then with exactly the right data.
 *
 * The cases run on MemoryStore (fast); one runs on LocalStore, where damage sits in files.
 *
 * Damage: one bit flipped at chosen positions of each part (header, body, checksum, footer),
 * truncation at several lengths, zero-length objects, well-formed objects with bad contents
 * (valid checksum around invalid JSON or a broken invariant), an object under the wrong id.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { decodeManifest, encodeManifest, MANIFEST_FORMAT_VERSION, MANIFEST_MAGIC, type Manifest } from "../../src/engine/manifest-format.js";
import { readLatestManifest } from "../../src/engine/manifest-store.js";
import { manifestKey, sstKey, walKey } from "../../src/engine/paths.js";
import { decodeWalObject, encodeBatch, encodeWalFence, encodeWalObject } from "../../src/engine/wal-format.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { ByteWriter } from "../../src/util/bytes.js";
import { checksum64 } from "../../src/util/checksum.js";
import { collect, describeDiff, modelsEqual, scanModel } from "../helpers/engine-check.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { applyBatch, twoWriterBatch, type Model } from "./fixtures/workload.js";

const SEED = 7;
const BASE_OPTIONS: EngineOptions = Object.freeze({
  flushIntervalMs: 0,
  l0SstBytes: 16384, // memtables count about 500 bytes per entry: a few batches per L0
  sstBlockBytes: 256,
  maxSstBytes: 8192,
  gcIntervalMs: 0,
  gcGraceMs: 0,
  manifestsKept: 1,
});
/** Reopening must not compact (it would read the SSTs in the background and race the scan). */
const READ_OPTIONS: EngineOptions = Object.freeze({ ...BASE_OPTIONS, l0CompactionTrigger: 64 });

interface Fixture {
  objects: Map<string, Uint8Array>;
  expected: Model;
  manifestId: number;
  manifest: Manifest;
  /** Non-empty WAL objects after the replay point, ascending. */
  liveWals: number[];
}

/**
 * Writes enough for sorted runs (first open compacts at 2 L0s), then L0s that stay (second open
 * never compacts) and a WAL tail that no L0 holds yet; returns every object and the model.
 */
async function buildFixture(): Promise<Fixture> {
  const store = new MemoryStore();
  const expected: Model = new Map();
  const write = async (engine: Engine, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const batch = twoWriterBatch(SEED, "w1", i);
      const seq = engine.write(batch.ops);
      await engine.whenDurable(seq);
      applyBatch(expected, batch, seq);
    }
  };
  let engine = await Engine.open(store, { ...BASE_OPTIONS, l0CompactionTrigger: 2 });
  await write(engine, 0, 60);
  await engine.flusher.idle();
  await engine.compactor.idle();
  await engine.gc.runOnce();
  await engine.close();
  engine = await Engine.open(store, READ_OPTIONS);
  // Batches until two L0 SSTs wait for compaction (the trigger is out of reach of read-only options).
  let next = 60;
  for (; ((await readLatestManifest(store))?.manifest.l0.length ?? 0) < 2 && next < 400; next += 20) {
    await write(engine, next, next + 20);
    await engine.flusher.idle();
  }
  // One batch per WAL object until at least three objects wait for replay (no L0 holds them).
  for (const end = next + 40; (await walsToReplay(store)).length < 3 && next < end; next++) {
    await write(engine, next, next + 1);
    await engine.flusher.idle();
  }
  await engine.gc.runOnce();
  await engine.close();

  const objects = new Map<string, Uint8Array>();
  for await (const entry of store.list("")) objects.set(entry.key, await store.get(entry.key));
  const latest = (await readLatestManifest(store))!;
  return { objects, expected, manifestId: latest.id, manifest: latest.manifest, liveWals: await walsToReplay(store) };
}

/** Non-empty WAL ids after the newest manifest's replay point. */
async function walsToReplay(store: MemoryStore): Promise<number[]> {
  const replayAfter = (await readLatestManifest(store))?.manifest.replayAfterWalId ?? 0;
  const ids: number[] = [];
  for await (const entry of store.list("wal/")) {
    const id = Number(entry.key.slice("wal/".length));
    if (entry.size > 0 && id > replayAfter) ids.push(id);
  }
  return ids;
}

async function storeWith(fixture: Fixture, change: (objects: Map<string, Uint8Array>) => void): Promise<MemoryStore> {
  const objects = new Map([...fixture.objects].map(([key, bytes]) => [key, bytes.slice()]));
  change(objects);
  const store = new MemoryStore();
  for (const [key, bytes] of objects) await store.put(key, bytes);
  return store;
}

type ReadResult = { ok: true; model: Model } | { ok: false; error: unknown };

/** Opens the engine and reads everything, forward and reverse (reverse first with `reverseFirst`, so a reverse scan meets the damage). */
async function openAndReadAll(store: ObjectStore, reverseFirst = false): Promise<ReadResult> {
  let engine: Engine;
  try {
    engine = await Engine.open(store, READ_OPTIONS);
  } catch (error) {
    return { ok: false, error };
  }
  try {
    if (reverseFirst) await collect(engine.scan({}, { reverse: true }));
    return { ok: true, model: await scanModel(engine, "read") };
  } catch (error) {
    return { ok: false, error };
  } finally {
    await engine.close().catch(() => undefined);
  }
}

const describeError = (error: unknown) => `${String((error as { code?: unknown }).code ?? "no code")}: ${error instanceof Error ? error.message : String(error)}`;

/** Why `result` is not a CorruptionError (undefined when it is one). */
function notCorruption(result: ReadResult, expected: Model): string | undefined {
  if (!result.ok) return (result.error as { code?: unknown }).code === "corruption" ? undefined : `failed with ${describeError(result.error)}`;
  if (modelsEqual(expected, result.model)) return "succeeded (the damage went unnoticed, though the data happened to be right)";
  return `succeeded with WRONG DATA:\n      ${describeDiff(expected, result.model, 5).join("\n      ")}`;
}

interface Damage {
  name: string;
  change: (objects: Map<string, Uint8Array>) => void;
}

/** Runs every damage case and fails once, listing each case that did not end in a CorruptionError. */
async function expectCorruption(fixture: Fixture, damages: readonly Damage[], options: { alsoReverseFirst?: boolean } = {}): Promise<void> {
  const problems: string[] = [];
  for (const damage of damages) {
    for (const reverseFirst of options.alsoReverseFirst === true ? [false, true] : [false]) {
      const problem = notCorruption(await openAndReadAll(await storeWith(fixture, damage.change), reverseFirst), fixture.expected);
      if (problem !== undefined) problems.push(`${damage.name}${reverseFirst ? " (reverse scan first)" : ""}: ${problem}`);
    }
  }
  assert.deepEqual(problems, [], `${problems.length} of ${damages.length} damaged objects were not reported as corruption:\n  ${problems.join("\n  ")}`);
}

// ---------------------------------------------------------------------------------------------
// Damage builders

function flipBit(key: string, position: number): Damage {
  return {
    name: `${key}: bit 0 of byte ${position} flipped`,
    change: (objects) => {
      const bytes = objects.get(key)!;
      assert.ok(position >= 0 && position < bytes.length, `position ${position} outside ${key} (${bytes.length} bytes)`);
      bytes[position] = bytes[position]! ^ 0x01;
    },
  };
}

function truncate(key: string, length: number): Damage {
  return {
    name: `${key}: truncated to ${length} bytes`,
    change: (objects) => {
      const bytes = objects.get(key)!;
      assert.ok(length < bytes.length, `truncating ${key} to ${length} of ${bytes.length} bytes changes nothing`);
      objects.set(key, bytes.slice(0, length));
    },
  };
}

function replace(name: string, key: string, bytes: () => Uint8Array): Damage {
  return { name: `${key}: ${name}`, change: (objects) => objects.set(key, bytes()) };
}

/** A manifest object with a valid magic, version and checksum around any body text. */
function manifestBytes(body: string): Uint8Array {
  const writer = new ByteWriter();
  writer.bytes(MANIFEST_MAGIC).u8(MANIFEST_FORMAT_VERSION).lengthPrefixed(Buffer.from(body, "utf8"));
  writer.bigU64(checksum64(writer.view()));
  return writer.finish();
}

/** The fixture's latest manifest as JSON, with `edit` applied to the parsed value. */
function editedManifestJson(fixture: Fixture, edit: (json: Record<string, unknown>) => void): string {
  const bytes = fixture.objects.get(manifestKey(fixture.manifestId))!;
  const length = Buffer.from(bytes).readUInt32BE(5);
  const json = JSON.parse(Buffer.from(bytes.subarray(9, 9 + length)).toString("utf8")) as Record<string, unknown>;
  edit(json);
  return JSON.stringify(json);
}

// ---------------------------------------------------------------------------------------------

/** An SST id below nextSstId that the manifest does not list (a compaction input of the fixture's history). */
function unlistedSstId(m: Manifest): number {
  const listed = new Set([...m.l0, ...m.runs.flatMap((run) => run.ssts)].map((handle) => handle.id));
  const id = Array.from({ length: m.nextSstId - 1 }, (_, i) => i + 1).find((candidate) => !listed.has(candidate));
  assert.ok(id !== undefined, "the fixture has an SST id it no longer lists");
  return id;
}

describe("corrupt and truncated objects are reported, never read as data", () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await buildFixture();
  });

  it("the fixture holds what the cases below damage, and reads back exactly when undamaged", async () => {
    const m = fixture.manifest;
    assert.ok(m.l0.length >= 2, `L0 SSTs: ${m.l0.length}`);
    assert.ok(m.runs.length >= 1 && m.runs.some((run) => run.ssts.length >= 2), "a sorted run of several SSTs");
    assert.ok(fixture.liveWals.length >= 3, `WAL objects to replay: ${fixture.liveWals.join(", ")}`);
    const result = await openAndReadAll(await storeWith(fixture, () => {}));
    assert.ok(result.ok, `the undamaged store failed: ${result.ok ? "" : describeError(result.error)}`);
    assert.ok(modelsEqual(fixture.expected, result.model), describeDiff(fixture.expected, result.model).join("\n"));
  });

  it("manifest: flipped bits in the magic, version, length, JSON body and checksum, and truncations, fail open", async () => {
    const key = manifestKey(fixture.manifestId);
    const size = fixture.objects.get(key)!.length;
    const positions = [0, 3, 4, 5, 8, 9, Math.floor(size / 2), size - 10, size - 9, size - 8, size - 1];
    await expectCorruption(fixture, [
      ...positions.map((p) => flipBit(key, p)),
      ...[size - 1, size - 8, size - 9, Math.floor(size / 2), 9, 5, 1, 0].map((n) => truncate(key, n)),
    ]);
  });

  it("manifest: a valid checksum around invalid JSON, a non-object, mistyped fields or broken invariants fails open", async () => {
    const key = manifestKey(fixture.manifestId);
    const m = fixture.manifest;
    const edited = (edit: (json: Record<string, unknown>) => void) => () => manifestBytes(editedManifestJson(fixture, edit));
    await expectCorruption(fixture, [
      replace("zero-length", key, () => new Uint8Array(0)),
      replace("invalid JSON with a valid checksum", key, () => manifestBytes('{"writerEpoch": 1,')),
      replace("JSON null with a valid checksum", key, () => manifestBytes("null")),
      replace("a JSON array with a valid checksum", key, () => manifestBytes("[]")),
      replace("writerEpoch is a string", key, edited((j) => (j.writerEpoch = "x"))),
      replace("lastL0Seq is negative", key, edited((j) => (j.lastL0Seq = -5))),
      replace("nextWalId is fractional", key, edited((j) => (j.nextWalId = 1.5))),
      replace("a field is missing", key, edited((j) => delete j.replayAfterWalId)),
      replace("replayAfterWalId >= nextWalId", key, edited((j) => (j.replayAfterWalId = m.nextWalId))),
      replace("an L0 SST listed twice", key, edited((j) => (j.l0 = [...(j.l0 as unknown[]), (j.l0 as unknown[])[0]]))),
      replace("an SST id >= nextSstId", key, edited((j) => (j.nextSstId = m.l0[0]!.id))),
      replace("an SST holds seqs above lastL0Seq", key, edited((j) => (j.lastL0Seq = m.l0[0]!.info.maxSeq - 1))),
      replace("an SstInfo with a bad key encoding", key, edited((j) => ((j.l0 as { info: { firstKey: string } }[])[0]!.info.firstKey = "%%%"))),
      replace("a listed SST also marked garbage", key, edited((j) => (j.garbageSsts = [[m.l0[0]!.id, 1]]))),
      replace("a garbage SST without its removal time", key, edited((j) => (j.garbageSsts = [[unlistedSstId(m)]]))),
      replace("a garbage SST id >= nextSstId (it could name a later upload)", key, edited((j) => (j.garbageSsts = [[m.nextSstId, 1]]))),
      replace("unknown format version", key, () => {
        const bytes = manifestBytes(editedManifestJson(fixture, () => {}));
        bytes[4] = MANIFEST_FORMAT_VERSION + 1;
        const body = bytes.subarray(0, bytes.length - 8);
        Buffer.from(bytes.buffer, bytes.byteOffset).writeBigUInt64BE(checksum64(body), body.length);
        return bytes;
      }),
    ]);
  });

  it("manifest: the checks above are not vacuous (the same builder with an unedited body reads back exactly)", async () => {
    const key = manifestKey(fixture.manifestId);
    const rebuilt = manifestBytes(editedManifestJson(fixture, () => {}));
    assert.deepEqual(decodeManifest(key, rebuilt), fixture.manifest);
    const withGarbage: Manifest = { ...fixture.manifest, garbageSsts: [[unlistedSstId(fixture.manifest), 1_767_225_600_000]] };
    assert.deepEqual(decodeManifest(key, encodeManifest(withGarbage, fixture.manifestId)), withGarbage, "garbage SSTs and their times read back");
    const result = await openAndReadAll(await storeWith(fixture, (objects) => objects.set(key, rebuilt)));
    assert.ok(result.ok && modelsEqual(fixture.expected, result.model), "a re-encoded manifest must read back as the original");
  });

  it("manifest: damage to an older manifest, which the engine does not read, is either reported or harmless", async () => {
    const olderIds = [...fixture.objects.keys()].filter((key) => key.startsWith("manifest/") && key !== manifestKey(fixture.manifestId));
    assert.ok(olderIds.length >= 1, "the fixture keeps an older manifest");
    for (const key of olderIds) {
      const result = await openAndReadAll(await storeWith(fixture, (objects) => objects.set(key, new Uint8Array([1, 2, 3]))));
      const problem = notCorruption(result, fixture.expected);
      assert.ok(problem === undefined || problem.startsWith("succeeded (the damage went unnoticed"), `${key}: ${problem}`);
    }
  });

  it("manifest: an older manifest's bytes under the newest id fail open, writable and read-only (a manifest names its own id)", async () => {
    const older = [...fixture.objects.keys()].find((key) => key.startsWith("manifest/") && key !== manifestKey(fixture.manifestId))!;
    const swap = (objects: Map<string, Uint8Array>) => objects.set(manifestKey(fixture.manifestId), fixture.objects.get(older)!.slice());
    await expectCorruption(fixture, [{ name: `newest manifest holds ${older}`, change: swap }]);
    const engine = Engine.open(await storeWith(fixture, swap), { ...READ_OPTIONS, readOnly: true, pollIntervalMs: 60_000 });
    await assert.rejects(engine.then(async (e) => e.close()), { code: "corruption" });
  });

  it("WAL: flipped bits in the header (magic, version, epoch, walId, count), the batches and the checksum, and truncations, fail open", async () => {
    const damages: Damage[] = [];
    for (const id of [fixture.liveWals[0]!, fixture.liveWals.at(-1)!]) {
      const key = walKey(id);
      const size = fixture.objects.get(key)!.length;
      const positions = [0, 3, 4, 5, 12, 13, 20, 21, 24, 25, 32, 33, Math.floor(size / 2), size - 9, size - 8, size - 1];
      damages.push(...positions.map((p) => flipBit(key, p)));
      damages.push(...[size - 1, size - 8, size - 9, Math.floor(size / 2), 33, 25, 21, 12, 1].map((n) => truncate(key, n)));
    }
    await expectCorruption(fixture, damages);
  });

  it("WAL: an object under another id (walId field does not match its key), a missing one, and one whose seqs go back fail open", async () => {
    const [first, second] = fixture.liveWals as [number, number];
    const copyOf = (id: number) => () => fixture.objects.get(walKey(id))!.slice();
    await expectCorruption(fixture, [
      replace(`holds WAL ${second}'s object`, walKey(first), copyOf(second)),
      replace(`holds WAL ${first}'s object`, walKey(second), copyOf(first)),
      { name: `${walKey(first)}: deleted while ${walKey(second)} remains`, change: (objects) => objects.delete(walKey(first)) },
      replace(`re-encoded with WAL ${first}'s batches (valid checksum and id, seqs go back)`, walKey(second), () => {
        const original = decodeWalObject(walKey(first), first, fixture.objects.get(walKey(first))!);
        const batches = original.batches.map((batch) => encodeBatch(batch.seq, batch.ops));
        return encodeWalObject(original.writerEpoch, second, batches);
      }),
    ]);
  });

  it("WAL zero-length in the middle of the replay range: reported as corruption, not taken for a fence (which drops its batches and leaves a seq gap)", async () => {
    await expectCorruption(fixture, [replace("zero-length (middle)", walKey(fixture.liveWals[0]!), () => new Uint8Array(0))]);
  });

  it("WAL zero-length at the END of the replay range: reported as corruption (fences have a body, so an empty object is not one)", async () => {
    await expectCorruption(fixture, [
      replace("zero-length (last)", walKey(fixture.liveWals.at(-1)!), () => new Uint8Array(0)),
      replace("zero-length (first)", walKey(fixture.liveWals[0]!), () => new Uint8Array(0)),
    ]);
  });

  it("WAL zero-length at the end of the replay range: a read-only engine (the WAL follower) reports corruption too", async () => {
    const store = await storeWith(fixture, (objects) => objects.set(walKey(fixture.liveWals.at(-1)!), new Uint8Array(0)));
    await assert.rejects(
      (async () => {
        const engine = await Engine.open(store, { ...READ_OPTIONS, readOnly: true, pollIntervalMs: 60_000 });
        try {
          return await scanModel(engine, "read");
        } finally {
          await engine.close();
        }
      })(),
      { code: "corruption" },
    );
  });

  it("WAL fences: a damaged fence in the replay range is corruption; an older version's zero-byte fences and manifests are still read", async () => {
    // A writer that took over after the fixture's last one and wrote nothing left its fence at the end of the range.
    const fenceId = fixture.liveWals.at(-1)! + 1;
    const fenceKey = walKey(fenceId);
    const withFence = (change: (objects: Map<string, Uint8Array>) => void) => (objects: Map<string, Uint8Array>) => {
      objects.set(fenceKey, encodeWalFence(fixture.manifest.writerEpoch + 1, fenceId));
      change(objects);
    };
    const intact = await openAndReadAll(await storeWith(fixture, withFence(() => {})));
    assert.equal(notCorruption(intact, fixture.expected), "succeeded (the damage went unnoticed, though the data happened to be right)");
    await expectCorruption(fixture, [
      { name: "fence: magic bit flipped", change: withFence((objects) => flipBit(fenceKey, 3).change(objects)) },
      { name: "fence: epoch bit flipped", change: withFence((objects) => flipBit(fenceKey, 12).change(objects)) },
      { name: "fence: truncated", change: withFence((objects) => truncate(fenceKey, 28).change(objects)) },
      { name: "fence: under another id", change: withFence((objects) => objects.set(fenceKey, encodeWalFence(1, fenceId + 1))) },
      { name: "fence: emptied", change: withFence((objects) => objects.set(fenceKey, new Uint8Array(0))) },
    ]);
    // The same store as an older version left it: zero-byte fences (one at the end of the replay
    // range), manifests without the marker. It opens, twice, with every record.
    const legacy = await storeWith(fixture, (objects) => {
      for (const [key, bytes] of objects) {
        if (key.startsWith("wal/") && bytes.length > 0 && decodeWalObject(key, Number(key.slice(4)), bytes).fence) objects.set(key, new Uint8Array(0));
        if (!key.startsWith("manifest/")) continue;
        const { zeroByteFencesThroughWalId, ...older } = decodeManifest(key, bytes);
        assert.notEqual(zeroByteFencesThroughWalId, undefined, "precondition: this version marks the manifest");
        objects.set(key, encodeManifest(older));
      }
      objects.set(fenceKey, new Uint8Array(0));
    });
    for (let open = 0; open < 2; open++) {
      const result = await openAndReadAll(legacy);
      assert.equal(notCorruption(result, fixture.expected), "succeeded (the damage went unnoticed, though the data happened to be right)", `open ${open}`);
    }
    const marked = (await readLatestManifest(legacy))!.manifest.zeroByteFencesThroughWalId;
    assert.ok(marked !== undefined && marked >= fenceId, `the old fence ${fenceId} is at or below the marker ${marked}`);
  });

  it("SST: flipped bits in data blocks, block checksums, the index and the footer, and truncations, fail the read that touches them", async () => {
    const m = fixture.manifest;
    const targets = [m.l0[0]!, m.l0.at(-1)!, m.runs.at(-1)!.ssts[0]!, m.runs.at(-1)!.ssts.at(-1)!];
    const damages: Damage[] = [];
    for (const { id, info } of targets) {
      const key = sstKey(id);
      const { sizeBytes: size, indexOffset: io, indexLength: il } = info;
      const positions = [0, 1, Math.floor(io / 2), io - 4, io - 1, io, io + 4, io + Math.floor(il / 2), io + il - 4, io + il - 1, size - 36, size - 32, size - 28, size - 20, size - 12, size - 10, size - 9, size - 1];
      damages.push(...positions.map((p) => flipBit(key, p)));
      damages.push(...[size - 1, size - 36, io + il, io, Math.floor(io / 2), 1, 0].map((n) => truncate(key, n)));
    }
    await expectCorruption(fixture, damages, { alsoReverseFirst: true });
  });

  it("SST: another SST's bytes under a referenced id fail the read", async () => {
    const m = fixture.manifest;
    const [a, b] = [m.l0[0]!.id, m.runs.at(-1)!.ssts[0]!.id];
    await expectCorruption(fixture, [
      replace(`holds ${sstKey(b)}`, sstKey(a), () => fixture.objects.get(sstKey(b))!.slice()),
      replace(`holds ${sstKey(a)}`, sstKey(b), () => fixture.objects.get(sstKey(a))!.slice()),
    ]);
  });

  it("LocalStore: a truncated SST and a flipped WAL byte on disk are CorruptionErrors too (ranged reads past the end of a file)", async () => {
    const m = fixture.manifest;
    const sst = m.runs.at(-1)!.ssts[0]!;
    for (const damage of [truncate(sstKey(sst.id), sst.info.indexOffset), flipBit(walKey(fixture.liveWals[0]!), 30)]) {
      const root = await makeTempDir("corruption");
      const store = new LocalStore(root);
      const objects = new Map([...fixture.objects].map(([key, bytes]) => [key, bytes.slice()]));
      damage.change(objects);
      for (const [key, bytes] of objects) await store.put(key, bytes);
      const problem = notCorruption(await openAndReadAll(store), fixture.expected);
      assert.equal(problem, undefined, `${damage.name}: ${problem}`);
    }
  });

  it("SST: a referenced SST that is missing fails the read with a CorruptionError naming it", async () => {
    const id = fixture.manifest.runs.at(-1)!.ssts[0]!.id;
    await expectCorruption(fixture, [{ name: `${sstKey(id)} deleted`, change: (objects) => objects.delete(sstKey(id)) }]);
  });

  it("SST: a read-only engine meeting a missing SST that the newest manifest still lists reports corruption, not a retryable error", async () => {
    for (const id of [fixture.manifest.l0[0]!.id, fixture.manifest.runs.at(-1)!.ssts[0]!.id]) {
      const store = await storeWith(fixture, (objects) => objects.delete(sstKey(id)));
      const engine = await Engine.open(store, { ...READ_OPTIONS, readOnly: true, pollIntervalMs: 60_000 });
      try {
        // Twice: the first read re-reads the manifest; a second must not turn into a retry either.
        for (let attempt = 0; attempt < 2; attempt++) {
          await assert.rejects(scanModel(engine, "read"), (error: { code?: unknown; message?: string }) => {
            assert.equal(error.code, "corruption", `${sstKey(id)}, attempt ${attempt}: ${error.message}`);
            assert.match(error.message ?? "", new RegExp(sstKey(id)));
            return true;
          });
        }
      } finally {
        await engine.close();
      }
    }
  });
});
