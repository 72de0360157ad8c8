/**
 * WAL replay on open: reads the WAL objects in (replayAfterWalId, fenceId) in id order (or, for
 * an id with no object, the segment WAL frame found at takeover: segment-recovery.ts) and
 * hands their batches to the caller, skipping batches already in SSTs (seq <= lastL0Seq) and
 * fences. A zero-byte object is an older version's fence only at or below
 * `zeroByteFencesThroughWalId` (wal-format.ts); above it, it is a WAL object that lost its
 * contents, and replay fails with a CorruptionError instead of dropping its batches. A few
 * objects are fetched ahead so that replay from S3 is not one round trip per object.
 */
import { CorruptionError, NotFoundError } from "../errors.js";
import type { ObjectStore } from "../store/object-store.js";
import { walKey } from "./paths.js";
import { decodeWalObject, type WalBatch } from "./wal-format.js";
import { REPLAY_PREFETCH_WAL_OBJECTS } from "../limits.js";

export interface ReplayedWal {
  walId: number;
  /** Batches with seq > lastL0Seq, in seq order. Empty for a fence. */
  batches: WalBatch[];
  /** Highest seq in the object (0 for a fence). */
  maxSeq: number;
}

/** A WAL id's batches from the segment WAL (used when no object has that id). */
export interface WalFrameSource {
  get(walId: number): { batches: WalBatch[]; maxSeq: number } | undefined;
}

export async function* replayWal(
  store: ObjectStore,
  range: { afterWalId: number; beforeWalId: number; lastL0Seq: number; zeroByteFencesThroughWalId: number; frames?: WalFrameSource },
): AsyncGenerator<ReplayedWal, void, void> {
  const fetches: Promise<Uint8Array | undefined>[] = [];
  let nextToFetch = range.afterWalId + 1;
  const fetchMore = () => {
    while (nextToFetch < range.beforeWalId && fetches.length < REPLAY_PREFETCH_WAL_OBJECTS) {
      const key = walKey(nextToFetch++);
      const fetch = store.get(key).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      });
      fetch.catch(() => {}); // awaited below in order; avoid an unhandled rejection meanwhile
      fetches.push(fetch);
    }
  };
  let previousSeq = range.lastL0Seq;
  for (let walId = range.afterWalId + 1; walId < range.beforeWalId; walId++) {
    fetchMore();
    const bytes = await fetches.shift()!;
    // An object wins over a segment frame of the same id (the frame is a sealed writer's late write).
    const frame = bytes === undefined ? range.frames?.get(walId) : undefined;
    if (bytes === undefined && frame === undefined) {
      throw new CorruptionError(walKey(walId), "a WAL object or segment frame that must be replayed is missing");
    }
    if (bytes !== undefined && bytes.length === 0) {
      if (walId > range.zeroByteFencesThroughWalId) {
        throw new CorruptionError(
          walKey(walId),
          `a WAL object to replay is empty: fences above WAL id ${range.zeroByteFencesThroughWalId} have a body, so its batches were lost`,
        );
      }
      yield { walId, batches: [], maxSeq: 0 };
      continue;
    }
    const all = frame?.batches ?? decodeWalObject(walKey(walId), walId, bytes!).batches;
    const batches = all.filter((batch) => batch.seq > range.lastL0Seq);
    for (const batch of batches) {
      // Engine seqs are contiguous: a missing one means a WAL object lost its batches (for
      // example one emptied to zero bytes, which would otherwise pass for a fence).
      if (batch.seq !== previousSeq + 1) {
        throw new CorruptionError(walKey(walId), `batch seq ${batch.seq} does not follow ${previousSeq}: batches are missing`);
      }
      previousSeq = batch.seq;
    }
    const maxSeq = all.length === 0 ? 0 : all[all.length - 1]!.seq;
    yield { walId, batches, maxSeq };
  }
}
