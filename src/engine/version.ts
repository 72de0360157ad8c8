/**
 * The read view: which memtables, L0 SSTs and sorted runs make up the data right now, the SST
 * readers opened for them, and which SSTs live scans still use.
 *
 * A scan takes the sources current at its start and pins their SSTs, so that the garbage
 * collector keeps every object a running scan may still read, even after compaction replaced
 * it. Sources only ever hold the same data in another shape (a memtable and the L0 written from
 * it, or L0s and the run compacted from them), so a view taken at any moment is complete.
 */
import { CorruptionError, NotFoundError, SstCompactedAwayError } from "../errors.js";
import type { ObjectStore } from "../store/object-store.js";
import type { BlockCache } from "./block-cache.js";
import { compareKeys, type Entry, type KeyRange } from "./entry.js";
import type { SortedRun, SstHandle } from "./manifest-format.js";
import { readLatestManifest, type StoredManifest } from "./manifest-store.js";
import type { Memtable } from "./memtable.js";
import { sstKey } from "./paths.js";
import { FloorSeek, mergeSources, overlaps, type EntrySource } from "./read-path.js";
import { SstReader, type SstScanOptions } from "./sst-reader.js";
import { sstInfoFirstKey, sstInfoLastKey, type SstInfo } from "./sst-format.js";
import { copyOf } from "../util/bytes.js";

export interface VersionSources {
  /** Newest first: the active memtable, then frozen ones. */
  memtables: Memtable[];
  /** Newest first. */
  l0: SstHandle[];
  /** Newest first. */
  runs: SortedRun[];
}

export interface VersionScanOptions {
  reverse: boolean;
  snapshotSeq: number;
  nowMs: () => number;
  /** A long read of every block once (SstScanOptions `bulk`): a stream's catch-up from storage. */
  bulk?: boolean;
}

export class Version {
  #sources: VersionSources;
  readonly #readers = new Map<number, Promise<SstReader>>();
  /** The readers of `#readers` that have opened, for point reads without an await. */
  readonly #openReaders = new Map<number, SstReader>();
  readonly #pins = new Map<number, number>();

  /**
   * `onMissingSst`: set for read-only engines, where a missing SST usually means the writer
   * compacted it away meanwhile: unless the newest manifest still lists it (then it is damage:
   * corruption), it is given that manifest to adopt, and the read fails with an SstCompactedAwayError (a retryable `storage` error)
   * (read sessions retry from where they were). Without it a missing SST is corruption.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly cache: BlockCache,
    sources: VersionSources,
    private readonly onMissingSst?: (newest: StoredManifest | undefined) => Promise<void>,
  ) {
    this.#sources = sources;
  }

  get sources(): VersionSources {
    return this.#sources;
  }

  update(sources: VersionSources): void {
    this.#sources = sources;
  }

  isPinned(sstId: number): boolean {
    return (this.#pins.get(sstId) ?? 0) > 0;
  }

  openReader(handle: SstHandle): Promise<SstReader> {
    let reader = this.#readers.get(handle.id);
    if (reader === undefined) {
      const opening = SstReader.open({ store: this.store, objectKey: sstKey(handle.id), info: handle.info, cache: this.cache });
      reader = opening;
      opening.then(
        (opened) => {
          if (this.#readers.get(handle.id) === opening) this.#openReaders.set(handle.id, opened);
        },
        () => {
          if (this.#readers.get(handle.id) === opening) this.#readers.delete(handle.id);
        },
      );
      this.#readers.set(handle.id, reader);
    }
    return reader;
  }

  /** Drops what is held for a deleted SST. */
  forget(sstId: number): void {
    this.#readers.delete(sstId);
    this.#openReaders.delete(sstId);
    this.cache.evictObject(sstKey(sstId));
  }

