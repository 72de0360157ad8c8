/**
 * The engine: a compact LSM tree on an ObjectStore, durable before ack, fenced, self-recovering.
 *
 *   write(ops) ──sync──> seq, WAL buffer (wal-writer.ts, segment-wal-writer.ts)
 *   group written (PUT sent, or frame written and its fdatasync dispatched) ──> its batches into
 *       the active memtable (memtable.ts; writer-epoch.ts keeps them meanwhile), overlapping the wait
 *   WAL PUT or fdatasync ok ──> durable watermark advances (durable-watermark.ts) ──> whenDurable resolves
 *   memtable full ──> frozen ──> L0 SST + manifest (memtable-flusher.ts)
 *   L0s pile up ──> sorted runs (compactor.ts) ──> old objects deleted (garbage-collector.ts)
 *
 * Reads (get, scan) see only entries with seq <= durableSeq, so nobody reads a write that a
 * crash could take back. Opening fences any previous writer (fence.ts) and replays its WAL.
 *
 * Failure: a store write that keeps failing past `storeRetryDeadlineMs` fails every pending
 * write with StorageError (outcome "unknown"); the engine drops what was not durable and
 * reopens from the store in the background (a new epoch), after which writes succeed again.
 * A write that finds a newer writer's fence closes the engine with FencedError.
 */
import {
  AbortedError,
  ClosedError,
  type CloseReason,
  FencedError,
  InternalError,
  PreconditionFailedError,
  ReadOnlyError,
  SstCompactedAwayError,
  StorageError,
  ValidationError,
  isDurastreamError,
  assert,
} from "../errors.js";
import { localRootOf, type ObjectStore } from "../store/object-store.js";
import { systemClock, type Clock } from "../util/clock.js";
import { systemRandom } from "../util/random.js";
import { BlockCache } from "./block-cache.js";
import { DurableWatermark } from "./durable-watermark.js";
import { isExpired, type KeyRange } from "./entry.js";
import { InstrumentedStore } from "./instrumented-store.js";
import { resolveEngineOptions, type EngineOptions, type ResolvedEngineOptions } from "./engine-options.js";
import { checkTransition, listedSstIds, type Manifest } from "./manifest-format.js";
import { ManifestConflictError, readLatestManifest, writeNextManifest, type StoredManifest } from "./manifest-store.js";
import { MemtableFlusher, type FlusherHost } from "./memtable-flusher.js";
import { Compactor, type CompactorHost } from "./compactor.js";
import { DeviceTurns } from "../store/device-turns.js";
import { GarbageCollector, type GcHost } from "./garbage-collector.js";
import { Version, type VersionSources } from "./version.js";
import { RetryingStore } from "./retrying-store.js";
import type { WalBatch, WriteOp } from "./wal-format.js";
import { WalWriter } from "./wal-writer.js";
import type { WalFlush } from "./wal.js";
import { SegmentWalWriter } from "./segment-wal-writer.js";
import { SegmentTail } from "./segment-tail.js";
import { NodeWalDirectory, type WalDirectory } from "./wal-files.js";
import type { CutSource, SegmentWalPlace } from "./writer-epoch.js";
import path from "node:path";
import { WalFollower, type FollowerTarget } from "./wal-follower.js";
import { emptyManifest } from "./manifest-format.js";
import { WriterEpoch } from "./writer-epoch.js";
import { probeCreateOnly } from "./store-probe.js";
import { failpoint } from "../util/failpoints.js";
import { holdEventLoop } from "../util/keep-alive.js";
import { CLOSE_FLUSH_MIN_WAL_IDS, MAX_FROZEN_MEMTABLES, MAX_FRUITLESS_SCAN_RESTARTS, MAX_RESET_BACKOFF_DOUBLINGS } from "../limits.js";
import { EngineMetricsRecorder, type EngineMetrics } from "./engine-metrics.js";
import { SstBufferPool } from "./sst-buffer-pool.js";

export type { EngineOptions } from "./engine-options.js";
export type { EngineMetrics } from "./engine-metrics.js";
export type { WriteOp, WalBatch } from "./wal-format.js";
export type { CutSource } from "./writer-epoch.js";

export type EngineState = "open" | "recovering" | "closed";

export interface ScanOptions {
  reverse?: boolean;
  /** A long read of every block once, such as a stream's catch-up (Version `bulk`, SstScanOptions `bulk`). */
  bulk?: boolean;
}


export interface ScannedEntry {
  key: Uint8Array;
  value: Uint8Array;
  seq: number;
}

