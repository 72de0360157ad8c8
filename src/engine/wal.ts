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

export interface WalSink {
  /** The id the next group will get (every lower id is written, a fence, or void). */
  readonly nextWalId: number;
  /** Bytes appended and not yet handed to the disk or store. */
  readonly bufferedBytes: number;
  readonly inFlight: boolean;
  /**
   * Encodes batch `seq` as `encodeBatch` does, for `append`. Nothing is written until `append`;
   * the object WAL encodes it straight into the object it is building.
   */
  encodeBatch(seq: number, ops: readonly WriteOp[]): Uint8Array;
  /** Appends one batch encoded with `encodeBatch`; `seq` must exceed every earlier one. */
  append(seq: number, encodedBatch: Uint8Array): void;
  /** Stops writing; buffered batches are dropped (they were never durable). */
  stop(): void;
}