  /** Live entries in chunks (values never null), in key order. */
  async *scanChunks(range: KeyRange, options: VersionScanOptions): AsyncGenerator<Entry[], void, void> {
    const sources = this.#sources;
    const pinned = [...sources.l0, ...sources.runs.flatMap((run) => run.ssts)].map((handle) => handle.id);
    this.#pin(pinned);
    for (const memtable of sources.memtables) memtable.beginScan(); // its values stay valid until the scan ends
    try {
      const bulk = options.bulk === true;
      const inputs: EntrySource[] = sources.memtables.map((memtable) => memtable.scan(range, options.snapshotSeq, options.reverse));
      for (const handle of sources.l0) {
        if (this.#overlaps(handle, range)) inputs.push(this.#sstSource([handle], range, options.reverse, { bulk }));
      }
      for (const run of sources.runs) {
        const ssts = run.ssts.filter((handle) => this.#overlaps(handle, range));
        if (ssts.length > 0) inputs.push(this.#sstSource(options.reverse ? ssts.reverse() : ssts, range, options.reverse, { bulk }));
      }
      yield* mergeSources(inputs, options);
    } finally {
      this.#unpin(pinned);
      for (const memtable of sources.memtables) memtable.endScan();
    }
  }

  /**
   * The newest version of `key` with `seq <= snapshotSeq`, tombstones and expired versions
   * included (undefined when no source holds one). A point read without the merge: the
   * memtables are looked at newest first and the first that holds the key answers; otherwise
   * every SST whose key range holds the key is read (one block each) and the highest seq wins,
   * skipping the SSTs whose seqs are all below the newest version found so far.
   * Most probes are answered from the block cache without a scan (SstReader.getCached); the
   * others scan. Decoded SST values are views of the blocks (no block copy per read); the one
   * returned is copied.
   */
  async getNewest(key: Uint8Array, snapshotSeq: number): Promise<Entry | undefined> {
    const sources = this.#sources;
    const range: KeyRange = { start: key, end: pointRangeEnd(key) };
    for (const memtable of sources.memtables) {
      for (const chunk of memtable.scan(range, snapshotSeq)) {
        // A copy: a memtable's values may be reused once it was flushed (Memtable.drop).
        if (chunk.length > 0) return chunk[0]!.value === null ? chunk[0] : { ...chunk[0]!, value: copyOf(chunk[0]!.value) };
      }
    }
    const handles = this.#sstsHolding(sources, key);
    if (handles.length === 0) return undefined;
    let newest: Entry | undefined;
    let uncached: SstHandle[] | undefined;
    for (const handle of handles) {
      if (newest !== undefined && handle.info.maxSeq < newest.seq) continue; // holds nothing newer
      const found = this.#openReaders.get(handle.id)?.getCached(key, snapshotSeq);
      if (found === undefined) (uncached ??= []).push(handle);
      else if (found !== null && (newest === undefined || found.seq > newest.seq)) newest = found;
    }
    if (uncached !== undefined) newest = await this.#newestScanned(uncached, range, snapshotSeq, newest);
    // SST values come as views of shared block bytes: keep a copy of the one we return.
    return newest === undefined || newest.value === null ? newest : { ...newest, value: copyOf(newest.value) };
  }

  /** The SSTs whose key range holds `key`: every such L0 and at most one SST of each run. */
  #sstsHolding(sources: VersionSources, key: Uint8Array): SstHandle[] {
    const handles: SstHandle[] = [];
    for (const handle of sources.l0) {
      if (this.#holds(handle, key)) handles.push(handle);
    }
    for (const run of sources.runs) {
      const handle = run.ssts.find((h) => this.#holds(h, key)); // a run's SSTs hold disjoint key ranges
      if (handle !== undefined) handles.push(handle);
    }
    return handles;
  }

  /** getNewest's slow path: the SSTs whose block is not cached, scanned one block each (fetching it). */
  async #newestScanned(handles: SstHandle[], range: KeyRange, snapshotSeq: number, newestSoFar: Entry | undefined): Promise<Entry | undefined> {
    let newest = newestSoFar;
    const ids = handles.map((handle) => handle.id);
    this.#pin(ids);
    try {
      for (const handle of handles) {
        if (newest !== undefined && handle.info.maxSeq < newest.seq) continue;
        for await (const chunk of this.#sstSource([handle], range, false, { shareValues: true })) {
          const found = chunk.find((entry) => entry.seq <= snapshotSeq);
          if (found !== undefined && (newest === undefined || found.seq > newest.seq)) newest = found;
          if (found !== undefined) break;
        }
      }
      return newest;
    } finally {
      this.#unpin(ids);
    }
  }

  /**
   * A key of `range` that some source holds at `seq <= snapshotSeq` (any version counts: a
   * tombstone, an expired one) for which `isBelow` holds; the last such key when the memtables
   * hold it, else at most one SST block before it (undefined when none is known). `isBelow` must
   * be monotone over the range: true for its first keys, false from some key on.
   *
   * It reads no data block: memtables are searched exactly; of an SST only samples are looked at,
   * its first and last key (the manifest's SstInfo) and those of its blocks (its index, one GET
   * when its reader is not open yet), and only the indexes of SSTs whose key range reaches into
   * the interval the samples so far leave open: on a sorted run, the one SST that spans it.
   */
  async floorKey(range: KeyRange, isBelow: (key: Uint8Array) => boolean, snapshotSeq: number): Promise<Uint8Array | undefined> {
    const sources = this.#sources;
    const seek = new FloorSeek(range, isBelow);
    for (const memtable of sources.memtables) seek.offer(memtable.floorKey(range, snapshotSeq, isBelow));
    const ssts = [...sources.l0, ...sources.runs.flatMap((run) => run.ssts)]
      .map((handle) => ({ handle, first: sstInfoFirstKey(handle.info), last: sstInfoLastKey(handle.info) }))
      .filter(({ first, last }) => overlaps(first, last, range));
    for (const { first, last } of ssts) seek.offerBlocks([{ firstKey: first, lastKey: last }]);
    const handles = ssts.filter(({ first, last }) => seek.mayImprove(first, last)).map(({ handle }) => handle);
    const ids = handles.map((handle) => handle.id);
    this.#pin(ids);
    try {
      const readers = await Promise.all(handles.map((handle) => this.openReader(handle).catch((error: unknown) => this.#failMissing(handle, error))));
      for (const reader of readers) seek.offerBlocks(reader.blockHandles);
      return seek.best;
    } finally {
      this.#unpin(ids);
    }
  }

  #pin(ids: number[]): void {
    for (const id of ids) this.#pins.set(id, (this.#pins.get(id) ?? 0) + 1);
  }

  #unpin(ids: number[]): void {
    for (const id of ids) {
      const count = (this.#pins.get(id) ?? 1) - 1;
      if (count <= 0) this.#pins.delete(id);
      else this.#pins.set(id, count);
    }
  }

  /**
   * All entries of some SSTs in order, for compaction: it does not fill the block cache readers
   * use. `readaheadBytes`: the most one GET reads (the SST reader's default when not given).
   */
  sstEntries(handles: SstHandle[], readaheadBytes?: number): AsyncGenerator<Entry[], void, void> {
    return this.#sstSource(handles, {}, false, readaheadBytes === undefined ? { fillCache: false } : { fillCache: false, readaheadBytes });
  }

  /**
   * Read-only: whether the newest manifest in the store still lists SST `id`. The writer
   * deletes an SST only after a manifest without it is written, so a missing SST that the
   * newest manifest lists was not compacted away: it is damage, and reading again never helps.
   */
  /** The newest manifest in the store, and whether it lists SST `id`. */
  async #newestManifestReferences(id: number): Promise<{ references: boolean; newest: StoredManifest | undefined }> {
    const newest = await readLatestManifest(this.store);
    if (newest === undefined) return { references: false, newest };
    const m = newest.manifest;
    return { references: m.l0.some((handle) => handle.id === id) || m.runs.some((run) => run.ssts.some((handle) => handle.id === id)), newest };
  }

  #holds(handle: SstHandle, key: Uint8Array): boolean {
    const bounds = keyBounds(handle.info);
    return compareKeys(bounds.first, key) <= 0 && compareKeys(key, bounds.last) <= 0;
  }

  #overlaps(handle: SstHandle, range: KeyRange): boolean {
    return overlaps(sstInfoFirstKey(handle.info), sstInfoLastKey(handle.info), range);
  }

  async *#sstSource(
    handles: SstHandle[],
    range: KeyRange,
    reverse: boolean,
    options: Pick<SstScanOptions, "fillCache" | "shareValues" | "bulk" | "readaheadBytes"> = {},
  ): AsyncGenerator<Entry[], void, void> {
    for (const handle of handles) {
      try {
        const reader = await this.openReader(handle);
        yield* reader.scanChunks(range, { ...options, reverse });
      } catch (error) {
        await this.#failMissing(handle, error);
      }
    }
  }

  /** Rethrows a read's `error`; a missing SST becomes an SstCompactedAwayError (read-only) or a CorruptionError. */
  async #failMissing(handle: SstHandle, error: unknown): Promise<never> {
    if (!(error instanceof NotFoundError)) throw error;
    if (this.onMissingSst !== undefined) {
      const { references, newest } = await this.#newestManifestReferences(handle.id);
      if (!references) {
        this.forget(handle.id);
        await this.onMissingSst(newest);
        throw new SstCompactedAwayError(sstKey(handle.id), error);
      }
    }
    // The (newest) manifest lists it, so it must exist: a missing SST is damage, not an absent key.
    throw new CorruptionError(sstKey(handle.id), "referenced by the manifest but missing", { cause: error });
  }
}

/** Decoded first and last keys of SSTs (SstInfo holds them in base64), by SstInfo object. */
const decodedBounds = new WeakMap<SstInfo, { first: Uint8Array; last: Uint8Array }>();

function keyBounds(info: SstInfo): { first: Uint8Array; last: Uint8Array } {
  let bounds = decodedBounds.get(info);
  if (bounds === undefined) {
    bounds = { first: sstInfoFirstKey(info), last: sstInfoLastKey(info) };
    decodedBounds.set(info, bounds);
  }
  return bounds;
}

/** The end of the range that holds exactly `key`: the key with a zero byte appended. */
function pointRangeEnd(key: Uint8Array): Uint8Array {
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  return end;
}
