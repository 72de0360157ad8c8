/**
 * Engine options: every knob with its unit, default and trade-off, validated once at open. The
 * defaults and bounds are named in limits.ts, which checks how they relate.
 */
import { ValidationError } from "../errors.js";
import {
  DEFAULT_BLOCK_CACHE_BYTES,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_GC_GRACE_MS,
  DEFAULT_GC_INTERVAL_MS,
  DEFAULT_L0_COMPACTION_TRIGGER,
  DEFAULT_L0_MAX_SSTS,
  DEFAULT_L0_SST_BYTES,
  DEFAULT_MANIFESTS_KEPT,
  DEFAULT_MAX_SST_BYTES,
  DEFAULT_MAX_UNFLUSHED_BYTES,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_SST_BLOCK_BYTES,
  DEFAULT_STORE_RETRY_DEADLINE_MS,
  DEFAULT_WAL_SEGMENT_BYTES,
  MAX_FLUSH_INTERVAL_MS,
  MAX_INITIAL_BACKOFF_MS,
  MAX_L0_COMPACTION_TRIGGER,
  MAX_MANIFESTS_KEPT,
  MAX_POLL_INTERVAL_MS,
  MAX_RETRY_BACKOFF_MS,
  MAX_SST_BLOCK_BYTES,
  MAX_WAL_SEGMENT_BYTES,
  MIN_L0_COMPACTION_TRIGGER,
  MIN_SST_BLOCK_BYTES,
  MIN_SST_BYTES,
  MIN_WAL_SEGMENT_BYTES,
  INITIAL_BACKOFF_DEADLINE_DIVISOR,
  MAX_BACKOFF_DEADLINE_DIVISOR,
} from "../limits.js";
import type { Clock } from "../util/clock.js";
import type { RetryPolicy } from "./retrying-store.js";
import type { WalDirectory } from "./wal-files.js";

/** How the WAL is written: one object per group commit, or frames in segment files (LocalStore only). */
export type WalMode = "objects" | "segments";
/** Where the segment WAL waits for each group commit's fdatasync (docs/decisions/0012-inline-datasync.md). */
export type WalDatasync = "inline" | "thread-pool";

/** Decides whether compaction keeps an entry; false drops it (the stream layer drops trimmed records). */
export type CompactionFilter = (key: Uint8Array, value: Uint8Array) => boolean;

export type CompactionThread = "worker" | "main";

/**
 * A compaction filter a worker thread can rebuild: `moduleUrl` names an ES module whose
 * `createWorkerFilter(data)` returns `{ compactionFilter, isWriteOnceKey }`, and `snapshot()`
 * gives that data (structured-cloneable) when a compaction starts. The worker's filter must keep
 * at least what the engine's own `compactionFilter` keeps at that moment.
 */
export interface WorkerFilterSpec {
  moduleUrl: string;
  snapshot: () => unknown;
}

