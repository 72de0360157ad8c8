/**
 * Engine metrics: plain counters bumped on the paths that matter, read in O(1) by metrics().
 */
import type { BlockCacheStats } from "./block-cache.js";
import type { StoreRequestCounts } from "./instrumented-store.js";
import type { WalFlush } from "./wal-writer.js";

/** The storage engine's counters and gauges (`LogMetrics.engine`). Counters count since the log opened. */
export interface EngineMetrics {
  /** "open", "recovering" (the store failed; the engine is reloading its state) or "closed". */
  state: "open" | "recovering" | "closed";
  /** The writer epoch this log holds (a read-only log: the epoch of the writer it follows). */
  writerEpoch: number;
  /** Highest engine batch sequence number that is durable. */
  durableSeq: number;
  /** Highest engine batch sequence number assigned. */
  lastSeq: number;
  /** Batches written but not yet durable. */
  durableLagSeqs: number;
  /** Bytes written but not yet in SSTs (capped by `maxUnflushedBytes`). */
  unflushedBytes: number;
  /** WAL objects written. */
  walFlushes: number;
  /** Bytes of the WAL objects written. */
  walFlushBytes: number;
  /** Engine batches in the WAL objects written. */
  walFlushBatches: number;
  /** Time spent writing WAL objects, in ms. */
  walFlushDurationMsTotal: number;
  /** Longest WAL object write, in ms. */
  walFlushDurationMsMax: number;
  /** Duration of the latest WAL object write, in ms. */
  walFlushDurationMsLast: number;
  /** Memtables written as L0 SSTs. */
  l0Flushes: number;
  /** L0 SSTs in the current manifest. */
  l0Count: number;
  /** Sorted runs in the current manifest. */
  sortedRunCount: number;
  /** Memtables waiting to be written as SSTs. */
  frozenMemtables: number;
  /** Compactions completed. */
  compactions: number;
  /** Bytes read by compactions. */
  compactionBytesRead: number;
  /** Bytes written by compactions. */
  compactionBytesWritten: number;
  /** Manifest versions written. */
  manifestWrites: number;
  /** Objects deleted by garbage collection. */
  objectsDeleted: number;
  /** Times the engine reloaded its state after a store failure. */
  resets: number;
  /** Writes that waited for unflushed bytes to go below the cap. */
  backpressureWaits: number;
  /** Read-only: manifests adopted from the writer, and polls that failed (they are retried). */
  manifestsAdopted: number;
  /** Read-only: polls of the store that failed (they are retried). */
  followErrors: number;
  /** Object store requests by kind. */
  storeRequests: StoreRequestCounts;
  /** The SST block cache. */
  cache: BlockCacheStats;
}

export interface EngineGauges {
  state: EngineMetrics["state"];
  writerEpoch: number;
  durableSeq: number;
  lastSeq: number;
  unflushedBytes: number;
  l0Count: number;
  sortedRunCount: number;
  frozenMemtables: number;
  cache: BlockCacheStats;
}

export class EngineMetricsRecorder {
  walFlushes = 0;
  walFlushBytes = 0;
  walFlushBatches = 0;
  walFlushDurationMsTotal = 0;
  walFlushDurationMsMax = 0;
  walFlushDurationMsLast = 0;
  l0Flushes = 0;
  compactions = 0;
  compactionBytesRead = 0;
  compactionBytesWritten = 0;
  manifestWrites = 0;
  objectsDeleted = 0;
  resets = 0;
  backpressureWaits = 0;
  manifestsAdopted = 0;
  followErrors = 0;

  constructor(private readonly storeCounts: StoreRequestCounts) {}

  recordWalFlush(flush: WalFlush): void {
    this.walFlushes++;
    this.walFlushBytes += flush.bytes;
    this.walFlushBatches += flush.batches;
    this.walFlushDurationMsTotal += flush.durationMs;
    this.walFlushDurationMsLast = flush.durationMs;
    if (flush.durationMs > this.walFlushDurationMsMax) this.walFlushDurationMsMax = flush.durationMs;
  }

  snapshot(gauges: EngineGauges): EngineMetrics {
    return {
      ...gauges,
      durableLagSeqs: gauges.lastSeq - gauges.durableSeq,
      walFlushes: this.walFlushes,
      walFlushBytes: this.walFlushBytes,
      walFlushBatches: this.walFlushBatches,
      walFlushDurationMsTotal: this.walFlushDurationMsTotal,
      walFlushDurationMsMax: this.walFlushDurationMsMax,
      walFlushDurationMsLast: this.walFlushDurationMsLast,
      l0Flushes: this.l0Flushes,
      compactions: this.compactions,
      compactionBytesRead: this.compactionBytesRead,
      compactionBytesWritten: this.compactionBytesWritten,
      manifestWrites: this.manifestWrites,
      objectsDeleted: this.objectsDeleted,
      resets: this.resets,
      backpressureWaits: this.backpressureWaits,
      manifestsAdopted: this.manifestsAdopted,
      followErrors: this.followErrors,
      storeRequests: { ...this.storeCounts },
    };
  }
}
