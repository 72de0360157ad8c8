/**
 * What compaction keeps of the stream layer's keys, as a function of data: the trim points
 * (stream id -> first kept seqNum; DELETED_TRIM_POINT for a deleted stream). The registry's
 * live filter and a compaction worker's snapshot of it (compaction-worker.ts) are both built
 * here, so that they cannot drift apart.
 */
import type { CompactionFilter } from "../engine/engine-options.js";
import { KeyKind, seqNumOfKey, streamIdOfKey } from "./stream-keys.js";

/** The trim point of a deleted stream: everything of it is below, so compaction drops it all. */
export const DELETED_TRIM_POINT = Number.MAX_SAFE_INTEGER;

/** Record and timestamp-index keys are written once (a seq is never reused), so dead ones need no tombstone. */
export const isWriteOnceKey = (key: Uint8Array): boolean => key[0] === KeyKind.record || key[0] === KeyKind.timestampIndex;

/**
 * Keeps an entry unless it is a record or index entry below its stream's durable trim point,
 * or a leftover tail or token key of a deleted stream. Runs inside compaction: it must be
 * cheap, so it reads the ids and seqs straight from the key bytes (stream-keys.ts).
 */
export function trimPointFilter(trimPoints: ReadonlyMap<number, number>): CompactionFilter {
  return (key) => {
    const kind = key[0];
    if (kind !== KeyKind.record && kind !== KeyKind.timestampIndex && kind !== KeyKind.tail && kind !== KeyKind.fencingToken) return true;
    const streamId = streamIdOfKey(key);
    const trim = streamId === undefined ? undefined : trimPoints.get(streamId);
    if (trim === undefined) return true;
    if (kind === KeyKind.tail || kind === KeyKind.fencingToken) return trim !== DELETED_TRIM_POINT;
    const seqNum = seqNumOfKey(key);
    return seqNum === undefined || seqNum >= trim;
  };
}

/**
 * The worker side of the engine's `workerFilter` option: a compaction worker imports this module
 * and builds the filter from the trim points the registry had when the compaction started. Trim
 * points only rise and stream ids are never reused, so a snapshot keeps at most what a later
 * compaction drops.
 */
export function createWorkerFilter(trimPoints: unknown): { compactionFilter: CompactionFilter; isWriteOnceKey: (key: Uint8Array) => boolean } {
  if (!(trimPoints instanceof Map)) throw new TypeError("the stream filter's data must be the Map of trim points");
  return { compactionFilter: trimPointFilter(trimPoints as Map<number, number>), isWriteOnceKey };
}
