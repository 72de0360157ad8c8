/**
 * Log: one durable log on one store root, holding any number of streams.
 *
 * It owns the engine, the Log-wide byte semaphore that bounds in-flight appends, the streamers
 * of the streams in use under a cap (streamer-cache.ts), and the control plane
 * (stream-registry.ts: control operations group-committed like appends). It routes the engine's
 * durable-watermark advances to the streamers with pending batches, and engine resets to all
 * of them. `openLog()` opens one; `openStream()` is the one-stream shorthand.
 */
import { emitDiagnostic, isDurastreamLogger, type DiagnosticEvent, type DurastreamLogger } from "./diagnostics.js";
import { checkNoActiveWriter, WriterLease } from "./writer-lease.js";
import { ClosedError, FencedError, ReadOnlyError, isDurastreamError, StreamExistsError, StreamNotFoundError, ValidationError, type CloseReason, type StreamPosition } from "./errors.js";
import { StreamTrackers } from "./stream/stream-trackers.js";
import { Engine, type EngineMetrics } from "./engine/engine.js";
import { DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_INFLIGHT_BYTES, DEFAULT_MAX_LOADED_STREAMS, MIN_INFLIGHT_BYTES } from "./limits.js";
import { localRootOf, type ObjectStore } from "./store/object-store.js";
import { checkObjectStore, checkStoreRootExists, openStore, type OpenStoreOptions } from "./store/open-store.js";
import type { WalDatasync, WalMode } from "./engine/engine-options.js";
import { moduleBeside } from "./engine/compaction-offload.js";
import { S3Store } from "./store/s3-store.js";
import { ByteSemaphore } from "./stream/byte-semaphore.js";
import type { ReadContext } from "./stream/read-session.js";
import { Stream, type StreamHost } from "./stream/stream.js";
import { StreamRegistry, type StreamInfo } from "./stream/stream-registry.js";
import { RECORD_STORED_BYTES_GUESS, Streamer } from "./stream/streamer.js";
import { StreamerCache } from "./stream/streamer-cache.js";
import { loadStreamState } from "./stream/stream-state.js";
import type { StreamConfigPatch } from "./stream/types.js";
import {
  checkBoolean,
  checkInteger,
  checkOptions,
  validateListStreamsOptions,
  validateStreamConfigPatch,
  validateStreamName,
} from "./stream/validate.js";
import { systemClock, type Clock } from "./util/clock.js";
import { Histogram, type HistogramSnapshot } from "./util/histogram.js";

