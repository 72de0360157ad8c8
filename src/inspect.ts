/**
 * inspectStore: what a store root holds, as the engine laid it out: the manifests, the newest
 * one's state (writer epoch, replay point, sequence numbers), the WAL objects and the SSTs with
 * their sizes, levels and key ranges. With `verify`, it also reads every object and checks
 * every checksum and structure: manifests are decoded, WAL objects decoded (which checks their
 * checksum, id and batch order), SSTs read whole through `SstReader.verify()`, and the WAL is
 * checked for gaps. On a local disk it also lists the segment WAL's files with their frames.
 *
 * It only lists, heads and gets: it never writes, so it is safe next to a live writer and on a
 * damaged store that a Log would refuse to open. A problem does not stop it: each one is
 * reported with the object's key and an error code, and the rest is still inspected. A live
 * writer may delete objects while this runs (garbage collection); an object listed but gone
 * when read is counted in `vanished`, unless the newest manifest still needs it.
 */
import { CorruptionError, NotFoundError, isDurastreamError, type ErrorCode } from "./errors.js";
import { BlockCache } from "./engine/block-cache.js";
import { decodeManifest, type Manifest } from "./engine/manifest-format.js";
import { MANIFEST_PREFIX, SST_PREFIX, WAL_PREFIX, parseId, sstKey, walKey } from "./engine/paths.js";
import path from "node:path";
import { SEGMENT_WAL_DIR } from "./engine/engine.js";
import { epochOfGeneration, parseWalFileName, SEGMENT_PREFIX } from "./engine/segment-format.js";
import { readSegment } from "./engine/segment-recovery.js";
import { NodeWalDirectory } from "./engine/wal-files.js";
import type { SstInfo } from "./engine/sst-format.js";
import { SstReader } from "./engine/sst-reader.js";
import { decodeWalObject, mayBeWalFence } from "./engine/wal-format.js";
import { localRootOf, type ObjectStore } from "./store/object-store.js";
import { checkObjectStore, checkStoreRootExists } from "./store/open-store.js";
import { KeyKind, decodeRecordKey, decodeStreamIdKey, decodeStreamMetaKey, decodeTimestampIndexKey } from "./stream/stream-keys.js";

/** Options of `inspectStore()`. */
export interface InspectOptions {
  /** Read every object and check every checksum (default false: list and read the newest manifest only). */
  verify?: boolean;
}

/** An object in the store: its key and size. */
export interface StoreObjectSummary {
  /** The object's key under the store root. */
  key: string;
  /** Its size in bytes, as listed. */
  sizeBytes: number;
}

/** The newest manifest's state. */
export interface ManifestSummary extends StoreObjectSummary {
  /** The manifest's id (its version). */
  id: number;
  /** Epoch of the writer that holds (or last held) the store; each new writer bumps it. */
  writerEpoch: number;
  /** One past the highest WAL id its writer knew to be written. */
  nextWalId: number;
  /** WAL objects with ids at or below this are fully in the SSTs; recovery replays the ones after it. */
  replayAfterWalId: number;
  /** Every engine batch with seq at or below this is in the SSTs. */
  lastL0Seq: number;
  /** The id the next SST gets. */
  nextSstId: number;
  /** Number of L0 SSTs. */
  l0Count: number;
  /** Number of sorted runs. */
  sortedRunCount: number;
}

/**
 * A WAL object. `state`: "fence" (written by a writer taking over, kept while the writer before it may still write: 29 bytes, or zero bytes from a version before fences had a body),
 * "replay" (after the replay point: holds batches not yet in SSTs), "flushed" (at or below it:
 * already in SSTs, waiting for garbage collection).
 */
export interface WalObjectSummary extends StoreObjectSummary {
  /** The WAL object's id. */
  id: number;
  /** See the interface. */
  state: "fence" | "replay" | "flushed";
  /** With verify: the epoch of the writer that wrote it. */
  writerEpoch?: number;
  /** With verify: how many engine batches it holds. */
  batches?: number;
  /** With verify: the first batch's seq (absent for an object without batches). */
  firstSeq?: number;
  /** With verify: the last batch's seq. */
  lastSeq?: number;
}

