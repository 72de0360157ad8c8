/**
 * The manifest: the engine's full durable state, one immutable object per version
 * (`manifest/<id>`, written create-only as the next id; see manifest-store.ts).
 *
 * Byte format (version 1):
 *   field      width    meaning
 *   magic      4        "DSMF"
 *   version    1        format version, 1
 *   body       4+n      u32 length, then UTF-8 JSON of `Manifest` (below) and `id`, the
 *                       manifest's own id (guards against an object under the wrong id; absent
 *                       in manifests written before it was added)
 *   checksum   8 u64    xxhash64 of every byte before it
 *
 * Invariants (checked before every create-only PUT and after every decode):
 *   - every id is a safe integer; `writerEpoch >= 0`;
 *   - `replayAfterWalId < nextWalId`: WAL ids <= replayAfterWalId are fully reflected in SSTs;
 *   - every SST id is unique, and below `nextSstId`; every run id below `nextRunId`;
 *   - within a sorted run, SSTs are in key order and do not overlap;
 *   - `lastL0Seq` >= the largest seq in any SST (recovery skips WAL entries with seq <= lastL0Seq).
 * Transition invariants (previous -> next): epoch, replayAfterWalId, lastL0Seq, nextSstId,
 * nextRunId never decrease.
 */
import { CorruptionError, assert } from "../errors.js";
import { ByteReader, ByteWriter, DecodeError } from "../util/bytes.js";
import { checksum64, checksum64Matches } from "../util/checksum.js";
import { MANIFEST_PREFIX, parseId } from "./paths.js";
import { sstInfoFromJson, sstInfoToJson, type SstInfo } from "./sst-format.js";

export const MANIFEST_MAGIC = Buffer.from("DSMF", "latin1");
export const MANIFEST_FORMAT_VERSION = 1;

export interface SstHandle {
  id: number;
  info: SstInfo;
}

export interface SortedRun {
  id: number;
  /** Non-overlapping, in key order. */
  ssts: SstHandle[];
}

export interface Manifest {
  writerEpoch: number;
  /** One past the highest WAL id this manifest's writer knew to be written. */
  nextWalId: number;
  nextSstId: number;
  nextRunId: number;
  /** WAL ids <= this are fully reflected in the SSTs below; recovery replays the ones after it. */
  replayAfterWalId: number;
  /** Every batch with seq <= lastL0Seq is in the SSTs below. */
  lastL0Seq: number;
  /** L0 SSTs, newest first. */
  l0: SstHandle[];
  /** Sorted runs, newest first. */
  runs: SortedRun[];
  /**
   * WAL ids above this were written by versions whose fences have a body (wal-format.ts), so a
   * zero-byte WAL object above it is damage, not a fence. Set when a writer of such a version
   * first claims the store; absent in a manifest an older version wrote.
   */
  zeroByteFencesThroughWalId?: number;
  /**
   * Written only by a writer's clean close (its last manifest): that writer epoch wrote every WAL
   * id below this one and will never write another. The next claim drops it (fence.ts).
   */
  cleanCloseNextWalId?: number;
  /**
   * Fences that stop no writer that could still write (their predecessor closed cleanly:
   * fence.ts), deleted by the garbage collector once the replay point passes them.
   */
  collectableFenceIds?: number[];
  /**
   * Writer epochs that closed cleanly and may still have segment WAL files (0005-segment-wal.md):
   * a takeover need not seal them. Each claim keeps only those whose files it still finds.
   */
  cleanlyClosedEpochs?: number[];
  /**
   * SSTs no longer listed above and not deleted yet, each with the wall-clock time (ms since the
   * epoch) since which no manifest lists it: `[id, sinceMs]`. The garbage collector deletes one
   * once `gcGraceMs` passed since then. Carried from manifest to manifest, so that the grace
   * period spans writers: before, each writer started it again, and a log whose writers lived
   * shorter than it never deleted an SST a compaction had replaced.
   */
  garbageSsts?: [number, number][];
}