/** Options of `openLog()`. Every size is in bytes and every time in ms. */
export interface LogOptions {
  /** The store, or a URL: `file:///abs/path`, `file://./rel`, `s3://bucket/prefix`, `memory://`. */
  store: ObjectStore | string;
  /** Options for a store given as a URL (S3 endpoint, region, credentials, path style). */
  storeOptions?: OpenStoreOptions;
  /**
   * Least time between two WAL flushes, in ms, for the object WAL (`walMode: "objects"`).
   * Default: the store's `preferredFlushIntervalMs` (50 for S3), else 5 (local disk and memory).
   * WAL PUTs never exceed 1000 / flushIntervalMs per second; an idle log flushes at once. The
   * segment WAL has no timer: it ignores this.
   */
  flushIntervalMs?: number;
  /** Cap on metered bytes of appends awaiting their acks, for the whole log (default 128 MiB, at least 1 MiB). */
  inflightBytes?: number;
  /** How long a failing store write is retried before pending appends fail (default 30000 ms). */
  storeRetryDeadlineMs?: number;
  /** Memtable size written as one L0 SST, in bytes (default 64 MiB). */
  l0SstBytes?: number;
  /** Cap on bytes written but not yet in SSTs (default 256 MiB). */
  maxUnflushedBytes?: number;
  /**
   * Largest SST a compaction writes, in bytes (default 64 MiB, at least 1 KiB). A compaction
   * builds one such SST in memory at a time: with `l0SstBytes`, `maxUnflushedBytes`,
   * `blockCacheBytes` and `inflightBytes` it bounds what the log holds.
   */
  maxSstBytes?: number;
  /** SST block cache budget in bytes (default 64 MiB). */
  blockCacheBytes?: number;
  /** Minimum time between garbage-collection passes, in ms (default 10000). */
  gcIntervalMs?: number;
  /** How long replaced SSTs are kept for readers in other processes, in ms (default 60000). */
  gcGraceMs?: number;
  /** Time source (tests pass a ManualClock). */
  clock?: Clock;
  /**
   * Open without writing anything to the store, and without fencing a live writer: reads see
   * the durable state and follow new records by polling the store. Every write method rejects
   * with code "read_only". Readers in other processes or on other machines use this.
   */
  readOnly?: boolean;
  /** Read-only: how often to look for new records in the store, in ms (default 1000). An idle poll costs two GETs; a LIST of the manifests runs at most every 5 s. */
  pollIntervalMs?: number;
  /**
   * Where background events go besides `node:diagnostics_channel` (DIAGNOSTICS_CHANNELS): a
   * failing store and its recovery, a failed background task, a fence, a close. Any object with
   * pino's `{ debug, info, warn, error }(fields, message)` methods, e.g. a pino logger.
   */
  logger?: DurastreamLogger;
  /**
   * Open a writer even when another writer's lease on the store is current (default false: such
   * an open fails with code "writer_active"). The other writer is then fenced: it can no longer
   * write, and nothing it acknowledged is lost. A writer renews its lease every 10 s; a crashed
   * writer's lease is dead at once on the same host and after 30 s elsewhere (writer-lease.ts).
   */
  takeover?: boolean;
  /**
   * Aborts the open: a store that keeps failing is retried for up to `storeRetryDeadlineMs`, and
   * this ends the wait early (`openLog` rejects with code "aborted"). It has no effect once the log is open.
   */
  signal?: AbortSignal;
  /**
   * How the write-ahead log is written. `"objects"`: one store object per group commit (the
   * only choice on S3 and in memory; `flushIntervalMs` spaces them). `"segments"` (local disk
   * only): frames appended to preallocated segment files under `.durastream-wal`, one fdatasync
   * per group commit and no timer on the ack path. Default: `"segments"` on a local disk
   * (LocalStore, or a wrapper that forwards its `localStore` or `localRoot`), `"objects"` elsewhere. A root
   * written in one mode opens in the other: each replays what the other wrote.
   */
  walMode?: WalMode;
  /**
   * Where the segment WAL (`walMode: "segments"`) waits for each group commit's fdatasync.
   * `"inline"` (default): on the log's thread, which blocks the event loop for as long as the disk
   * takes (about 0.2 ms per group commit on a local SSD) and saves the thread pool's round trip:
   * on the bench machine serial appends ran 1.4x and 64 concurrent appenders 1.15x as fast. After
   * one that took 50 ms or more (a stalling disk, reported as a `diskStalled` event), the log
   * waits on the thread pool for a minute before it tries again. `"thread-pool"`: the event loop stays free
   * while the disk works; choose it when other work of the process must never wait for the disk,
   * or when several logs of one process write at once (0012).
   */
  walDatasync?: WalDatasync;
  /**
   * Most streams kept loaded for appends (default 10,000). A loaded stream holds its tail and
   * the state of its appends (about 2 KiB when idle, bench/stream-count.ts); beyond this cap the least recently
   * used idle ones (no append in flight, no live follower) are dropped, and load again from the
   * store on their next use. Stream handles stay valid either way.
   */
  maxLoadedStreams?: number;
  /**
   * Where compaction decodes, merges and encodes SSTs (docs/decisions/0009-compaction-worker.md):
   * `"worker"`, a worker thread of the log's own, so that a merge of a big log runs beside the
   * appends instead of between them; `"main"`, the log's thread, paced to a share of a busy event
   * loop. Either way the store requests, the manifest and every decision stay on the log's thread.
   * Default "worker" on a LocalStore, an S3Store or a wrapper that forwards a LocalStore (its
   * `localStore` or `localRoot`); "main" on any other store (a MemoryStore, the FaultyStore of tests, whose manual
   * clocks and fault schedules expect every step on one thread).
   */
  compactionThread?: "worker" | "main";
}

const LOG_OPTIONS = [
  "store",
  "compactionThread",
  "storeOptions",
  "flushIntervalMs",
  "inflightBytes",
  "storeRetryDeadlineMs",
  "l0SstBytes",
  "maxUnflushedBytes",
  "maxSstBytes",
  "blockCacheBytes",
  "gcIntervalMs",
  "gcGraceMs",
  "clock",
  "readOnly",
  "pollIntervalMs",
  "signal",
  "logger",
  "takeover",
  "walMode",
  "walDatasync",
  "maxLoadedStreams",
] as const;