/**
 * A segment file of the segment WAL (a LocalStore root's `.durastream-wal`). `state`: "replay"
 * (holds frames after the replay point), "flushed" (every frame at or below it: recyclable),
 * "empty" (no frame yet: preallocated, or recycled and not yet written).
 */
export interface WalSegmentSummary {
  /** The file name in `.durastream-wal`. */
  name: string;
  /** The file's size (preallocated: frames fill it from the start). */
  sizeBytes: number;
  /** The epoch of the writer that owns it. */
  writerEpoch: number;
  /** See the interface. */
  state: "replay" | "flushed" | "empty";
  /** Frames (group commits) in it, from offset 0 to the first that does not check out. */
  frames: number;
  /** WAL id of its first frame (absent when it has none). */
  firstWalId?: number;
  /** WAL id of its last frame (absent when it has none). */
  lastWalId?: number;
  /** Seq of its first batch (absent when it has none). */
  firstSeq?: number;
  /** Seq of its last batch (absent when it has none). */
  lastSeq?: number;
}

/** A key as hex and as a description of what it is in the stream layout. */
export interface KeySummary {
  /** The key's bytes in hex. */
  hex: string;
  /** What it is: `record stream 1 seq 42 ts 1700000000000`, `meta "orders"`, or `?` for unknown bytes. */
  text: string;
}

/**
 * An SST. `level`: "l0", "run" (in sorted run `runId`) or "unreferenced" (not in the newest
 * manifest: a compaction input or an abandoned upload, waiting for garbage collection).
 */
export interface SstSummary extends StoreObjectSummary {
  /** The SST's id. */
  id: number;
  /** See the interface. */
  level: "l0" | "run" | "unreferenced";
  /** The sorted run that holds it, for level "run". */
  runId?: number;
  /** Entries (known from the manifest, or from the object itself with verify). */
  entryCount?: number;
  /** Smallest engine seq of its entries. */
  minSeq?: number;
  /** Largest engine seq of its entries. */
  maxSeq?: number;
  /** Its smallest key. */
  firstKey?: KeySummary;
  /** Its largest key. */
  lastKey?: KeySummary;
  /** With verify: data blocks checked. */
  blocks?: number;
}

/** Something wrong with one object. */
export interface InspectProblem {
  /** The object's key. */
  key: string;
  /** The error code: "corruption" for damage, "not_found" for a missing object the manifest needs, ... */
  code: ErrorCode | "error";
  /** What is wrong. */
  message: string;
}

/** What `inspectStore()` found. */
export interface StoreInspection {
  /** The newest manifest, or undefined for an empty store (or when it cannot be decoded: see problems). */
  manifest: ManifestSummary | undefined;
  /** Every manifest object, oldest first. */
  manifests: StoreObjectSummary[];
  /** Every WAL object, by id. */
  wal: WalObjectSummary[];
  /** Segment files of the segment WAL, by name (empty unless the store is on a local disk and uses it). */
  segments: WalSegmentSummary[];
  /** Every SST object, by id, and SSTs the manifest lists that the store does not have. */
  ssts: SstSummary[];
  /** Objects outside the engine's layout (ignored by durastream). */
  other: StoreObjectSummary[];
  /** Bytes of every listed object. */
  totalBytes: number;
  /** Whether every object was read and checked. */
  verified: boolean;
  /** With verify: objects read and checked. */
  checkedObjects: number;
  /** With verify: bytes read and checked. */
  checkedBytes: number;
  /** Objects listed but deleted before they could be read (a live writer's garbage collection). */
  vanished: number;
  /** Problems found; empty when all is well. */
  problems: InspectProblem[];
}

