/**
 * Engine metrics: plain counters bumped on the paths that matter, read in O(1) by metrics().
 */
import type { BlockCacheStats } from "./block-cache.js";
import type { StoreRequestCounts } from "./instrumented-store.js";
import type { WalFlush } from "./wal-writer.js";

export interface EngineMetrics {
  state: "open" | "recovering" | "closed";
  writerEpoch: number;
  durableSeq: number;
  lastSeq: number;
  /** Batches written but not yet durable. */
  durableLagSeqs: number;
  unflushedBytes: number;
  walFlushes: number;
  walFlushBytes: number;
  walFlushBatches: number;
  walFlushDurationMsTotal: number;
  walFlushDurationMsMax: number;
  walFlushDurationMsLast: number;
  l0Flushes: number;
  l0Count: number;
  sortedRunCount: number;
  frozenMemtables: number;
  compactions: number;
  compactionBytesRead: number;
  compactionBytesWritten: number;
  manifestWrites: number;
  objectsDeleted: number;
  resets: number;
  backpressureWaits: number;
  /** Read-only: manifests adopted from the writer, and polls that failed (they are retried). */
  manifestsAdopted: number;
  followErrors: number;
  storeRequests: StoreRequestCounts;
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
