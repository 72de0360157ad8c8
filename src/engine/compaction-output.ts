/**
 * Writing SSTs and publishing them in the manifest: what the memtable flusher and the compactor
 * share, written once.
 *
 *   entries (key order, newest version first) ──> SstOutputWriter ──> create-only PUTs (sst-ids.ts)
 *   outputs ──> publishOutputs: one manifest change, then the read view is rebuilt
 *
 * Both tasks run on the one JS thread that also delivers acks, so the writer paces itself with a
 * CpuSlicer (background-task.ts). Invariant: an SST reaches the manifest only after its PUT
 * resolved, and the read view changes only after the manifest that lists it is committed.
 */
import { assert } from "../errors.js";
import { compareKeys, isExpired, type Entry } from "./entry.js";
import { CpuSlicer } from "./background-task.js";
import type { ResolvedEngineOptions } from "./engine-options.js";
import type { Manifest, SstHandle } from "./manifest-format.js";
import type { StoredManifest } from "./manifest-store.js";
import type { ObjectStore } from "../store/object-store.js";
import { putNewSst, type SstIdSource } from "./sst-ids.js";
import { sstKey } from "./paths.js";
import { SstBuilder } from "./sst-format.js";
import type { WriterEpoch } from "./writer-epoch.js";
import { failpoint, type FailpointName } from "../util/failpoints.js";

/** What publishing SSTs needs of the engine: the store, the manifest updater and the read view. */
export interface SstPublishHost {
  readonly store: ObjectStore;
  /** Commits `mutate(latest)` as the epoch's next manifest (changes run one after another). */
  updateManifest(epoch: WriterEpoch, mutate: (current: Manifest) => Manifest): Promise<StoredManifest>;
  /** Rebuilds the read view from the epoch's memtables and manifest. */
  refreshVersion(epoch: WriterEpoch): void;
}

/** The options that decide what a flush or compaction keeps of an entry. */
export type EntryFilterOptions = Pick<ResolvedEngineOptions, "compactionFilter" | "isWriteOnceKey">;

/**
 * What a flush or compaction keeps of the newest version of a key. An expired or filtered
 * version becomes a tombstone at the same seq, so that no older version reappears; a key the
 * caller declared write-once (`isWriteOnceKey`) has no older version, so it is dropped outright.
 * Returns undefined to drop.
 */
export function dropIfDead(entry: Entry, nowMs: number, options: EntryFilterOptions): Entry | undefined {
  if (entry.value === null) return entry;
  const filter = options.compactionFilter;
  if (!isExpired(entry, nowMs) && (filter === undefined || filter(entry.key, entry.value))) return entry;
  if (options.isWriteOnceKey?.(entry.key) === true) return undefined;
  return { key: entry.key, seq: entry.seq, value: null, expireAtMs: 0 };
}

export interface SstOutputOptions {
  blockBytes: number;
  filter: EntryFilterOptions;
  /** Wall-clock time that decides expiry, read once per flush or compaction. */
  nowMs: number;
  /** Monotonic clock for the CPU slicer. */
  elapsedMs: () => number;
  /** Bottom-most output: tombstones are dropped (nothing older can hide below). */
  dropTombstones: boolean;
  /** The buffer of the next output, given its first entry and the bytes written so far. */
  capacityFor: (first: Entry, writtenBytes: number) => number;
  /**
   * Start a new output when an entry would outgrow the buffer (a compaction), or keep one output
   * that grows past it if it must (an L0 flush: one memtable is one L0 SST).
   */
  split: boolean;
  /** The largest share of a busy event loop the work may take (CpuSlicer); default 1. */
  busyShare?: () => number;
  /** How long the work may hold the loop before it yields (CpuSlicer); default CPU_SLICE_MS. */
  sliceMs?: number;
  /** When a slice may start after a yield (CpuSlicer `turn`); default: at once. */
  turn?: () => Promise<void> | undefined;
  /** Hit once per entry (tests inject failures there). */
  failpointName?: FailpointName;
  /**
   * Stores one finished output and returns its handle (default: `putNewSst` under the epoch's next
   * id). A compaction worker passes one that hands the bytes to the main thread, which PUTs them.
   */
  put?: SstPut;
  /**
   * Where output buffers come from, and go back to once an output's PUT resolved (on a store that
   * is done with a body when its put returns). Default: a fresh buffer per output.
   */
  buffers?: SstOutputBuffers;
}

/**
 * Output buffers kept for reuse: the L0 flusher's SstBufferPool, a compaction worker's buffers
 * that the main thread hands back after their PUT. Outputs are built one at a time.
 */
export interface SstOutputBuffers {
  /** A buffer of at least `minBytes` for the next output. */
  take(minBytes: number): Uint8Array;
  /** The output built in `buffer` is stored: nothing reads it any more. */
  give(buffer: Uint8Array): void;
  /** The output built in the buffer last taken was given up: its PUT may still read it. */
  forget(): void;
}

/** Stores a finished SST (`bytes` are handed over) and returns its handle. */
export type SstPut = (bytes: Uint8Array, info: SstHandle["info"]) => Promise<SstHandle>;