/** The ids of every SST the manifest lists, L0 and runs. */
export function listedSstIds(m: Manifest): Set<number> {
  return new Set([...m.l0, ...m.runs.flatMap((run) => run.ssts)].map((handle) => handle.id));
}

export function emptyManifest(): Manifest {
  return { writerEpoch: 0, nextWalId: 1, nextSstId: 1, nextRunId: 1, replayAfterWalId: 0, lastL0Seq: 0, l0: [], runs: [] };
}

/** Encodes `manifest` as the object `manifest/<id>` (the id is written into it). */
export function encodeManifest(manifest: Manifest, id?: number): Uint8Array {
  const problem = checkManifest(manifest);
  assert(problem === undefined, () => `refusing to write an invalid manifest: ${problem}`);
  const json = JSON.stringify({
    ...(id === undefined ? {} : { id }),
    ...manifest,
    l0: manifest.l0.map(handleToJson),
    runs: manifest.runs.map((run) => ({ id: run.id, ssts: run.ssts.map(handleToJson) })),
  });
  const writer = new ByteWriter(json.length + 32);
  writer.bytes(MANIFEST_MAGIC).u8(MANIFEST_FORMAT_VERSION).lengthPrefixed(Buffer.from(json, "utf8"));
  writer.bigU64(checksum64(writer.view()));
  return writer.finish();
}

export function decodeManifest(objectKey: string, bytes: Uint8Array): Manifest {
  if (bytes.length < MANIFEST_MAGIC.length + 1 + 4 + 8) throw new CorruptionError(objectKey, "manifest is truncated");
  const body = bytes.subarray(0, bytes.length - 8);
  if (!checksum64Matches(bytes, 0, body.length)) throw new CorruptionError(objectKey, "manifest checksum mismatch");
  let manifest: Manifest;
  try {
    const reader = new ByteReader(body);
    if (!Buffer.from(reader.bytes(4)).equals(MANIFEST_MAGIC)) throw new DecodeError("bad magic");
    const version = reader.u8();
    if (version !== MANIFEST_FORMAT_VERSION) throw new DecodeError(`unknown manifest format version ${version}`);
    const raw = JSON.parse(Buffer.from(reader.lengthPrefixed()).toString("utf8")) as Record<string, unknown>;
    if (reader.remaining !== 0) throw new DecodeError("trailing bytes");
    const keyId = parseId(MANIFEST_PREFIX, objectKey);
    if (raw.id !== undefined && keyId !== undefined && raw.id !== keyId) throw new DecodeError(`object claims manifest id ${String(raw.id)}`);
    manifest = manifestFromJson(raw);
  } catch (error) {
    if (error instanceof CorruptionError) throw new CorruptionError(objectKey, error.message);
    if (error instanceof DecodeError || error instanceof SyntaxError || error instanceof TypeError) {
      throw new CorruptionError(objectKey, error.message);
    }
    throw error;
  }
  const problem = checkManifest(manifest);
  if (problem !== undefined) throw new CorruptionError(objectKey, problem);
  return manifest;
}

function handleToJson(handle: SstHandle): { id: number; info: unknown } {
  return { id: handle.id, info: sstInfoToJson(handle.info) };
}