/** Inspects a store root without writing to it; with `verify`, reads and checks every object. */
export async function inspectStore(store: ObjectStore, options: InspectOptions = {}): Promise<StoreInspection> {
  checkObjectStore(store, "inspectStore");
  await checkStoreRootExists(store);
  const listing = await listStore(store);
  const result: StoreInspection = {
    manifest: undefined,
    manifests: listing.manifests.map(({ key, sizeBytes }) => ({ key, sizeBytes })),
    wal: [],
    segments: [],
    ssts: [],
    other: listing.other,
    totalBytes: [...listing.manifests, ...listing.wal, ...listing.ssts, ...listing.other].reduce((sum, o) => sum + o.sizeBytes, 0),
    verified: options.verify === true,
    checkedObjects: 0,
    checkedBytes: 0,
    vanished: 0,
    problems: [],
  };
  const newest = await readNewestManifest(store, listing.manifests, result);
  result.wal = listing.wal.map((o) => walSummary(o, newest?.manifest));
  result.ssts = sstSummaries(listing.ssts, newest?.manifest, result);
  const segmentFrames = await inspectSegments(store, result, newest?.manifest);
  if (options.verify === true) {
    await verifyAll(store, result, newest);
    checkWalChain(result, newest?.manifest, segmentFrames);
  }
  return result;
}

interface ListedObject extends StoreObjectSummary {
  id: number;
}

async function listStore(store: ObjectStore) {
  const manifests: ListedObject[] = [];
  const wal: ListedObject[] = [];
  const ssts: ListedObject[] = [];
  const other: StoreObjectSummary[] = [];
  for await (const entry of store.list("")) {
    const object = { key: entry.key, sizeBytes: entry.size };
    const [prefix, list] = [[MANIFEST_PREFIX, manifests], [WAL_PREFIX, wal], [SST_PREFIX, ssts]].find(([p]) => entry.key.startsWith(p as string)) ?? [];
    const id = prefix === undefined ? undefined : parseId(prefix as string, entry.key);
    if (id === undefined) other.push(object);
    else (list as ListedObject[]).push({ ...object, id });
  }
  const byId = (a: ListedObject, b: ListedObject) => a.id - b.id;
  return { manifests: manifests.sort(byId), wal: wal.sort(byId), ssts: ssts.sort(byId), other };
}

/** Decodes the newest manifest; a damaged one is a problem, and then the next older one is not used in its place. */
async function readNewestManifest(store: ObjectStore, manifests: ListedObject[], result: StoreInspection): Promise<{ id: number; manifest: Manifest } | undefined> {
  for (let i = manifests.length - 1; i >= 0; i--) {
    const object = manifests[i]!;
    try {
      const manifest = decodeManifest(object.key, await store.get(object.key));
      result.manifest = {
        key: object.key,
        sizeBytes: object.sizeBytes,
        id: object.id,
        writerEpoch: manifest.writerEpoch,
        nextWalId: manifest.nextWalId,
        replayAfterWalId: manifest.replayAfterWalId,
        lastL0Seq: manifest.lastL0Seq,
        nextSstId: manifest.nextSstId,
        l0Count: manifest.l0.length,
        sortedRunCount: manifest.runs.length,
      };
      return { id: object.id, manifest };
    } catch (error) {
      if (error instanceof NotFoundError) {
        result.vanished++; // garbage-collected after a newer one was written: look at the one before
        continue;
      }
      result.problems.push(problem(object.key, error));
      return undefined;
    }
  }
  return undefined;
}

function walSummary(object: ListedObject, manifest: Manifest | undefined): WalObjectSummary {
  const state = mayBeWalFence(object.sizeBytes) ? "fence" : manifest !== undefined && object.id <= manifest.replayAfterWalId ? "flushed" : "replay";
  return { key: object.key, sizeBytes: object.sizeBytes, id: object.id, state };
}