/**
 * Builds output SSTs from entries given in key order (for a key, newest version first: older
 * versions are skipped) and PUTs each one as soon as it is full. Each output is built in one
 * buffer sized before its first entry (`capacityFor`) and, with `split`, finished before an
 * entry would outgrow it, so it is PUT without a copy. `add` returns a promise only when the caller must
 * wait (a PUT, or a turn of the event loop), so that a synchronous source stays synchronous.
 */
export class SstOutputWriter {
  readonly outputs: SstHandle[] = [];
  #writtenBytes = 0;
  #builder: SstBuilder | undefined;
  #previousKey: Uint8Array | undefined;
  readonly #slicer: CpuSlicer;
  /** The buffer the current output is built in, when it came from `options.buffers`. */
  #pooled: Uint8Array | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly epoch: SstIdSource,
    private readonly options: SstOutputOptions,
  ) {
    this.#slicer = new CpuSlicer(options.elapsedMs, {
      ...(options.busyShare === undefined ? {} : { busyShare: options.busyShare }),
      ...(options.sliceMs === undefined ? {} : { sliceMs: options.sliceMs }),
      ...(options.turn === undefined ? {} : { turn: options.turn }),
    });
  }

  add(entry: Entry): Promise<void> | undefined {
    const due = this.#slicer.due();
    if (due !== undefined) return due.then(() => this.#addNow(entry));
    return this.#addNow(entry);
  }

  /** PUTs the last output, if any, and returns every output in key order. */
  async finish(): Promise<SstHandle[]> {
    const builder = this.#builder;
    this.#builder = undefined;
    if (builder !== undefined && builder.entryCount > 0) await this.#put(builder);
    this.abandon(); // an output that was started but got no entry
    return this.outputs;
  }

  /** After a failure: the pooled buffer, if one is out, is not given back (a PUT may still read it). */
  abandon(): void {
    if (this.#pooled === undefined) return;
    this.#pooled = undefined;
    this.options.buffers?.forget();
  }

  #addNow(entry: Entry): Promise<void> | undefined {
    const { options } = this;
    if (options.failpointName !== undefined) failpoint(options.failpointName);
    if (this.#previousKey !== undefined && compareKeys(this.#previousKey, entry.key) === 0) return undefined; // an older version
    this.#previousKey = entry.key;
    const kept = dropIfDead(entry, options.nowMs, options.filter);
    if (kept === undefined || (kept.value === null && options.dropTombstones)) return undefined;
    const builder = this.#builder;
    if (builder !== undefined && options.split && builder.sizeBoundWith(kept) > builder.capacityBytes) {
      this.#builder = undefined;
      return this.#put(builder).then(() => this.#start(kept));
    }
    if (builder === undefined) this.#start(kept);
    else builder.add(kept);
    return undefined;
  }

  #start(first: Entry): void {
    const { blockBytes, buffers } = this.options;
    const capacityBytes = this.options.capacityFor(first, this.#writtenBytes);
    assert(this.#pooled === undefined, "reused output buffers serve one output at a time");
    this.#pooled = buffers?.take(capacityBytes);
    this.#builder = new SstBuilder(this.#pooled === undefined ? { blockBytes, capacityBytes } : { blockBytes, capacityBytes, buffer: this.#pooled });
    this.#builder.add(first);
  }

  async #put(builder: SstBuilder): Promise<void> {
    const built = builder.finish();
    const handle = this.options.put === undefined ? await putNewSst(this.store, this.epoch, built.bytes, built.info) : await this.options.put(built.bytes, built.info);
    this.outputs.push(handle);
    this.#writtenBytes += handle.info.sizeBytes;
    const pooled = this.#pooled;
    this.#pooled = undefined;
    if (pooled !== undefined) this.options.buffers!.give(pooled); // the PUT resolved: nothing reads those bytes any more
  }
}

/**
 * Publishes a change that lists new SSTs: commits the manifest, then (unless the epoch stopped
 * meanwhile) runs `onCommitted` (the task's own bookkeeping of what the read view is built
 * from) and rebuilds the read view. Returns false when the epoch stopped: the change may be
 * committed, but this epoch is over and its task does nothing more.
 */
export async function publishOutputs(
  host: SstPublishHost,
  epoch: WriterEpoch,
  mutate: (current: Manifest) => Manifest,
  onCommitted: () => void,
): Promise<boolean> {
  await host.updateManifest(epoch, mutate);
  if (epoch.stopped) return false;
  onCommitted();
  host.refreshVersion(epoch);
  return true;
}

/**
 * Deletes outputs given up before their manifest change was attempted: no manifest can refer to
 * them. A failed delete leaves an orphan for the next epoch's garbage collector (sst-ids.ts),
 * never a hole. Returns how many were deleted.
 */
export async function abandonOutputs(store: ObjectStore, outputs: SstHandle[]): Promise<number> {
  let deleted = 0;
  for (const output of outputs) {
    try {
      await store.delete(sstKey(output.id));
      deleted++;
    } catch {
      break;
    }
  }
  return deleted;
}