export interface EngineOptions {
  clock?: Clock;
  /** Aborts the open: retries of a failing store stop, and `Engine.open` rejects. Not used after the open. */
  signal?: AbortSignal;
  /**
   * Least time between the starts of two WAL flushes, in ms (default 5, at most 60 s). Bounds WAL PUTs to
   * 1000 / flushIntervalMs per second; an idle engine flushes at once. On S3 every PUT costs
   * money: 50 ms is at most 20 PUTs/s (about $260 a month at $0.005 per 1,000 PUTs).
   */
  flushIntervalMs?: number;
  /** Memtable size at which it is frozen and written as an L0 SST, in bytes (default 64 MiB). */
  l0SstBytes?: number;
  /** Cap on bytes not yet in an SST (WAL buffer plus memtables); writers wait past it (default 256 MiB). */
  maxUnflushedBytes?: number;
  /** How long a failing store call is retried before pending writes fail, in ms (default 30 s). */
  storeRetryDeadlineMs?: number;
  /** Byte budget of the SST block cache (default 64 MiB). */
  blockCacheBytes?: number;
  /** Target SST data block size in bytes (default 16 KiB, from 32 bytes to 16 MiB). */
  sstBlockBytes?: number;
  /**
   * Largest SST a compaction writes before starting the next one, in bytes (default 64 MiB). A
   * compaction builds its output in one buffer of up to this size (an entry larger than it gets
   * an SST of its own), so it is also the compaction's share of memory; smaller means more
   * objects (and manifest entries) per GiB of data.
   */
  maxSstBytes?: number;
  /** L0 SSTs that trigger a compaction into a sorted run (default 4). */
  l0CompactionTrigger?: number;
  /** L0 SSTs at which memtable flushes wait for compaction (default 16). */
  l0MaxSsts?: number;
  /** Minimum time between garbage collection passes, in ms (default 10 s). */
  gcIntervalMs?: number;
  /** How long an SST removed from the manifest is kept for readers in other processes, in ms (default 60 s). */
  gcGraceMs?: number;
  /** Old manifests kept besides the current one (default 4). */
  manifestsKept?: number;
  compactionFilter?: CompactionFilter;
  /**
   * Keys written exactly once (never overwritten or deleted by a later write): when such an entry
   * is expired or filtered, a flush or compaction drops it outright instead of leaving a
   * tombstone to shadow older versions, which cannot exist. The stream layer's records are.
   */
  isWriteOnceKey?: (key: Uint8Array) => boolean;
  /**
   * Where compaction decodes, merges and encodes (docs/decisions/0009-compaction-worker.md):
   * `"worker"`, a worker thread of its own, which the main thread feeds with the input bytes and
   * whose outputs it PUTs and publishes; `"main"`, the engine's own thread, paced (0008). Default
   * "main". With a `compactionFilter`, "worker" needs `workerFilter` too (else compaction stays on "main").
   */
  compactionThread?: CompactionThread;
  /** The compaction filter and `isWriteOnceKey` as data, for a compaction worker (WorkerFilterSpec). */
  workerFilter?: WorkerFilterSpec;
  /** Check at open that the store refuses a second create-only put (default true). */
  checkCreateOnly?: boolean;
  /** Open without writing anything: load the durable state and follow the writer by polling. */
  readOnly?: boolean;
  /** Read-only: how often to look for new WAL objects and manifests, in ms (default 1000). An idle poll costs two GETs; a LIST of the manifests runs at most every 5 s. */
  pollIntervalMs?: number;
  /**
   * "objects" (default): one WAL object per group commit, on any store. "segments" (LocalStore
   * only): frames in preallocated segment files, one fdatasync per group commit, no timer.
   */
  walMode?: WalMode;
  /** Size of a segment file of the segment WAL, in bytes (default 16 MiB). */
  walSegmentBytes?: number;
  /**
   * Segment WAL: `"inline"` (default) calls each group commit's fdatasync on the log's thread,
   * which waits for the disk; `"thread-pool"` waits for it on Node's thread pool, keeping the
   * event loop free meanwhile at the cost of a round trip per group commit (0012).
   */
  walDatasync?: WalDatasync;
  /** @internal Tests: the file layer of the segment WAL (default: `.durastream-wal` under a LocalStore's root). */
  walDirectory?: WalDirectory;
}

export interface ResolvedEngineOptions {
  flushIntervalMs: number;
  l0SstBytes: number;
  maxUnflushedBytes: number;
  blockCacheBytes: number;
  sstBlockBytes: number;
  maxSstBytes: number;
  l0CompactionTrigger: number;
  l0MaxSsts: number;
  gcIntervalMs: number;
  gcGraceMs: number;
  manifestsKept: number;
  compactionFilter: CompactionFilter | undefined;
  isWriteOnceKey: ((key: Uint8Array) => boolean) | undefined;
  compactionThread: CompactionThread;
  workerFilter: WorkerFilterSpec | undefined;
  checkCreateOnly: boolean;
  readOnly: boolean;
  pollIntervalMs: number;
  walMode: WalMode;
  walSegmentBytes: number;
  walDatasync: WalDatasync;
  retry: RetryPolicy;
}