function sstSummaries(listed: ListedObject[], manifest: Manifest | undefined, result: StoreInspection): SstSummary[] {
  const referenced = new Map<number, { info: SstInfo; level: "l0" | "run"; runId?: number }>();
  for (const handle of manifest?.l0 ?? []) referenced.set(handle.id, { info: handle.info, level: "l0" });
  for (const run of manifest?.runs ?? []) for (const handle of run.ssts) referenced.set(handle.id, { info: handle.info, level: "run", runId: run.id });
  const summaries: SstSummary[] = listed.map((object) => {
    const ref = referenced.get(object.id);
    const summary: SstSummary = { key: object.key, sizeBytes: object.sizeBytes, id: object.id, level: ref?.level ?? "unreferenced" };
    if (ref !== undefined) Object.assign(summary, fromInfo(ref.info), ref.runId === undefined ? {} : { runId: ref.runId });
    return summary;
  });
  const present = new Set(listed.map((o) => o.id));
  for (const [id, ref] of referenced) {
    if (present.has(id)) continue;
    const key = sstKey(id);
    result.problems.push({ key, code: "not_found", message: `the newest manifest lists ${key} but the store does not have it` });
    summaries.push({ key, sizeBytes: 0, id, level: ref.level, ...(ref.runId === undefined ? {} : { runId: ref.runId }), ...fromInfo(ref.info) });
  }
  return summaries.sort((a, b) => a.id - b.id);
}

function fromInfo(info: SstInfo): Pick<SstSummary, "entryCount" | "minSeq" | "maxSeq" | "firstKey" | "lastKey"> {
  return {
    entryCount: info.entryCount,
    minSeq: info.minSeq,
    maxSeq: info.maxSeq,
    firstKey: describeKey(Buffer.from(info.firstKey, "base64")),
    lastKey: describeKey(Buffer.from(info.lastKey, "base64")),
  };
}

/** Reads every segment file's frames (a local read); returns the frame ids found, by WAL id. */
async function inspectSegments(store: ObjectStore, result: StoreInspection, manifest: Manifest | undefined): Promise<Map<number, string>> {
  const frames = new Map<number, string>();
  const root = localRootOf(store);
  if (root === undefined) return frames;
  const dir = new NodeWalDirectory(path.join(root, SEGMENT_WAL_DIR));
  const replayAfter = manifest?.replayAfterWalId ?? 0;
  for (const name of (await dir.list()).sort()) {
    const generation = parseWalFileName(SEGMENT_PREFIX, name);
    if (generation === undefined) continue;
    const file = await dir.openFile(name);
    const sizeBytes = (await file?.sizeBytes()) ?? 0;
    await file?.close();
    await check(result, `${SEGMENT_WAL_DIR}/${name}`, false, async () => {
      const decoded = await readSegment(dir, name, generation);
      for (const frame of decoded) frames.set(frame.walId, name);
      const first = decoded[0];
      const last = decoded[decoded.length - 1];
      const seqs = decoded.flatMap((frame) => frame.batches.map((batch) => batch.seq));
      result.segments.push({
        name,
        sizeBytes,
        writerEpoch: epochOfGeneration(generation),
        state: last === undefined ? "empty" : last.walId > replayAfter ? "replay" : "flushed",
        frames: decoded.length,
        ...(first === undefined ? {} : { firstWalId: first.walId, lastWalId: last!.walId }),
        ...(seqs.length === 0 ? {} : { firstSeq: seqs[0], lastSeq: seqs[seqs.length - 1] }),
      });
      count(result, sizeBytes);
    });
  }
  return frames;
}

/**
 * With verify: every WAL id after the replay point up to the highest one found must be a WAL
 * object or a segment frame. A hole followed by later ids is lost data (recovery refuses it).
 */
function checkWalChain(result: StoreInspection, manifest: Manifest | undefined, frames: Map<number, string>): void {
  if (manifest === undefined) return;
  const objects = new Set(result.wal.map((w) => w.id));
  const highest = Math.max(0, ...objects, ...frames.keys());
  for (let id = manifest.replayAfterWalId + 1; id <= highest; id++) {
    if (objects.has(id) || frames.has(id)) continue;
    result.problems.push({ key: walKey(id), code: "corruption", message: `WAL id ${id} is neither a WAL object nor a segment frame, but later ids exist: a gap in the WAL` });
    return;
  }
}