export class Engine {
  readonly options: ResolvedEngineOptions;
  readonly clock: Clock;
  readonly cache: BlockCache;
  /** The store as the engine uses it: retried, over an instrumented view of the user's store. */
  readonly store: ObjectStore;
  readonly #watermark: DurableWatermark;
  readonly #closeController: AbortController;
  readonly #recorder: EngineMetricsRecorder;
  readonly #resetListeners = new Set<(error: StorageError) => void>();
  readonly #recoveredListeners = new Set<() => void>();
  readonly #closedListeners = new Set<(error: Error) => void>();
  readonly #backgroundErrorListeners = new Set<(task: string, error: unknown) => void>();
  readonly #diskStallListeners = new Set<(durationMs: number) => void>();
  readonly #appliedListeners = new Set<(batches: WalBatch[]) => void>();
  #follower: WalFollower | undefined;
  #deadBytes = 0;
  #lastFollowError: unknown;
  readonly #capacityWaiters = new Set<() => void>();
  readonly flusher: MemtableFlusher;
  readonly compactor: Compactor;
  readonly gc: GarbageCollector;
  #epoch: WriterEpoch;
  /** Where the segment WAL lives, when the store is (or forwards) a LocalStore (also in objects mode: it is sealed and replayed). */
  readonly #segmentPlace: SegmentWalPlace | undefined;
  /** The L0 flusher's output buffer, kept between flushes on a LocalStore (sst-buffer-pool.ts). */
  readonly #sstBuffers: SstBufferPool | undefined;
  /** The same for compactions on this thread (compactionThread "main", or while the worker starts). */
  readonly #compactionBuffers: SstBufferPool | undefined;
  readonly #sstPutBuffers: CompactorHost["sstPutBuffers"];
  /** The user's store is a LocalStore or forwards one (what it does with buffers is known: CompactorHost.localStore). */
  readonly #localStore: boolean;
  /** With the segment WAL: where its group commits, its segments' zeros and the LocalStore's direct writes (SSTs) take turns on the disk. */
  readonly #deviceTurns: DeviceTurns | undefined;
  #state: EngineState = "open";
  /** What calls after the close get; `#closeCause` is what closed it, and `#closeReason` why. */
  #closeError: Error | undefined;
  #closeCause: Error | undefined;
  #closeReason: CloseReason | undefined;
  #closing: Promise<void> | undefined;
  #closeRequested = false;
  /** When the last recovery finished, and how many recoveries in a row failed again soon after. */
  #lastRecoveredMs = Number.NEGATIVE_INFINITY;
  #quickResets = 0;
  readonly version: Version;

  private constructor(parts: {
    options: ResolvedEngineOptions;
    clock: Clock;
    epoch: WriterEpoch;
    instrumented: InstrumentedStore;
    store: RetryingStore;
    closeController: AbortController;
    segmentPlace?: SegmentWalPlace | undefined;
  }) {
    const { options, clock, epoch, instrumented, store } = parts;
    this.#segmentPlace = parts.segmentPlace;
    // Only a LocalStore is known to be done with a put's body once the put returned (a store of
    // the caller's may keep it: MemoryStore keeps the bytes the engine hands over); a wrapper
    // that forwards its LocalStore promises the same (ObjectStore.localStore). Puts still go
    // through the user's store; only the calls below go to the LocalStore itself.
    const local = instrumented.inner.localStore;
    this.#localStore = local !== undefined;
    this.#deviceTurns = parts.segmentPlace?.turns;
    if (this.#deviceTurns !== undefined) local?.shareDiskWith(this.#deviceTurns);
    // On a LocalStore, SST buffers that it writes around the page cache (store/direct-write.ts).
    this.#sstPutBuffers = local === undefined ? undefined : { allocate: (sizeBytes) => local.allocatePutBuffer(sizeBytes), adopt: (bytes) => local.adoptPutBuffer(bytes) };
    const allocate = this.#sstPutBuffers?.allocate;
    this.#sstBuffers = local !== undefined && !options.readOnly ? new SstBufferPool(clock, allocate) : undefined;
    this.#compactionBuffers = local !== undefined && !options.readOnly ? new SstBufferPool(clock, allocate) : undefined;
    this.#closeController = parts.closeController;
    this.options = options;
    this.clock = clock;
    this.store = store;
    this.cache = new BlockCache({ maxBytes: options.blockCacheBytes });
    this.#recorder = new EngineMetricsRecorder(instrumented.counts);
    this.#epoch = epoch;
    this.#watermark = new DurableWatermark(epoch.lastSeq);
    this.version = new Version(this.store, this.cache, this.#sourcesOf(epoch), options.readOnly ? (newest) => this.#afterMissingSst(newest) : undefined);
    // One object serves the three background tasks; each sees it through its own narrow type.
    const host = this.#backgroundHost();
    this.gc = new GarbageCollector(host, options);
    this.compactor = new Compactor(host, this.gc);
    this.flusher = new MemtableFlusher(host, { compactor: this.compactor, gc: this.gc });
  }

  /**
   * What the background tasks see of the engine: the garbage collector its GcHost, the memtable
   * flusher its FlusherHost, the compactor its CompactorHost. The options and clock, the store,
   * the read view, the recorder, the current epoch, the manifest updater, the dead-byte count,
   * the capacity wake-up, the failure route and the background-error report.
   */
  #backgroundHost(): GcHost & CompactorHost & FlusherHost {
    const engine = this;
    return {
      options: this.options,
      clock: this.clock,
      store: this.store,
      version: this.version,
      recorder: this.#recorder,
      segmentDirectory: this.#segmentPlace?.dir,
      sstBuffers: this.#sstBuffers,
      deviceTurns: this.#deviceTurns,
      localStore: this.#localStore,
      compactionBuffers: this.#compactionBuffers,
      sstPutBuffers: this.#sstPutBuffers,
      get epoch() {
        return engine.epoch;
      },
      get closing() {
        return engine.#isClosing;
      },
      get deadBytes() {
        return engine.#deadBytes;
      },
      clearDeadBytes: () => {
        this.#deadBytes = 0;
      },
      whenDurable: (seq) => this.#watermark.whenDurable(seq),
      notifyCapacity: () => this.#notifyCapacity(),
      updateManifest: (epoch, mutate) => this.updateManifest(epoch, mutate),
      refreshVersion: (epoch) => this.#refreshVersion(epoch),
      reportFailure: (epoch, error) => this.#reportFailure(epoch, error),
      reportBackgroundError: (task, error) => {
        for (const listener of this.#backgroundErrorListeners) listener(task, error);
      },
    };
  }

  /** Opens the engine on `store`: recovers its state and fences any previous writer. */
  static async open(userStore: ObjectStore, options: EngineOptions = {}): Promise<Engine> {
    const resolved = resolveEngineOptions(options);
    const clock = options.clock ?? systemClock;
    const instrumented = new InstrumentedStore(userStore);
    const closeController = new AbortController();
    const store = new RetryingStore(instrumented, clock, resolved.retry, closeController.signal);
    // The caller's signal ends the open's retries (through the close signal); the engine never opens after it fired.
    const abortOpen = () => closeController.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", abortOpen, { once: true });
    try {
      if (options.signal?.aborted === true) throw new AbortedError("openLog", "not_applied", { cause: options.signal.reason });
      const engine = resolved.readOnly
        ? await Engine.#openReadOnly({ resolved, clock, instrumented, store, closeController, segmentDir: segmentPlaceOf(userStore, { ...resolved, walMode: "objects" }, options, clock)?.dir })
        : await Engine.#openWriter({ resolved, clock, instrumented, store, closeController, segmentPlace: segmentPlaceOf(userStore, resolved, options, clock) });
      if (isAborted(options.signal)) {
        await engine.close().catch(() => undefined);
        throw new AbortedError("openLog", "unknown", { cause: options.signal?.reason });
      }
      return engine;
    } catch (error) {
      if (isAborted(options.signal) && !(error instanceof AbortedError)) {
        throw new AbortedError("openLog", "unknown", { cause: error });
      }
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", abortOpen);
    }
  }

  static async #openWriter(parts: {
    resolved: ResolvedEngineOptions;
    clock: Clock;
    instrumented: InstrumentedStore;
    store: RetryingStore;
    closeController: AbortController;
    segmentPlace: SegmentWalPlace | undefined;
  }): Promise<Engine> {
    if (parts.resolved.checkCreateOnly) await probeCreateOnly(parts.store, parts.clock, systemRandom);
    const { epoch } = await WriterEpoch.claim(parts.store, parts.resolved.l0SstBytes, parts.segmentPlace);
    const engine = new Engine({ ...parts, options: parts.resolved, epoch });
    engine.#startEpoch(epoch);
    return engine;
  }

