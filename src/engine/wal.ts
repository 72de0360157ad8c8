/**
 * What the engine needs from a WAL writer, whichever kind it is: the object WAL (wal-writer.ts,
 * one create-only object per group commit, for S3 and MemoryStore) or the segment WAL
 * (segment-wal-writer.ts, frames in preallocated files with one fdatasync per group commit, for
 * LocalStore). The engine appends encoded batches; the writer calls `onFlushed` once a group is
 * durable (and, for the segment WAL, once it checked that no newer writer sealed its epoch), and
 * `onFailed` once, after which it writes nothing more.
 */
import type { WriteOp } from "./wal-format.js";

export interface WalFlush {
  walId: number;
  maxSeq: number;
  bytes: number;
  batches: number;
  durationMs: number;
}

/**
 * A batch as a writer encoded it for its group: the object WAL's is the batch's bytes; the
 * segment WAL's only says how many bytes the batch adds to its frame (FrameGather holds them).
 */
export interface EncodedBatch {
  readonly length: number;
}

export interface WalSink {
  /** The id the next group will get (every lower id is written, a fence, or void). */
  readonly nextWalId: number;
  /** Bytes appended and not yet handed to the disk or store. */
  readonly bufferedBytes: number;
  readonly inFlight: boolean;
  /**
   * Encodes batch `seq` as `encodeBatch` (wal-format.ts) does, for `append`, into the group the
   * writer is building. Nothing is written until `append`. Its values must not change afterwards.
   */
  encodeBatch(seq: number, ops: readonly WriteOp[]): EncodedBatch;
  /** Appends the batch `encodeBatch` just encoded; `seq` must exceed every earlier one. */
  append(seq: number, encodedBatch: EncodedBatch): void;
  /** Stops writing; buffered batches are dropped (they were never durable). */
  stop(): void;
}