/** Reads and checks every object; records what it learns (WAL contents, SST blocks) and every problem. */
async function verifyAll(store: ObjectStore, result: StoreInspection, newest: { id: number; manifest: Manifest } | undefined): Promise<void> {
  const cache = new BlockCache({ maxBytes: 0 });
  const infos = new Map<number, SstInfo>();
  for (const handle of [...(newest?.manifest.l0 ?? []), ...(newest?.manifest.runs ?? []).flatMap((run) => run.ssts)]) infos.set(handle.id, handle.info);
  const newestManifestId = newest?.id;
  for (const object of result.manifests) {
    // The newest was decoded already; a damaged one is a problem already.
    if (parseId(MANIFEST_PREFIX, object.key) === newestManifestId) {
      count(result, object.sizeBytes);
      continue;
    }
    if (result.problems.some((p) => p.key === object.key)) continue;
    await check(result, object.key, false, async () => {
      decodeManifest(object.key, await store.get(object.key));
      count(result, object.sizeBytes);
    });
  }
  for (const wal of result.wal) {
    await check(result, wal.key, wal.state === "replay", async () => {
      if (wal.sizeBytes > 0) Object.assign(wal, walContents(decodeWalObject(wal.key, wal.id, await store.get(wal.key))));
      count(result, wal.sizeBytes);
    });
  }
  for (const sst of result.ssts) {
    if (result.problems.some((p) => p.key === sst.key && p.code === "not_found")) continue; // missing: reported already
    await check(result, sst.key, sst.level !== "unreferenced", async () => {
      const info = infos.get(sst.id);
      const reader = await SstReader.open({ store, objectKey: sst.key, cache, ...(info === undefined ? {} : { info }) });
      const report = await reader.verify();
      Object.assign(sst, { blocks: report.blocks, entryCount: report.entries }, info === undefined ? fromInfo(reader.info) : {});
      count(result, report.bytes);
    });
  }
}

function walContents(wal: ReturnType<typeof decodeWalObject>): Pick<WalObjectSummary, "writerEpoch" | "batches" | "firstSeq" | "lastSeq"> {
  const first = wal.batches[0];
  const last = wal.batches[wal.batches.length - 1];
  return {
    writerEpoch: wal.writerEpoch,
    batches: wal.batches.length,
    ...(first === undefined ? {} : { firstSeq: first.seq }),
    ...(last === undefined ? {} : { lastSeq: last.seq }),
  };
}

/** Runs one object's check: a missing object the manifest does not need counts as vanished, anything else is a problem. */
async function check(result: StoreInspection, key: string, needed: boolean, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (error instanceof NotFoundError && !needed) result.vanished++;
    else result.problems.push(problem(key, error));
  }
}

function count(result: StoreInspection, bytes: number): void {
  result.checkedObjects++;
  result.checkedBytes += bytes;
}

function problem(key: string, error: unknown): InspectProblem {
  if (error instanceof CorruptionError) return { key, code: "corruption", message: error.message };
  if (isDurastreamError(error)) return { key, code: error.code, message: error.message };
  return { key, code: "error", message: error instanceof Error ? error.message : String(error) };
}

/** Describes an engine key per the stream layer's layout (stream-keys.ts); unknown bytes are `?`. */
export function describeKey(key: Uint8Array): KeySummary {
  const hex = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex");
  return { hex, text: keyText(key) };
}

function keyText(key: Uint8Array): string {
  try {
    switch (key[0]) {
      case KeyKind.singleton:
        return key.length === 2 && key[1] === 0x01 ? "stream id counter" : "?";
      case KeyKind.streamMeta:
        return `meta ${JSON.stringify(decodeStreamMetaKey(key))}`;
      case KeyKind.tail:
        return `tail stream ${decodeStreamIdKey(key, KeyKind.tail)}`;
      case KeyKind.fencingToken:
        return `fencing token stream ${decodeStreamIdKey(key, KeyKind.fencingToken)}`;
      case KeyKind.trimPoint:
        return `trim point stream ${decodeStreamIdKey(key, KeyKind.trimPoint)}`;
      case KeyKind.record: {
        const r = decodeRecordKey(key);
        return `record stream ${r.streamId} seq ${r.seqNum} ts ${r.timestamp}`;
      }
      case KeyKind.timestampIndex: {
        const r = decodeTimestampIndexKey(key);
        return `timestamp index stream ${r.streamId} ts ${r.timestamp} seq ${r.seqNum}`;
      }
      default:
        return "?";
    }
  } catch {
    return "?";
  }
}