/** Options of `log.openStream()`. */
export interface OpenStreamOptions {
  /** Create the stream when it does not exist (default false). */
  createIfMissing?: boolean;
  /** Config for a stream created here. */
  config?: StreamConfigPatch;
}

/**
 * A snapshot of a log's counters and gauges (`log.metrics()`); counters count since the log opened.
 * Render it for Prometheus with `renderPrometheus()`.
 */
export interface LogMetrics {
  /** Calls of `stream.append()` that completed, acknowledged or failed. */
  appends: number;
  /** Calls of `stream.append()` that failed. */
  appendErrors: number;
  /** Latency of `stream.append()` from call to ack or failure. */
  appendLatency: HistogramSnapshot;
  /** Metered bytes of appends awaiting their acks. */
  inflightBytes: number;
  /** The cap on in-flight append bytes (the `inflightBytes` option). */
  inflightCapacityBytes: number;
  /** Appends that waited because the in-flight cap was reached. */
  backpressureWaits: number;
  /** Streams loaded for appends in this log (at most `maxLoadedStreams`, unless more are busy). */
  openStreams: number;
  /** Idle loaded streams dropped to keep `openStreams` under `maxLoadedStreams`. */
  streamEvictions: number;
  /** The storage engine's metrics. */
  engine: EngineMetrics;
}

/** What `log.health()` returns. */
export interface LogHealth {
  /** "ok", "recovering" (the store is failing; the log reloads when it is back) or "closed". */
  status: "ok" | "recovering" | "closed";
  /** Whether the log was opened with `readOnly: true`. */
  readOnly: boolean;
  /** Why the log closed or is recovering, when it is not ok. */
  reason?: string;
  /**
   * Once closed: `"closed"` by `close()`, `"fenced"` by a newer writer, or `"failed"` by a broken
   * invariant or damaged data (the log acknowledges nothing after it; open it again).
   */
  closeReason?: CloseReason;
  /** Highest engine batch sequence number that is durable. */
  durableSeq: number;
  /** The writer epoch this log holds (a read-only log: the epoch of the writer it follows). */
  writerEpoch: number;
}

export type { StreamInfo };

/**
 * One durable log on one store root, holding any number of streams. Open one with `openLog()`;
 * get stream handles with `openStream()`, manage streams with `createStream()`, `reconfigureStream()`,
 * `deleteStream()` and `listStreams()`, and `close()` it when done (pending appends are acknowledged first).
 */
export class Log {
  readonly #engine: Engine;
  readonly #registry: StreamRegistry;
  readonly #clock: Clock;
  readonly #semaphore: ByteSemaphore;
  /** One streamer per stream in use, idle ones evicted over `maxLoadedStreams` (streamer-cache.ts). */
  readonly #streamers: StreamerCache;
  readonly #readOnly: boolean;
  /** Read-only logs: one tracker per stream being read (stream-trackers.ts). */
  readonly #trackers: StreamTrackers;
  /** Streams being deleted: loading their streamer waits until the deletion is durable. */
  readonly #deleting = new Map<string, Promise<void>>();
  readonly #pending = new Set<Streamer>();
  readonly #latency = new Histogram();
  readonly #ownedStore: ObjectStore | undefined;
  /** Called once when the log closes or fails (append sessions release their hold on the event loop). */
  readonly #closeListeners = new Set<() => void>();
  readonly #logger: DurastreamLogger | undefined;
  readonly #storeDescription: string;
  /** A writer's lease on the store (writer-lease.ts); undefined for a read-only log. */
  readonly #lease: WriterLease | undefined;
  #appends = 0;
  #appendErrors = 0;
  #closing: Promise<void> | undefined;
  #closed = false;
  /** @internal What Stream handles call into. */
  readonly host: StreamHost;