function int(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(`option ${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

export function resolveEngineOptions(options: EngineOptions): ResolvedEngineOptions {
  const l0SstBytes = int("l0SstBytes", options.l0SstBytes, DEFAULT_L0_SST_BYTES, MIN_SST_BYTES);
  const maxUnflushedBytes = int("maxUnflushedBytes", options.maxUnflushedBytes, Math.max(DEFAULT_MAX_UNFLUSHED_BYTES, 2 * l0SstBytes), MIN_SST_BYTES);
  if (maxUnflushedBytes < l0SstBytes) {
    throw new ValidationError(`maxUnflushedBytes (${maxUnflushedBytes}) must be at least l0SstBytes (${l0SstBytes})`);
  }
  const deadlineMs = int("storeRetryDeadlineMs", options.storeRetryDeadlineMs, DEFAULT_STORE_RETRY_DEADLINE_MS, 0);
  const l0CompactionTrigger = int("l0CompactionTrigger", options.l0CompactionTrigger, DEFAULT_L0_COMPACTION_TRIGGER, MIN_L0_COMPACTION_TRIGGER, MAX_L0_COMPACTION_TRIGGER);
  return {
    flushIntervalMs: int("flushIntervalMs", options.flushIntervalMs, DEFAULT_FLUSH_INTERVAL_MS, 0, MAX_FLUSH_INTERVAL_MS),
    l0SstBytes,
    maxUnflushedBytes,
    blockCacheBytes: int("blockCacheBytes", options.blockCacheBytes, DEFAULT_BLOCK_CACHE_BYTES, 0),
    sstBlockBytes: int("sstBlockBytes", options.sstBlockBytes, DEFAULT_SST_BLOCK_BYTES, MIN_SST_BLOCK_BYTES, MAX_SST_BLOCK_BYTES),
    maxSstBytes: int("maxSstBytes", options.maxSstBytes, DEFAULT_MAX_SST_BYTES, MIN_SST_BYTES),
    l0CompactionTrigger,
    l0MaxSsts: int("l0MaxSsts", options.l0MaxSsts, Math.max(DEFAULT_L0_MAX_SSTS, l0CompactionTrigger * 2), l0CompactionTrigger),
    gcIntervalMs: int("gcIntervalMs", options.gcIntervalMs, DEFAULT_GC_INTERVAL_MS, 0),
    gcGraceMs: int("gcGraceMs", options.gcGraceMs, DEFAULT_GC_GRACE_MS, 0),
    manifestsKept: int("manifestsKept", options.manifestsKept, DEFAULT_MANIFESTS_KEPT, 1, MAX_MANIFESTS_KEPT),
    compactionFilter: options.compactionFilter,
    isWriteOnceKey: options.isWriteOnceKey,
    compactionThread: compactionThreadOf(options.compactionThread),
    workerFilter: options.workerFilter,
    checkCreateOnly: options.checkCreateOnly ?? true,
    readOnly: options.readOnly ?? false,
    pollIntervalMs: int("pollIntervalMs", options.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS, 1, MAX_POLL_INTERVAL_MS),
    walMode: walModeOf(options.walMode),
    walDatasync: walDatasyncOf(options.walDatasync),
    walSegmentBytes: int("walSegmentBytes", options.walSegmentBytes, DEFAULT_WAL_SEGMENT_BYTES, MIN_WAL_SEGMENT_BYTES, MAX_WAL_SEGMENT_BYTES),
    retry: {
      deadlineMs,
      initialBackoffMs: Math.min(MAX_INITIAL_BACKOFF_MS, Math.max(1, deadlineMs / INITIAL_BACKOFF_DEADLINE_DIVISOR)),
      maxBackoffMs: Math.min(MAX_RETRY_BACKOFF_MS, Math.max(1, deadlineMs / MAX_BACKOFF_DEADLINE_DIVISOR)),
    },
  };
}

function compactionThreadOf(value: CompactionThread | undefined): CompactionThread {
  if (value === undefined) return "main";
  if (value !== "worker" && value !== "main") throw new ValidationError(`option compactionThread must be "worker" or "main", got ${JSON.stringify(value)}`);
  return value;
}

function walDatasyncOf(value: WalDatasync | undefined): WalDatasync {
  if (value === undefined) return "inline";
  if (value !== "inline" && value !== "thread-pool") throw new ValidationError(`option walDatasync must be "inline" or "thread-pool", got ${JSON.stringify(value)}`);
  return value;
}

function walModeOf(value: WalMode | undefined): WalMode {
  if (value === undefined) return "objects";
  if (value !== "objects" && value !== "segments") throw new ValidationError(`option walMode must be "objects" or "segments", got ${JSON.stringify(value)}`);
  return value;
}
