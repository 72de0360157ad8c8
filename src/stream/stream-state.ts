/**
 * Loads a stream's durable state from the engine: its tail, fencing token and trim point.
 *
 * Checks the invariant that makes pipelining safe: the tail key is written at the end of every
 * WAL object that holds records of the stream (the streamer asks the engine for it at the cut),
 * and durable state is always a whole number of WAL objects, so no record may exist at or after
 * the tail. A record there means the data
 * does not match the stream's bookkeeping, and the stream refuses to append on top of it. The
 * tail and the records are read at the same durable state: a load that raced new durable writes
 * (a read-only log follows its writer between the two reads) is done again.
 */
import { CorruptionError, SstCompactedAwayError, StorageError, type StreamPosition } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import {
  decodeFencingTokenValue,
  decodeRecordKey,
  decodeTailValue,
  decodeU64Value,
  fencingTokenKey,
  recordRange,
  tailKey,
  trimPointKey,
} from "./stream-keys.js";

export interface StreamState {
  tail: StreamPosition;
  lastWriteMs: number;
  fencingToken: string;
  /** First readable seqNum (0 when never trimmed). */
  trimPoint: number;
}

/**
 * Loads that ran while the durable state moved on (a read-only log applying the writer's new
 * WAL objects between its reads) before the load gives up with a retryable error.
 */
const MAX_LOAD_ATTEMPTS = 10;

export interface LoadStreamStateOptions {
  /**
   * Whether to check that no record exists at or past the tail (default true). A writer checks:
   * it would write over such a record. A read-only log's tracker does not: a reader reads only
   * below the tail it loaded, so such a record is invisible to it, and on a compacted log the
   * check costs a block of every sorted run and L0 (8 GETs on the bench's 10^7-record log) at
   * every load, and trackers load again after every manifest they adopt.
   */
  checkPastTail?: boolean;
}

export async function loadStreamState(engine: Engine, streamId: number, options: LoadStreamStateOptions = {}): Promise<StreamState> {
  for (let attempt = 1; ; attempt++) {
    const state = await loadOnce(engine, streamId, options.checkPastTail ?? true);
    if (state !== undefined) return state;
    if (attempt >= MAX_LOAD_ATTEMPTS) {
      throw new StorageError(`stream ${streamId}'s durable state kept changing while it loaded (${attempt} attempts); retry`, {
        retryable: true,
        outcome: "not_applied",
      });
    }
  }
}

/**
 * One load; undefined when the durable state moved on between the reads of the tail and of the
 * records after it. Each engine read sees the durable state of the moment it starts, so a record
 * found past the tail is corruption only when both reads saw the same state.
 */
async function loadOnce(engine: Engine, streamId: number, checkPastTail: boolean): Promise<StreamState | undefined> {
  const keysSeenAt = engine.durableSeq;
  let values: (Uint8Array | undefined)[];
  try {
    values = await Promise.all([engine.get(tailKey(streamId)), engine.get(fencingTokenKey(streamId)), engine.get(trimPointKey(streamId))]);
  } catch (error) {
    // A read-only log's SST was collected under it: the manifest is reloaded, load again.
    if (error instanceof SstCompactedAwayError) return undefined;
    throw error;
  }
  const [tailValue, tokenValue, trimValue] = values;
  const tail = tailValue === undefined ? { nextSeqNum: 0, lastTimestamp: 0, lastWriteMs: 0 } : decodeTailValue(tailValue);
  if (checkPastTail && !(await noRecordPastTail(engine, streamId, tail.nextSeqNum, keysSeenAt))) return undefined;
  return {
    tail: { seqNum: tail.nextSeqNum, timestamp: tail.lastTimestamp },
    lastWriteMs: tail.lastWriteMs,
    fencingToken: tokenValue === undefined ? "" : decodeFencingTokenValue(tokenValue),
    trimPoint: trimValue === undefined ? 0 : decodeU64Value(trimValue, "trim point"),
  };
}

/**
 * Whether no record exists at or past `nextSeqNum`: false when the durable state moved on since
 * `keysSeenAt` (load again); a record there with nothing moved is corruption.
 */
async function noRecordPastTail(engine: Engine, streamId: number, nextSeqNum: number, keysSeenAt: number): Promise<boolean> {
  const recordsSeenAt = engine.durableSeq;
  try {
    for await (const entry of engine.scan(recordRange(streamId, { startSeqNum: nextSeqNum }))) {
      if (recordsSeenAt !== keysSeenAt) return false;
      const { seqNum } = decodeRecordKey(entry.key);
      throw new CorruptionError(`stream ${streamId}`, `record ${seqNum} exists at or after the stream's tail ${nextSeqNum}`);
    }
  } catch (error) {
    if (error instanceof SstCompactedAwayError) return false;
    throw error;
  }
  return true;
}