  /** Read-only: adopt the newest manifest and follow the WAL; never writes, never fences. */
  static async #openReadOnly(parts: {
    resolved: ResolvedEngineOptions;
    clock: Clock;
    instrumented: InstrumentedStore;
    store: RetryingStore;
    closeController: AbortController;
    segmentDir: WalDirectory | undefined;
  }): Promise<Engine> {
    const latest = (await readLatestManifest(parts.store)) ?? { id: 0, manifest: emptyManifest() };
    const epoch = WriterEpoch.observe(latest);
    const engine = new Engine({ options: parts.resolved, clock: parts.clock, epoch, instrumented: parts.instrumented, store: parts.store, closeController: parts.closeController });
    const segmentDir = parts.segmentDir;
    const follower = new WalFollower(
      parts.store,
      parts.clock,
      parts.resolved.pollIntervalMs,
      engine.#followerTarget(),
      (error) => {
        engine.#recorder.followErrors++;
        engine.#lastFollowError = error;
      },
      segmentDir === undefined ? undefined : new SegmentTail(segmentDir),
    );
    engine.#follower = follower;
    const unwatch = segmentDir?.watch?.(() => follower.wake());
    if (unwatch !== undefined) engine.onClosed(unwatch);
    await follower.start();
    return engine;
  }

  #followerTarget(): FollowerTarget {
    const engine = this;
    return {
      get lastSeq() {
        return engine.#epoch.lastSeq;
      },
      get manifest() {
        return engine.#epoch.manifest;
      },
      get wantsNewerManifest() {
        return engine.#epoch.frozen.length > 0;
      },
      applyBatches: (batches) => {
        const epoch = this.#epoch;
        for (const batch of batches) {
          epoch.applyBatch(batch.seq, batch.ops);
          if (epoch.active.sizeBytes >= this.options.l0SstBytes) epoch.freezeActive();
        }
        this.version.update(this.#sourcesOf(epoch));
        this.#watermark.advance(epoch.lastSeq);
        for (const listener of this.#appliedListeners) this.#guarded(() => listener(batches));
      },
      adoptManifest: (stored) => {
        const epoch = this.#epoch;
        epoch.adoptManifest(stored);
        this.version.update(this.#sourcesOf(epoch));
        this.#recorder.manifestsAdopted++;
        if (epoch.lastSeq > this.#watermark.seq) this.#watermark.advance(epoch.lastSeq);
        // Batches that reached us only through the manifest's SSTs were never applied one by one.
        for (const listener of this.#appliedListeners) this.#guarded(() => listener([]));
      },
    };
  }

  /**
   * Read-only: looks for new WAL objects and manifests now instead of at the next poll.
   * Resolves when that poll finished.
   */
  async refresh(): Promise<void> {
    this.#throwIfClosed();
    await this.#follower?.pollOnce();
  }

  /** Read-only: a read found an SST gone that `newest` (the store's newest manifest) no longer lists: adopt it before the read retries. */
  async #afterMissingSst(newest: StoredManifest | undefined): Promise<void> {
    this.#throwIfClosed();
    if (newest === undefined || this.#follower === undefined) return this.refresh();
    await this.#follower.adoptAtNextPoll(newest);
  }

  /**
   * Read-only: called with the batches each poll applied (the stream layer routes them to
   * followers), and with an empty list after adopting a newer manifest, whose data may include
   * batches that never arrived one by one: listeners should then reload what they track.
   */
  onApplied(listener: (batches: WalBatch[]) => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  /** Read-only: the last error a poll hit (the next poll tries again), if any. */
  get lastFollowError(): unknown {
    return this.#lastFollowError;
  }

  // ---------------------------------------------------------------------------------------------
  // Writes
  // ---------------------------------------------------------------------------------------------

  /**
   * Writes one batch atomically and returns its engine sequence number. Synchronous: the batch
   * is in the WAL buffer when this returns, in the memtable once its group is being written, and durable once
   * `whenDurable(seq)` resolves. The engine keeps references to the keys and values.
   */
  write(ops: readonly WriteOp[]): number {
    const epoch = this.#writableEpoch();
    if (ops.length === 0) throw new ValidationError("a write batch needs at least one operation");
    for (const op of ops) {
      if (!(op.key instanceof Uint8Array) || op.key.length === 0) throw new ValidationError("engine keys must be non-empty Uint8Arrays");
    }
    return this.#writeTo(epoch, ops);
  }

  #writeTo(epoch: WriterEpoch, ops: readonly WriteOp[]): number {
    const seq = epoch.lastSeq + 1;
    const encoded = epoch.wal.encodeBatch(seq, ops);
    try {
      epoch.deferBatch(seq, ops); // into the memtable while its group is written (#whileWalWriting)
      failpoint("engine.write");
      epoch.wal.append(seq, encoded);
    } catch (error) {
      // The batch may be half in the memtable: the engine cannot go on (see `fail`).
      this.fail(error);
      throw this.#closeCause;
    }
    // A full memtable is frozen once its group is written (#whileWalWriting), not here: it then
    // ends where a WAL object ends, so its L0 frees whole objects. Freezing sooner would gain
    // nothing, as no memtable reaches L0 before its WAL object is durable; memory stays bounded
    // by maxUnflushedBytes (backpressure) either way.
    return seq;
  }

  #freeze(epoch: WriterEpoch): void {
    epoch.freezeActive();
    this.version.update(this.#sourcesOf(epoch));
    this.flusher.kick();
  }

  /**
   * Asks `source` for ops to write at the next WAL cut: just before the WAL writer turns its
   * buffer into an object, the engine writes what the sources return as one more batch, the
   * last in that object. For bookkeeping of which only the latest value matters (a stream's
   * tail): it is written once per WAL object instead of once per write, and it is always in the
   * same object as every write before it, so whatever replays or reads a durable prefix of the
   * WAL sees it consistent with them. Calling this again before the cut changes nothing.
   * Why: docs/decisions/0004-tail-at-wal-cut.md.
   */
  writeAtNextCut(source: CutSource): void {
    this.#writableEpoch().cutSources.add(source);
  }

  get durableSeq(): number {
    return this.#watermark.seq;
  }

  /** The last seq handed out (durable or not). */
  get lastSeq(): number {
    return this.#epoch.lastSeq;
  }

  get state(): EngineState {
    return this.#state;
  }

  /** What the engine's calls fail with once it closed (undefined while open). */
  get closeError(): Error | undefined {
    return this.#closeError;
  }

  /** Why the engine closed: a clean close, a newer writer, or a failure (undefined while open). */
  get closeReason(): CloseReason | undefined {
    return this.#closeReason;
  }

  /** The error that closed the engine: the fence, the failure, or a ClosedError for a clean close. */
  get closeCause(): Error | undefined {
    return this.#closeCause;
  }

  /**
   * The one route for a broken invariant anywhere in the log (a failed assertion, a bug): the
   * engine closes with reason "failed". Every pending write fails with `cause` (outcome
   * unknown: what was written may be durable), every later call with a ClosedError whose cause
   * it is, and nothing is acknowledged after it.
   */
  fail(cause: unknown): void {
    if (this.#state === "closed") return;
    const error = isDurastreamError(cause) ? cause : new InternalError(cause instanceof Error ? cause.message : String(cause), { cause });
    this.#shutDown(error, "failed");
  }

  /** Runs a callback of the log's own (a listener): if it throws, the engine fails. */
  #guarded(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.fail(error);
    }
  }

  whenDurable(seq: number): Promise<void> {
    return this.#watermark.whenDurable(seq);
  }

  onDurable(listener: (durableSeq: number) => void): () => void {
    return this.#watermark.onAdvance((durableSeq) => this.#guarded(() => listener(durableSeq)));
  }

  /** Called when pending writes failed and the engine started to reopen. */
  onReset(listener: (error: StorageError) => void): () => void {
    this.#resetListeners.add(listener);
    return () => this.#resetListeners.delete(listener);
  }

  /** Called when the engine reopened after a reset; writes are accepted again. */
  onRecovered(listener: () => void): () => void {
    this.#recoveredListeners.add(listener);
    return () => this.#recoveredListeners.delete(listener);
  }

  /** Called when a background task failed in a way that needs no reset (a garbage-collection pass; the next one retries). */
  onBackgroundError(listener: (task: string, error: unknown) => void): () => void {
    this.#backgroundErrorListeners.add(listener);
    return () => this.#backgroundErrorListeners.delete(listener);
  }

  /** Called when a group commit's fdatasync on the log's thread stalled (walDatasync "inline"), with how long it took. */
  onDiskStall(listener: (durationMs: number) => void): () => void {
    this.#diskStallListeners.add(listener);
    return () => this.#diskStallListeners.delete(listener);
  }

  /** Called once when the engine closes: `error` says why (ClosedError, FencedError, ...). */
  onClosed(listener: (error: Error) => void): () => void {
    this.#closedListeners.add(listener);
    return () => this.#closedListeners.delete(listener);
  }

  /**
   * Tells compaction that about `bytes` of stored data became dead (trimmed, deleted). Once the
   * dead bytes reach a quarter of the sorted runs' size, all runs merge bottom-most, which drops
   * them for good; size-tiering alone may leave them in the oldest run indefinitely.
   */
  noteDeadBytes(bytes: number): void {
    if (!(bytes > 0)) return;
    this.#deadBytes += bytes;
    this.compactor.kick();
  }

  /** Dead bytes reported since the last bottom-most merge of every run. */
  get deadBytes(): number {
    return this.#deadBytes;
  }

  /** Bytes written but not yet in an SST (WAL buffer plus memtables). */
  get unflushedBytes(): number {
    return this.#epoch.unflushedBytes;
  }

  /**
   * True while writers must wait (backpressure): the unflushed bytes reached `maxUnflushedBytes`,
   * or MAX_FROZEN_MEMTABLES memtables wait for their L0 flush.
   */
  get full(): boolean {
    const epoch = this.#epoch;
    return epoch.frozen.length >= MAX_FROZEN_MEMTABLES || epoch.unflushedBytes >= this.options.maxUnflushedBytes;
  }

  /** Resolves when the engine is no longer `full` (backpressure for writers). */
  async whenWritable(): Promise<void> {
    while (this.full) {
      this.#throwIfClosed();
      this.#recorder.backpressureWaits++;
      await new Promise<void>((resolve) => this.#capacityWaiters.add(resolve));
    }
    this.#throwIfClosed();
  }

  /** Resolves when every write made so far is durable. */
  async flush(): Promise<void> {
    this.#throwIfClosed();
    await this.#watermark.whenDurable(this.#epoch.lastSeq);
  }

  /** Makes every write so far durable and moves it from memtables into L0 SSTs. */
  async flushMemtables(): Promise<void> {
    const epoch = this.#writableEpoch();
    // A write reaches the memtable while its WAL group is written (WriterEpoch.deferBatch): the
    // writes made so far are all in it once they are durable, not before.
    await this.flush();
    if (epoch !== this.#epoch) throw new StorageError("the memtable flush did not complete: the store failed meanwhile", { outcome: "unknown" });
    epoch.freezeActive();
    this.version.update(this.#sourcesOf(epoch));
    this.flusher.kick();
    await this.flusher.idle();
    this.#throwIfClosed();
    if (epoch !== this.#epoch || epoch.frozen.length > 0) {
      throw new StorageError("the memtable flush did not complete: the store failed meanwhile", { outcome: "unknown" });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reads
  // ---------------------------------------------------------------------------------------------

  /** The key's live, durable value (a point read: no merge of every source, see `Version.getNewest`). */
  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#throwIfClosed();
    for (let attempt = 1; ; attempt++) {
      let entry;
      try {
        entry = await this.version.getNewest(key, this.#watermark.seq);
      } catch (error) {
        // A read-only engine met an SST the writer compacted away and collected after this engine
        // read its manifest; it reloaded the manifest, so the same read again reads what replaced
        // it. Before, openStream in a reader failed now and then beside a busy writer.
        if (!(error instanceof SstCompactedAwayError) || attempt >= MAX_FRUITLESS_SCAN_RESTARTS) throw error;
        continue;
      }
      if (entry === undefined || entry.value === null || isExpired(entry, this.clock.nowMs())) return undefined;
      return entry.value;
    }
  }

  /**
   * Scans live, durable entries in `range` in key order (descending with `reverse`). Lazy: SST
   * blocks are fetched as the consumer advances. The scan reads a consistent view: the sources
   * and the durable seq at its start (objects it needs are kept until it ends).
   */
  scan(range: KeyRange, options: ScanOptions = {}): AsyncIterable<ScannedEntry> {
    const chunks = this.scanChunks(range, options);
    return (async function* () {
      for await (const chunk of chunks) yield* chunk;
    })();
  }

  /**
   * A durable key of `range` (of any version: a deleted or expired key counts) for which
   * `isBelow` holds, at most one SST block before the last such key: a seek that reads SST
   * indexes only, no data block (`Version.floorKey`). `isBelow` must be monotone over the range
   * (true for its first keys, false from some key on). The stream layer's read by timestamp.
   */
  floorKey(range: KeyRange, isBelow: (key: Uint8Array) => boolean): Promise<Uint8Array | undefined> {
    this.#throwIfClosed();
    return this.version.floorKey(range, isBelow, this.#watermark.seq);
  }

  /**
   * An identity that changes whenever the sources a new scan would read change (a memtable
   * frozen or flushed, an L0 or a compaction published). A long scan compares it with the one
   * it started on: a new scan would no longer hold the memtables flushed since.
   */
  get sourcesToken(): object {
    return this.version.sources;
  }

  /**
   * True when a memtable of the sources `token` (a `sourcesToken`) is no longer one of the
   * engine's: it was flushed to an L0 (or its epoch ended). A scan started on those sources
   * still holds it, memory that `maxUnflushedBytes` no longer counts.
   */
  memtableLeftSince(token: object): boolean {
    const now = this.version.sources;
    if (token === now) return false;
    return (token as VersionSources).memtables.some((memtable) => !now.memtables.includes(memtable));
  }

  /** `scan`, a chunk of entries at a time: the cheap way to read many. */
  scanChunks(range: KeyRange, options: ScanOptions = {}): AsyncIterable<ScannedEntry[]> {
    this.#throwIfClosed();
    return this.version.scanChunks(range, {
      reverse: options.reverse === true,
      bulk: options.bulk === true,
      snapshotSeq: this.#watermark.seq,
      nowMs: () => this.clock.nowMs(),
    }) as AsyncIterable<ScannedEntry[]>;
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle
  // ---------------------------------------------------------------------------------------------

  /** Flushes what is buffered, stops background work and closes. Pending writes that cannot be made durable fail. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      // A close in progress keeps the process alive, like an append in flight: its last manifest
      // write (and any flush) must not be cut short by an empty event loop.
      const release = holdEventLoop();
      this.#closing = this.#close().finally(release);
    }
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#state === "open") {
      try {
        await this.#watermark.whenDurable(this.#epoch.lastSeq);
      } catch {
        // The failure is already reported to the writers; closing goes on.
      }
    }
    // A long replay range (short-lived writers, each adding a fence and a few objects) goes into
    // an L0 now, so that opening stays as fast however many writers came before.
    if (this.#state === "open" && this.#epoch.flushedWals.length > CLOSE_FLUSH_MIN_WAL_IDS && this.#epoch.lastSeq > this.#epoch.manifest.manifest.lastL0Seq) {
      await this.flushMemtables().catch(() => undefined); // on failure the WAL still holds it all
    }
    // Background tasks stop at their next safe point: an L0 flush finishes the SST it is
    // publishing, a compaction abandons its run and deletes the outputs it had uploaded, so a
    // clean close leaves no orphan SSTs behind (issue 16).
    this.#closeRequested = true;
    if (this.#state === "open") await Promise.allSettled([this.flusher.idle(), this.compactor.idle()]);
    // The garbage-collection pass that started with this epoch finishes first: for a short-lived
    // writer it is the only one, and it collects what the writers before it left (WAL objects and
    // segments below the replay point, collectable fences, old manifests). What this writer
    // leaves, the next one collects.
    if (this.#state === "open" && !this.options.readOnly) await this.gc.idle();
    const wasOpenWriter = this.#state === "open" && !this.options.readOnly;
    this.#shutDown(new ClosedError("the engine"), "closed");
    await Promise.allSettled([this.flusher.idle(), this.compactor.idle(), this.gc.idle()]);
    // No file of the segment WAL is written once close resolves (the next segment's zeros stop).
    await this.#epoch.segments?.close().catch(() => undefined);
    await this.compactor.close(); // its worker thread, if any, is gone before close resolves
    if (wasOpenWriter) await this.#recordCleanClose(this.#epoch);
  }

  /**
   * The last manifest of a clean close says that this epoch wrote every WAL id below its next one
   * and will never write again, so the next writer's fence there stops nobody and can be
   * collected, and the segment WAL need not seal this epoch (fence.ts). Written only when no WAL
   * write is in flight (its outcome would make the next id uncertain); a failure leaves the fence
   * and seal to the next writer, as after a crash.
   */
  async #recordCleanClose(epoch: WriterEpoch): Promise<void> {
    await epoch.manifestQueue;
    if (epoch.wal.inFlight) return;
    const next: Manifest = { ...epoch.manifest.manifest, nextWalId: Math.max(epoch.manifest.manifest.nextWalId, epoch.wal.nextWalId) };
    withFenceBookkeeping(next, epoch);
    next.cleanCloseNextWalId = epoch.wal.nextWalId;
    // The store's retries ended with the close: one attempt.
    await writeNextManifest(this.store, epoch.manifest.id, next).catch(() => undefined);
  }

  /**
   * Closes for `reason`: pending writes fail with `error`, later calls with `error` too, except
   * after a failure, where they get a ClosedError (reason "failed", cause `error`).
   */
  #shutDown(error: Error, reason: CloseReason): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeReason = reason;
    this.#closeCause = error;
    this.#closeError = reason === "failed" ? new ClosedError("the log", "failed", { cause: error }) : error;
    this.#epoch.stopped = true;
    this.#epoch.wal?.stop();
    void this.#epoch.segments?.close().catch(() => undefined);
    this.#follower?.stop();
    void this.compactor.close(); // a compaction worker ends with the engine, however it closed
    this.#sstBuffers?.close();
    this.#compactionBuffers?.close();
    this.#closeController.abort(error);
    this.#watermark.fail(error);
    this.#notifyCapacity();
    for (const listener of this.#closedListeners) this.#guarded(() => listener(error)); // (already closed: a throw is dropped)
  }

  metrics(): EngineMetrics {
    return this.#recorder.snapshot({
      durableSeq: this.#watermark.seq,
      lastSeq: this.#epoch.lastSeq,
      unflushedBytes: this.#epoch.unflushedBytes,
      l0Count: this.#epoch.manifest.manifest.l0.length,
      sortedRunCount: this.#epoch.manifest.manifest.runs.length,
      frozenMemtables: this.#epoch.frozen.length,
      writerEpoch: this.#epoch.writerEpoch,
      cache: this.cache.stats(),
      state: this.#state,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The epoch and its manifest updater (the background tasks reach them through their hosts)
  // ---------------------------------------------------------------------------------------------

  /** True once close() was called: background tasks start no new work and abandon long work. */
  get #isClosing(): boolean {
    return this.#closeRequested || this.#state === "closed";
  }

  /** The current writer epoch, or undefined once closed. */
  get epoch(): WriterEpoch | undefined {
    return this.#state === "closed" ? undefined : this.#epoch;
  }

  /**
   * Commits a manifest change for `epoch`: `mutate` gets the epoch's latest manifest and returns
   * the next one. Changes run one after another. A conflict with a newer epoch is FencedError.
   * Public for the manifest chaos test (tests/chaos/manifest-ambiguity.test.ts), which queues two
   * changes behind each other; the flusher and the compactor reach it through their host.
   */
  updateManifest(epoch: WriterEpoch, mutate: (current: Manifest) => Manifest): Promise<StoredManifest> {
    const run = async (): Promise<StoredManifest> => {
      if (epoch.stopped) throw new ClosedError("this writer epoch");
      const current = epoch.manifest;
      const next = mutate(current.manifest);
      next.nextWalId = Math.max(next.nextWalId, epoch.wal.nextWalId);
      next.nextSstId = Math.max(next.nextSstId, epoch.nextSstId);
      withFenceBookkeeping(next, epoch);
      const problem = checkTransition(current.manifest, next);
      assert(problem === undefined, () => `manifest change breaks an invariant: ${problem}`);
      try {
        epoch.manifest = await writeNextManifest(this.store, current.id, next);
      } catch (error) {
        if (!(error instanceof ManifestConflictError)) {
          // The write may have landed (outcome unknown): this epoch no longer knows its newest
          // manifest, so it ends now, before a change queued behind this one writes the same id.
          this.#reportFailure(epoch, error);
          throw error;
        }
        const latest = await readLatestManifest(this.store);
        const epochNow = latest?.manifest.writerEpoch ?? 0;
        assert(epochNow > epoch.writerEpoch, () => `manifest ${error.id} conflicted within our own epoch ${epoch.writerEpoch}`);
        throw new FencedError(`manifest ${error.id} was written by epoch ${epochNow}`);
      }
      this.#recorder.manifestWrites++;
      return epoch.manifest;
    };
    const result = epoch.manifestQueue.then(run, run);
    epoch.manifestQueue = result.catch(() => undefined);
    return result;
  }

  /** Rebuilds the read view after the epoch's memtables or manifest changed. */
  #refreshVersion(epoch: WriterEpoch): void {
    if (epoch === this.#epoch && !epoch.stopped) this.version.update(this.#sourcesOf(epoch));
  }

  /** A background task of `epoch` failed: fenced closes the engine, anything else reopens it. */
  #reportFailure(epoch: WriterEpoch, error: unknown): void {
    if (error instanceof InternalError) return this.fail(error); // whatever the epoch: a bug
    if (epoch.stopped || epoch !== this.#epoch || this.#state !== "open") return;
    if (error instanceof FencedError || error instanceof PreconditionFailedError) {
      const fenced = error instanceof FencedError ? error : new FencedError("a WAL object id we were about to write is taken", { cause: error });
      this.#shutDown(fenced, "fenced");
      return;
    }
    if (isDurastreamError(error) && error.code === "corruption") return this.fail(error);
    void this.#recover(epoch, error);
  }

  /** Wakes the writers waiting for room under maxUnflushedBytes (after L0 flushes and WAL flushes free some). */
  #notifyCapacity(): void {
    const waiters = [...this.#capacityWaiters];
    this.#capacityWaiters.clear();
    for (const wake of waiters) wake();
  }

  #sourcesOf(epoch: WriterEpoch): VersionSources {
    return {
      memtables: [epoch.active, ...[...epoch.frozen].reverse().map((f) => f.memtable)],
      l0: epoch.manifest.manifest.l0,
      runs: epoch.manifest.manifest.runs,
    };
  }

  #startEpoch(epoch: WriterEpoch): void {
    assert(!this.options.readOnly, "a read-only engine has no writer epoch");
    const walHooks = {
      clock: this.clock,
      firstWalId: epoch.flushedWals[epoch.flushedWals.length - 1]!.walId + 1,
      beforeCut: () => this.#writeCutBatch(epoch),
      whileWriting: (maxSeq: number) => this.#whileWalWriting(epoch, maxSeq),
      onFlushed: (flush: WalFlush) => this.#onWalFlushed(epoch, flush),
      onFailed: (error: unknown) => this.#reportFailure(epoch, error),
    };
    epoch.wal =
      epoch.segments !== undefined
        ? new SegmentWalWriter({
            segments: epoch.segments,
            turns: this.#deviceTurns,
            inlineDatasync: this.options.walDatasync === "inline",
            onInlineStall: (durationMs) => this.#diskStallListeners.forEach((listener) => listener(durationMs)),
            ...walHooks,
          })
        : new WalWriter({ store: this.store, writerEpoch: epoch.writerEpoch, flushIntervalMs: this.options.flushIntervalMs, ...walHooks });
    this.#epoch = epoch;
    this.version.update(this.#sourcesOf(epoch));
    if (epoch.frozen.length > 0) this.flusher.kick();
    this.compactor.kick();
    this.gc.kick();
  }

  /** At a WAL cut: the batch of everything `writeAtNextCut` asked for (see there). */
  #writeCutBatch(epoch: WriterEpoch): void {
    if (epoch !== this.#epoch || epoch.stopped) return;
    if (epoch.cutSources.size > 0) {
      const ops: WriteOp[] = [];
      for (const source of epoch.cutSources) for (const op of source.opsAtCut()) ops.push(op);
      epoch.cutSources.clear();
      if (ops.length > 0) this.#writeTo(epoch, ops);
    }
  }

  /** While a WAL group is written: its batches go into the memtable, then a full memtable is frozen. */
  #whileWalWriting(epoch: WriterEpoch, maxSeq: number): void {
    if (epoch !== this.#epoch || epoch.stopped) return;
    const { l0SstBytes, sstBlockBytes } = this.options;
    epoch.applyDeferredThrough(maxSeq, { fullBytes: l0SstBytes, freeze: () => this.#freeze(epoch) });
    const { active } = epoch;
    if (active.sizeBytes >= l0SstBytes) this.#freeze(epoch);
    else if (this.#sstBuffers !== undefined && active.sizeBytes >= l0SstBytes / 2) {
      // The L0's buffer, ready by the time the memtable is full (sst-buffer-pool.ts prepare): the bound scaled to a full memtable.
      this.#sstBuffers.prepare(Math.ceil((active.sstSizeBound(sstBlockBytes) * l0SstBytes) / active.sizeBytes));
    }
  }

  #onWalFlushed(epoch: WriterEpoch, flush: WalFlush): void {
    if (epoch !== this.#epoch || epoch.stopped) return;
    const pending = epoch.firstDeferredSeq;
    assert(pending === undefined || pending > flush.maxSeq, () => `WAL group through seq ${flush.maxSeq} durable before its batch ${pending} reached the memtable`);
    epoch.flushedWals.push({ walId: flush.walId, maxSeq: flush.maxSeq });
    this.#recorder.recordWalFlush(flush);
    this.#watermark.advance(flush.maxSeq);
    this.#notifyCapacity();
  }

  #writableEpoch(): WriterEpoch {
    this.#throwIfClosed();
    if (this.options.readOnly) throw new ReadOnlyError("write");
    if (this.#state === "recovering") {
      throw new StorageError("the store failed and the log is reopening; retry the write shortly", {
        retryable: true,
        outcome: "not_applied",
      });
    }
    return this.#epoch;
  }

  #throwIfClosed(): void {
    if (this.#state === "closed") throw this.#closeError ?? new ClosedError("the engine");
  }

  async #recover(failed: WriterEpoch, cause: unknown): Promise<void> {
    this.#state = "recovering";
    failed.stopped = true;
    failed.wal.stop();
    void failed.segments?.close().catch(() => undefined);
    const error = new StorageError(
      `a store write failed for longer than storeRetryDeadlineMs (${this.options.retry.deadlineMs} ms); ` +
        `pending writes may or may not be durable: read back to check before retrying`,
      { cause, outcome: "unknown", retryable: true },
    );
    this.#recorder.resets++;
    this.#watermark.failPending(error);
    for (const listener of this.#resetListeners) this.#guarded(() => listener(error));
    let backoffMs = this.options.retry.initialBackoffMs;
    // An epoch that fails soon after the last recovery (a flush that keeps failing) waits before
    // the next claim, longer each time: reopening must not become a loop that never yields
    // (on a store that answers in microtasks it would starve timers and I/O; issue 16).
    const { maxBackoffMs } = this.options.retry;
    const sinceRecoveredMs = this.clock.elapsedMs() - this.#lastRecoveredMs;
    this.#quickResets = sinceRecoveredMs < maxBackoffMs ? this.#quickResets + 1 : 0;
    if (this.#quickResets > 0) {
      const waitMs = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(this.#quickResets, MAX_RESET_BACKOFF_DOUBLINGS));
      await this.clock.sleep(waitMs, this.#closeController.signal).catch(() => undefined);
    }
    while (this.#state === "recovering") {
      try {
        const { epoch } = await WriterEpoch.claim(this.store, this.options.l0SstBytes, this.#segmentPlace);
        if (this.#state !== "recovering") {
          void epoch.segments?.close().catch(() => undefined);
          return;
        }
        this.#startEpoch(epoch);
        this.#state = "open";
        this.#lastRecoveredMs = this.clock.elapsedMs();
        this.#watermark.advance(epoch.lastSeq);
        for (const listener of this.#recoveredListeners) this.#guarded(() => listener());
        return;
      } catch (reopenError) {
        if (reopenError instanceof FencedError) return this.#shutDown(reopenError, "fenced");
        if (this.#state !== "recovering") return;
        await this.clock.sleep(backoffMs, this.#closeController.signal).catch(() => undefined);
        backoffMs = Math.min(backoffMs * 2, this.options.retry.maxBackoffMs);
      }
    }
  }
}

/** Whether `signal` has fired (a function, so that TypeScript does not narrow `aborted` across awaits). */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Reserved directory of the segment WAL under a LocalStore's root (LocalStore never lists it). */
export const SEGMENT_WAL_DIR = ".durastream-wal";

/** The segment WAL's place: on a LocalStore always (to seal and replay it), written in "segments" mode. */
function segmentPlaceOf(userStore: ObjectStore, resolved: ResolvedEngineOptions, options: EngineOptions, clock: Clock): SegmentWalPlace | undefined {
  const write = resolved.walMode === "segments";
  const root = localRootOf(userStore);
  const dir = options.walDirectory ?? (root === undefined ? undefined : new NodeWalDirectory(path.join(root, SEGMENT_WAL_DIR)));
  if (dir === undefined) {
    if (write) throw new ValidationError(`walMode "segments" needs a LocalStore (file:// store); ${userStore.description ?? "this store"} takes walMode "objects"`);
    return undefined;
  }
  return write ? { dir, write, segmentBytes: resolved.walSegmentBytes, turns: new DeviceTurns(clock) } : { dir, write, segmentBytes: resolved.walSegmentBytes };
}

/** Every manifest a writer epoch writes carries its collectable fences, cleanly closed epochs (fence.ts) and garbage SSTs, and no clean-close mark. */
function withFenceBookkeeping(next: Manifest, epoch: WriterEpoch): void {
  if (epoch.collectableFenceIds.length > 0) next.collectableFenceIds = [...epoch.collectableFenceIds];
  else delete next.collectableFenceIds;
  if (epoch.cleanlyClosedEpochs.length > 0) next.cleanlyClosedEpochs = [...epoch.cleanlyClosedEpochs];
  else delete next.cleanlyClosedEpochs;
  const listed = epoch.garbageSsts.size > 0 ? listedSstIds(next) : undefined;
  const garbage = [...epoch.garbageSsts].filter(([id]) => !listed!.has(id)); // (one listed again is not garbage: the collector drops it)
  if (garbage.length > 0) next.garbageSsts = garbage.sort((a, b) => a[0] - b[0]);
  else delete next.garbageSsts;
  delete next.cleanCloseNextWalId;
}