  private constructor(parts: {
    engine: Engine;
    registry: StreamRegistry;
    clock: Clock;
    inflightBytes: number;
    maxLoadedStreams: number;
    ownedStore: ObjectStore | undefined;
    readOnly: boolean;
    lease: WriterLease | undefined;
    logger: DurastreamLogger | undefined;
    storeDescription: string;
  }) {
    this.#readOnly = parts.readOnly;
    this.#engine = parts.engine;
    this.#registry = parts.registry;
    this.#clock = parts.clock;
    this.#semaphore = new ByteSemaphore(parts.inflightBytes);
    this.#streamers = new StreamerCache(parts.maxLoadedStreams, (name) => this.#loadStreamer(name));
    this.#trackers = new StreamTrackers(parts.engine, (name) => this.#registry.getMeta(name));
    this.#ownedStore = parts.ownedStore;
    this.host = this.#makeHost();
    this.#logger = parts.logger;
    this.#lease = parts.lease;
    this.#storeDescription = parts.storeDescription;
    this.#reportBackgroundEvents();
    this.#engine.onDurable((durableSeq) => {
      for (const streamer of this.#pending) {
        streamer.onDurable(durableSeq);
        if (!streamer.hasPending) this.#pending.delete(streamer);
      }
    });
    this.#engine.onReset((error) => {
      this.#pending.clear();
      this.#streamers.forEach((streamer) => streamer.onReset(error));
      // A stream whose creation was not yet durable may not exist after recovery: its streamer goes.
      for (const name of this.#registry.onReset()) {
        void this.#streamers.find(name).then((streamer) => {
          if (streamer === undefined) return;
          this.#streamers.forget(name, streamer);
          streamer.close(error);
        });
      }
    });
    // After a reset, reload every stream's tail at once: a reader must see writes whose outcome
    // was unknown and that turned out durable before anyone decides to write them again.
    this.#engine.onRecovered(() => this.#streamers.forEach((streamer) => void streamer.refresh().catch(() => undefined)));
    this.#engine.onApplied((batches) => this.#trackers.routeApplied(batches));
    this.#engine.onClosed((error) => {
      this.#notifyClosed();
      if (!this.#closed) void this.#lease?.stop(false); // fenced or failed: a successor may hold the store now
      this.#pending.clear();
      this.#trackers.closeAll(error);
      this.#semaphore.close(error);
      this.#streamers.forEach((streamer) => streamer.close(error));
    });
  }

  /** Sends the engine's background events to diagnostics_channel and the logger (diagnostics.ts). */
  #reportBackgroundEvents(): void {
    const store = this.#storeDescription;
    const emit = (event: DiagnosticEvent, message: string) => emitDiagnostic(this.#logger, event, message);
    this.#engine.onReset((error) => emit({ event: "storeFailing", store, error }, `durastream: the store is failing, the log is reopening: ${error.message}`));
    this.#engine.onRecovered(() => emit({ event: "storeRecovered", store }, "durastream: the store is back, the log reopened"));
    this.#engine.onBackgroundError((task, error) =>
      emit({ event: "backgroundError", store, task, error }, `durastream: ${task} failed, the next pass retries: ${String((error as Error)?.message ?? error)}`),
    );
    this.#engine.onDiskStall((durationMs) =>
      emit(
        { event: "diskStalled", store, durationMs },
        `durastream: a WAL fdatasync on the log's thread took ${Math.round(durationMs)} ms, and the event loop waited; group commits wait on the thread pool for the next minute (walDatasync "inline")`,
      ),
    );
    this.#engine.onClosed((error) => {
      if (error instanceof FencedError) emit({ event: "fenced", store, error }, `durastream: another writer opened the store; this log is closed: ${error.message}`);
      else if (!this.#closed) emit({ event: "closed", store, reason: "failed", error }, `durastream: the log failed and closed: ${error.message}`);
    });
  }

  /** @internal Use `openLog()`. */
  static async open(options: LogOptions): Promise<Log> {
    if (options === null || typeof options !== "object") throw new ValidationError("openLog needs an options object with a store");
    checkOptions(options, "openLog option", LOG_OPTIONS);
    const ownedStore = typeof options.store === "string" ? openStore(options.store, options.storeOptions) : undefined;
    const store = ownedStore ?? options.store;
    checkObjectStore(store, "openLog");
    const inflightBytes = checkInteger(options.inflightBytes ?? DEFAULT_INFLIGHT_BYTES, "inflightBytes", MIN_INFLIGHT_BYTES);
    const maxLoadedStreams = checkInteger(options.maxLoadedStreams ?? DEFAULT_MAX_LOADED_STREAMS, "maxLoadedStreams", 1);
    const clock = options.clock ?? systemClock;
    const readOnly = checkBoolean(options.readOnly, "readOnly");
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new ValidationError("openLog: `signal` must be an AbortSignal");
    if (options.logger !== undefined && !isDurastreamLogger(options.logger)) {
      throw new ValidationError("openLog: `logger` must be an object whose debug, info, warn and error, where given, are functions");
    }
    let engine: Engine | undefined;
    const registry = new StreamRegistry(() => engine!, clock);
    const takeover = checkBoolean(options.takeover, "takeover");
    let lease: WriterLease | undefined;
    try {
      if (readOnly) await checkStoreRootExists(store);
      else if (!takeover) await checkNoActiveWriterUnlessFailing(store, clock);
      engine = await Engine.open(store, {
        clock,
        flushIntervalMs: options.flushIntervalMs ?? (store as ObjectStore).preferredFlushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
        ...pick(options, ["storeRetryDeadlineMs", "l0SstBytes", "maxUnflushedBytes", "maxSstBytes", "blockCacheBytes", "gcIntervalMs", "gcGraceMs", "pollIntervalMs", "walDatasync"]),
        walMode: options.walMode ?? (localRootOf(store) !== undefined ? "segments" : "objects"),
        readOnly,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(readOnly ? {} : { compactionFilter: registry.compactionFilter, isWriteOnceKey: StreamRegistry.isWriteOnceKey }),
        compactionThread: options.compactionThread ?? defaultCompactionThread(store),
        workerFilter: { moduleUrl: moduleBeside("./stream/stream-filter", import.meta.url), snapshot: () => registry.trimPoints },
      });
      await registry.loadTrimPoints(engine);
      if (!readOnly) lease = await WriterLease.take(store, clock);
    } catch (error) {
      await lease?.stop(true);
      await engine?.close().catch(() => undefined);
      await ownedStore?.close?.().catch(() => undefined);
      throw error;
    }
    return new Log({ engine, registry, clock, inflightBytes, maxLoadedStreams, ownedStore, readOnly, lease, logger: options.logger, storeDescription: store.description ?? "an ObjectStore" });
  }

  /** Opens a handle on a stream (creating it first with `createIfMissing`). */
  async openStream(name: string, options: OpenStreamOptions = {}): Promise<Stream> {
    this.#throwIfClosed();
    validateStreamName(name);
    const o = checkOptions(options, "openStream option", ["createIfMissing", "config"]);
    const createIfMissing = checkBoolean(o.createIfMissing, "createIfMissing");
    const config = validateStreamConfigPatch(options.config ?? {});
    await this.#deleting.get(name);
    let meta = await this.#registry.getMeta(name);
    if (meta === undefined) {
      if (!createIfMissing) throw new StreamNotFoundError(name);
      if (this.#readOnly) throw new ReadOnlyError(`creating stream ${JSON.stringify(name)}`);
      meta = await this.#registry.create(name, config).catch(async (error: unknown) => {
        if (!(error instanceof StreamExistsError)) throw error;
        const existing = await this.#registry.getMeta(name);
        if (existing === undefined) throw new StreamNotFoundError(name);
        return existing;
      });
    }
    // The handle names this stream, by id: once it is deleted, a stream created under the same name is another one.
    return new Stream(this.host, name, false, meta.id);
  }



  /** Creates a stream; fails with StreamExistsError when the name is taken. */
  async createStream(name: string, config: StreamConfigPatch = {}): Promise<StreamInfo> {
    this.#throwIfClosed();
    this.#throwIfReadOnly("createStream");
    validateStreamName(name);
    const meta = await this.#registry.create(name, validateStreamConfigPatch(config));
    return { name, createdAtMs: meta.createdAtMs, config: meta.config };
  }

  /** Changes a stream's config: the fields given replace the current ones. Retention applies to records appended afterwards. */
  async reconfigureStream(name: string, patch: StreamConfigPatch): Promise<StreamInfo> {
    this.#throwIfClosed();
    this.#throwIfReadOnly("reconfigureStream");
    validateStreamName(name);
    const meta = await this.#registry.reconfigure(name, validateStreamConfigPatch(patch, "reconfigure patch"));
    const loaded = this.#streamers.peek(name);
    if (loaded !== undefined) loaded.reconfigure(meta);
    else void this.#streamers.find(name).then((streamer) => streamer?.reconfigure(meta));
    return { name, createdAtMs: meta.createdAtMs, config: meta.config };
  }

  /** Deletes a stream: its records become unreadable at once and are removed by compaction; the name can be reused. */
  async deleteStream(name: string): Promise<void> {
    this.#throwIfClosed();
    this.#throwIfReadOnly("deleteStream");
    validateStreamName(name);
    let deadBytes = 0;
    const deletion = this.#registry.delete(name, async (meta) => {
      const streamer = await this.#streamers.find(name);
      if (streamer !== undefined) {
        // Appends already written are answered by the WAL's verdict (acked, or failed with their
        // outcome by a reset or close, which reach the streamer while it is still listed) before
        // the delete is written after them; later ones are refused, not applied.
        streamer.refuseNew(new StreamNotFoundError(name, { outcome: "not_applied" }));
        await streamer.whenAnswered();
        streamer.close(new StreamNotFoundError(name, { outcome: "not_applied" }));
      }
      if (streamer !== undefined) this.#streamers.forget(name, streamer);
      const state = streamer === undefined ? await loadStreamState(this.#engine, meta.id) : undefined;
      const records = streamer === undefined ? state!.tail.seqNum - state!.trimPoint : streamer.tail.seqNum - streamer.trimPoint;
      deadBytes = records * (streamer?.averageRecordBytes ?? RECORD_STORED_BYTES_GUESS);
    });
    const gate = deletion.then(
      () => undefined,
      () => undefined,
    );
    this.#deleting.set(name, gate);
    try {
      await deletion;
      this.#engine.noteDeadBytes(deadBytes);
    } finally {
      if (this.#deleting.get(name) === gate) this.#deleting.delete(name);
    }
  }

  /** Lists streams in name order (UTF-8 byte order), at most `limit` (default and maximum 1000). */
  async listStreams(options: { prefix?: string; startAfter?: string; limit?: number } = {}): Promise<StreamInfo[]> {
    this.#throwIfClosed();
    return this.#registry.list(validateListStreamsOptions(options));
  }

  /** A snapshot of the log's counters and gauges. Cheap: call it as often as a scraper wants. */
  metrics(): LogMetrics {
    return {
      appends: this.#appends,
      appendErrors: this.#appendErrors,
      appendLatency: this.#latency.snapshot(),
      inflightBytes: this.#semaphore.inUseBytes,
      inflightCapacityBytes: this.#semaphore.capacityBytes,
      backpressureWaits: this.#semaphore.waits,
      openStreams: this.#streamers.size,
      streamEvictions: this.#streamers.evictions,
      engine: this.#engine.metrics(),
    };
  }

  /** Whether the log is usable: ok, recovering from a store failure, or closed (and why). */
  health(): LogHealth {
    const state = this.#closed ? "closed" : this.#engine.state;
    const health: LogHealth = {
      status: state === "open" ? "ok" : state,
      readOnly: this.#readOnly,
      durableSeq: this.#engine.durableSeq,
      writerEpoch: this.#engine.metrics().writerEpoch,
    };
    const reason = this.#engine.closeCause?.message ?? (state === "recovering" ? "the store is failing; the log is reopening" : undefined);
    if (state !== "open" && reason !== undefined) health.reason = reason;
    const closeReason = this.#engine.closeReason ?? (this.#closed ? "closed" : undefined);
    if (state === "closed" && closeReason !== undefined) health.closeReason = closeReason;
    return health;
  }

  /** Waits for pending appends, then closes every stream and the engine. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** `close()`, for `await using log = await openLog(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#notifyClosed();
    const error = new ClosedError("the log");
    // First refuse what is not yet written (it fails as not applied, truthfully), then let what
    // is written become durable and be acknowledged, then close.
    this.#semaphore.close(error);
    const streamers = await this.#streamers.all();
    for (const streamer of streamers) streamer.refuseNew(error);
    try {
      if (this.#engine.state === "open") await this.#engine.flush();
    } catch {
      // Pending appends already failed with the engine's error.
    }
    for (const streamer of streamers) streamer.close(error);
    this.#streamers.clear();
    this.#trackers.closeAll(error);
    await this.#engine.close();
    await this.#lease?.stop(true);
    await this.#ownedStore?.close?.();
    emitDiagnostic(this.#logger, { event: "closed", store: this.#storeDescription, reason: "closed" }, "durastream: the log closed");
  }

  #notifyClosed(): void {
    const listeners = [...this.#closeListeners];
    this.#closeListeners.clear();
    for (const listener of listeners) listener();
  }

  #throwIfReadOnly(operation: string): void {
    if (this.#readOnly) throw new ReadOnlyError(operation);
  }

  #throwIfClosed(): void {
    if (this.#closed) throw new ClosedError("the log");
    const engineError = this.#engine.closeError;
    if (engineError !== undefined) throw engineError;
  }

  async #loadStreamer(name: string): Promise<Streamer> {
    await this.#deleting.get(name);
    this.#throwIfClosed();
    const meta = await this.#registry.getMeta(name);
    // A streamer is loaded for a write: whatever asked for it was not applied.
    if (meta === undefined) throw new StreamNotFoundError(name, { outcome: "not_applied" });
    return Streamer.load(name, meta, {
      engine: this.#engine,
      clock: this.#clock,
      semaphore: this.#semaphore,
      onDurableTrim: (streamId, trimPoint, deadBytes) => {
        this.#registry.noteTrim(streamId, trimPoint);
        this.#engine.noteDeadBytes(deadBytes);
      },
      onPending: (s) => this.#pending.add(s),
      revive: (s) => this.#streamers.revive(s),
    });
  }

  #makeHost(): StreamHost {
    return {
      streamer: async (name) => {
        this.#throwIfClosed();
        this.#throwIfReadOnly(`appending to stream ${JSON.stringify(name)}`);
        await this.#deleting.get(name);
        const streamer = await this.#streamers.get(name);
        if (!streamer.closed) {
          await streamer.refresh();
          return streamer;
        }
        this.#streamers.forget(name, streamer);
        return this.#streamers.get(name);
      },
      readyStreamer: (name) => {
        if (this.#closed || this.#readOnly || this.#engine.closeError !== undefined || this.#deleting.has(name)) return undefined;
        const streamer = this.#streamers.loaded(name);
        return streamer !== undefined && streamer.ready ? streamer : undefined;
      },
      readContext: async (name): Promise<ReadContext> => ({ engine: this.#engine, clock: this.#clock, view: await this.host.view(name) }),
      view: async (name) => {
        this.#throwIfClosed();
        if (!this.#readOnly) return this.host.streamer(name);
        return this.#trackers.get(name);
      },
      semaphore: this.#semaphore,
      recordAppend: (latencyMs, ok) => {
        this.#appends++;
        if (!ok) this.#appendErrors++;
        this.#latency.record(latencyMs);
      },
      nowMs: () => this.#clock.elapsedMs(),
      close: () => this.close(),
      fail: (error) => this.#engine.fail(error),
      onClose: (listener) => {
        if (this.#closed || this.#engine.closeError !== undefined) {
          listener();
          return () => undefined;
        }
        this.#closeListeners.add(listener);
        return () => void this.#closeListeners.delete(listener);
      },
    };
  }
}

/**
 * The writer-lease check before a writer opens. A store that is failing right now (a retryable
 * error) skips the check rather than the open: the engine retries the store for
 * `storeRetryDeadlineMs`, and fencing protects the data if a writer is alive after all.
 */