function manifestFromJson(raw: Record<string, unknown>): Manifest {
  const int = (name: string): number => {
    const value = raw[name];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw new DecodeError(`bad ${name}`);
    return value;
  };
  const handles = (value: unknown): SstHandle[] => {
    if (!Array.isArray(value)) throw new DecodeError("bad SST list");
    return value.map((item: { id?: unknown; info?: unknown }) => {
      if (typeof item?.id !== "number" || !Number.isSafeInteger(item.id)) throw new DecodeError("bad SST id");
      return { id: item.id, info: sstInfoFromJson(item.info) };
    });
  };
  if (!Array.isArray(raw.runs)) throw new DecodeError("bad runs");
  const optional = (name: "zeroByteFencesThroughWalId" | "cleanCloseNextWalId") => (raw[name] === undefined ? {} : { [name]: int(name) });
  const ids = (name: "collectableFenceIds" | "cleanlyClosedEpochs") => {
    const value = raw[name];
    if (value === undefined) return {};
    if (!Array.isArray(value) || !value.every((id) => Number.isSafeInteger(id) && (id as number) > 0)) throw new DecodeError(`bad ${name}`);
    return { [name]: value as number[] };
  };
  const garbage = (): Pick<Manifest, "garbageSsts"> => {
    const value = raw.garbageSsts;
    if (value === undefined) return {};
    const pair = (item: unknown) => Array.isArray(item) && item.length === 2 && Number.isSafeInteger(item[0]) && (item[0] as number) > 0 && Number.isSafeInteger(item[1]) && (item[1] as number) >= 0;
    if (!Array.isArray(value) || !value.every(pair)) throw new DecodeError("bad garbageSsts");
    return { garbageSsts: value as [number, number][] };
  };
  return {
    ...garbage(),
    ...optional("zeroByteFencesThroughWalId"),
    ...optional("cleanCloseNextWalId"),
    ...ids("collectableFenceIds"),
    ...ids("cleanlyClosedEpochs"),
    writerEpoch: int("writerEpoch"),
    nextWalId: int("nextWalId"),
    nextSstId: int("nextSstId"),
    nextRunId: int("nextRunId"),
    replayAfterWalId: int("replayAfterWalId"),
    lastL0Seq: int("lastL0Seq"),
    l0: handles(raw.l0),
    runs: raw.runs.map((run: { id?: unknown; ssts?: unknown }) => {
      if (typeof run?.id !== "number" || !Number.isSafeInteger(run.id)) throw new DecodeError("bad run id");
      return { id: run.id, ssts: handles(run.ssts) };
    }),
  };
}

/** Returns a description of the first broken invariant, or undefined when the manifest is valid. */
export function checkManifest(m: Manifest): string | undefined {
  if (m.replayAfterWalId >= m.nextWalId) return `replayAfterWalId ${m.replayAfterWalId} >= nextWalId ${m.nextWalId}`;
  const seen = new Set<number>();
  const all = [...m.l0, ...m.runs.flatMap((run) => run.ssts)];
  for (const handle of all) {
    if (seen.has(handle.id)) return `SST ${handle.id} is listed twice`;
    seen.add(handle.id);
    if (handle.id >= m.nextSstId) return `SST ${handle.id} >= nextSstId ${m.nextSstId}`;
    if (handle.info.maxSeq > m.lastL0Seq) return `SST ${handle.id} holds seq ${handle.info.maxSeq} > lastL0Seq ${m.lastL0Seq}`;
  }
  for (const [id] of m.garbageSsts ?? []) {
    if (seen.has(id)) return `SST ${id} is both listed and garbage`;
    // An id no SST had yet could name a later writer's upload before its manifest lists it.
    if (id >= m.nextSstId) return `garbage SST ${id} >= nextSstId ${m.nextSstId}`;
  }
  const runIds = new Set<number>();
  for (const run of m.runs) {
    if (runIds.has(run.id) || run.id >= m.nextRunId) return `bad run id ${run.id}`;
    runIds.add(run.id);
    for (let i = 1; i < run.ssts.length; i++) {
      const previous = Buffer.from(run.ssts[i - 1]!.info.lastKey, "base64");
      const current = Buffer.from(run.ssts[i]!.info.firstKey, "base64");
      if (Buffer.compare(previous, current) >= 0) return `run ${run.id}: SSTs overlap or are out of order`;
    }
  }
  return undefined;
}

/** Checks that `next` may follow `previous`; returns a description of the problem or undefined. */
export function checkTransition(previous: Manifest, next: Manifest): string | undefined {
  const fields = ["writerEpoch", "replayAfterWalId", "lastL0Seq", "nextSstId", "nextRunId"] as const;
  for (const field of fields) {
    if (next[field] < previous[field]) return `${field} would go back from ${previous[field]} to ${next[field]}`;
  }
  return checkManifest(next);
}
