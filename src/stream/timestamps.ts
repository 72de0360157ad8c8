/**
 * Timestamp assignment for one append (s2-lite's `sequenced_records`, brief section 3.4).
 *
 * The streamer calls this synchronously when it sequences a batch, with the wall clock read
 * once for the whole batch and the last timestamp assigned in the stream (pending appends
 * included). For each record, in order:
 *   1. pick: the record's own timestamp (client-prefer, when given; client-require, where a
 *      missing one fails the whole batch) or `nowMs` (arrival, or client-prefer without one);
 *   2. cap at `nowMs` unless the stream is `uncapped`;
 *   3. raise to the running maximum, so timestamps never decrease within a stream.
 *
 * Invariant: the result is non-decreasing and starts at or above `previousMaxMs`.
 */
import { ValidationError, assert } from "../errors.js";
import type { TimestampingMode } from "./types.js";

/** What timestamp assignment depends on besides the records. */
export interface TimestampContext {
  mode: TimestampingMode;
  /** Keep client timestamps later than `nowMs` instead of capping them. */
  uncapped: boolean;
  /** The arrival time of the batch, read once, in ms since the epoch. */
  nowMs: number;
  /** The last timestamp assigned in the stream (0 for a fresh stream). */
  previousMaxMs: number;
}

/** Returns the timestamp of each record, or throws ValidationError (client-require, one missing). */
export function assignTimestamps(
  records: readonly { timestamp?: number | undefined }[],
  context: TimestampContext,
): number[] {
  const { mode, uncapped, nowMs } = context;
  assert(Number.isSafeInteger(nowMs) && nowMs >= 0, () => `nowMs must be a safe integer >= 0, got ${nowMs}`);
  if (mode === "client-require") {
    const missing = records.findIndex((r) => r.timestamp === undefined);
    if (missing >= 0) {
      throw new ValidationError(
        `record ${missing} has no timestamp, but this stream's timestamping mode is client-require; ` +
          `give every record a timestamp`,
      );
    }
  }
  let maxMs = context.previousMaxMs;
  const timestamps = new Array<number>(records.length);
  for (let i = 0; i < records.length; i++) {
    let ts = mode === "arrival" ? nowMs : (records[i]!.timestamp ?? nowMs);
    if (!uncapped && ts > nowMs) ts = nowMs;
    if (ts < maxMs) ts = maxMs;
    maxMs = ts;
    timestamps[i] = ts;
  }
  return timestamps;
}