async function checkNoActiveWriterUnlessFailing(store: ObjectStore, clock: Clock): Promise<void> {
  try {
    await checkNoActiveWriter(store, clock);
  } catch (error) {
    if (isDurastreamError(error) && error.code === "storage" && error.retryable) return;
    throw error;
  }
}

function pick<T extends object, K extends keyof T>(object: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (object[key] !== undefined) out[key] = object[key];
  return out;
}

/** Opens a log on a store (an ObjectStore or a URL). */
export function openLog(options: LogOptions): Promise<Log> {
  return Log.open(options);
}

/** Opens a log with one stream; closing the stream closes the log. */
export async function openStream(store: ObjectStore | string, name: string, options: Omit<LogOptions, "store"> & OpenStreamOptions = {}): Promise<Stream> {
  const { createIfMissing, config, ...logOptions } = options;
  const log = await Log.open({ ...logOptions, store });
  try {
    const stream = await log.openStream(name, { ...(createIfMissing === undefined ? {} : { createIfMissing }), ...(config === undefined ? {} : { config }) });
    return new Stream(log.host, name, true, stream.streamId);
  } catch (error) {
    await log.close();
    throw error;
  }
}

export type { StreamPosition };

/** Where compaction merges when `compactionThread` is not given (LogOptions.compactionThread). */
function defaultCompactionThread(store: ObjectStore): "worker" | "main" {
  return localRootOf(store) !== undefined || store instanceof S3Store ? "worker" : "main";
}
