/**
 * Loads a stream's durable state from the engine: its tail, fencing token and trim point.
 *
 * Checks the invariant that makes pipelining safe: the tail key is written at the end of every
 * WAL object that holds records of the stream (the streamer asks the engine for it at the cut),
 * and durable state is always a whole number of WAL objects, so no record may exist at or after
 * the tail. A record there means the data
 * does not match the stream's bookkeeping, and the stream refuses to append on top of it.
 */
import { CorruptionError, type StreamPosition } from "../errors.js";
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

export async function loadStreamState(engine: Engine, streamId: number): Promise<StreamState> {
  const [tailValue, tokenValue, trimValue] = await Promise.all([
    engine.get(tailKey(streamId)),
    engine.get(fencingTokenKey(streamId)),
    engine.get(trimPointKey(streamId)),
  ]);
  const tail = tailValue === undefined ? { nextSeqNum: 0, lastTimestamp: 0, lastWriteMs: 0 } : decodeTailValue(tailValue);
  for await (const entry of engine.scan(recordRange(streamId, { startSeqNum: tail.nextSeqNum }))) {
    const { seqNum } = decodeRecordKey(entry.key);
    throw new CorruptionError(`stream ${streamId}`, `record ${seqNum} exists at or after the stream's tail ${tail.nextSeqNum}`);
  }
  return {
    tail: { seqNum: tail.nextSeqNum, timestamp: tail.lastTimestamp },
    lastWriteMs: tail.lastWriteMs,
    fencingToken: tokenValue === undefined ? "" : decodeFencingTokenValue(tokenValue),
    trimPoint: trimValue === undefined ? 0 : decodeU64Value(trimValue, "trim point"),
  };
}
