/**
 * SstReader: reads one immutable SST from the ObjectStore lazily, with ranged GETs through the
 * shared BlockCache. The byte format and its decoders live in sst-format.ts; see
 * docs/decisions/0002-sst-format.md for the design.
 *
 * Opening costs one ranged GET (index + footer) when the manifest's SstInfo is given, or a HEAD
 * and two GETs without it; the decoded index then lives as long as the reader. A scan locates
 * its first block by binary search in the index and its first row by binary search over the
 * block's restart points, and fetches data blocks only as the consumer advances:
 *
 *   scan(range) ──> index: blocks lo..hi that can hold keys in range
 *        for each block b in lo..hi (or hi..lo):   cache hit? ── yes ──> decode rows
 *                                                  └ no: one GET for b and the following
 *                                                    uncached blocks (readahead, growing
 *                                                    from 1 block to readaheadBytes, then
 *                                                    one GET kept running ahead), every
 *                                                    block checked and cached
 *
 * Errors: any damage (checksum mismatch, bad magic, unknown version, a truncated object, an
 * index pointing outside the object, an undecodable row, an object that does not match its
 * SstInfo) is a CorruptionError naming the object; no entry from a damaged block is ever
 * yielded. Store errors (NotFoundError, StorageError, ...) pass through unchanged, except
 * InvalidRangeError, which here can only mean the object is shorter than its footer or SstInfo
 * says: a truncated object, so a CorruptionError.
 */
import { assert, CorruptionError, hasCode, InternalError, ValidationError } from "../errors.js";
import { getInto, type ObjectStore } from "../store/object-store.js";
import { DEFAULT_SST_READAHEAD_BYTES, ROW_COPY_SLAB_BYTES, SST_BULK_SCAN_FREE_BUFFERS, SST_SCAN_CHUNK_ENTRIES, SST_VERIFY_CHUNK_BYTES } from "../limits.js";
import type { BlockCache } from "./block-cache.js";
import { compareKeys, type Entry, type KeyRange } from "./entry.js";
import { flattenChunks } from "./read-path.js";
import { copyOf } from "../util/bytes.js";
import { BufferPool, SlabAllocator } from "../util/slab.js";
import {
  type BlockCursor,
  checkIndexAgainstInfo,
  DataBlock,
  decodeFooter,
  decodeIndex,
  firstBlockAtOrAfter,
  lastBlockBefore,
  plainBytes,
  RowCopies,
  SST_FOOTER_BYTES,
  sstInfoFromIndex,
  sstInfoFromJson,
  verifyStoredBlock,
  type BlockHandle,
  type SstIndex,
  type SstInfo,
} from "./sst-format.js";

/**
 * The buffers that scans' private copies of block rows live in (see ScanRowCopies). Weak: a
 * buffer leaves when the last value viewing it is dropped.
 */
const scanPrivateBuffers = new WeakSet<ArrayBufferLike>();

/**
 * RowCopies that records the buffers it hands out, so that `isScanPrivate` can tell a scan's
 * values from bytes that something else holds (a memtable's, a cached block's).
 */
class ScanRowCopies extends RowCopies {
  #lastBuffer: ArrayBufferLike | undefined;
  /** RowCopies' slabs and sizes, but not zeroed first: every byte of a copy is written before anything reads it. */
  readonly #slabs = new SlabAllocator({ slabBytes: ROW_COPY_SLAB_BYTES, maxSlabbedBytes: ROW_COPY_SLAB_BYTES / 4 });

  override copy(rows: Uint8Array): Uint8Array {
    const copy = this.#slabs.copy(rows);
    if (copy.buffer !== this.#lastBuffer) {
      this.#lastBuffer = copy.buffer;
      scanPrivateBuffers.add(copy.buffer);
    }
    return copy;
  }
}

/**
 * For the blocks of a scan that does not fill the cache (compaction): the rows are used where
 * they are instead of being copied; compaction only reads them into its output SST. The values
 * then keep the GET's buffer (at most readaheadBytes) alive rather than a slab.
 */
class OwnRows extends RowCopies {
  override copy(rows: Uint8Array): Uint8Array {
    // Not added to scanPrivateBuffers: a GET's bytes may sit in a shared allocation pool (Node
    // pools Buffers under 4 KiB), and marking the pool would let a read session hand out, say,
    // a memtable value from the same pool without copying it. Compaction needs no such mark.
    return rows;
  }
}

const OWN_ROWS = new OwnRows();
/** For getCached: decoded values are views of the cached block itself (nothing is copied). */
const SHARED_ROWS = new RowCopies(true);

/**
 * True when `value` is a value an SstReader scan decoded: a view of that scan's own copy of
 * its block's rows, which neither the cache nor any other scan reads or writes, and which is
 * never reused. Its consumer may then hand it on without copying it again; a value from
 * anywhere else (a memtable holds its entries' values for as long as it lives) must be copied.
 */
export function isScanPrivate(value: Uint8Array): boolean {
  // Consecutive values mostly share a buffer (a slab holds many blocks, a memtable slab many
  // values): skip the set lookup. A buffer found not private stays so: buffers join the set
  // when they are made, before any value of theirs exists.
  const buffer = value.buffer;
  if (buffer === lastPrivateBuffer) return true;
  if (buffer === lastSharedBuffer) return false;
  if (!scanPrivateBuffers.has(buffer)) {
    lastSharedBuffer = buffer;
    return false;
  }
  lastPrivateBuffer = buffer;
  return true;
}

/** The buffers isScanPrivate last found private and not private (held strongly: one slab each at most). */
let lastPrivateBuffer: ArrayBufferLike | undefined;
let lastSharedBuffer: ArrayBufferLike | undefined;


export interface SstReaderOpenOptions {
  store: ObjectStore;
  objectKey: string;
  /** The manifest's SstInfo for this object: saves the HEAD and the footer read. */
  info?: SstInfo;
  cache: BlockCache;
}

export interface SstScanOptions {
  /**
   * Keys descending instead of ascending. Versions of one key still come newest first (seq
   * descending) in both directions, so a merge can keep "first version seen wins".
   */
  reverse?: boolean;
  /**
   * Most bytes fetched by one GET when the scan runs past cached blocks, in bytes (default
   * 1 MiB). Each scan starts with one block per GET and doubles up to this cap, so a seek that
   * reads a few entries costs one block while a long scan costs one GET per MiB. Once at the
   * cap, the next GET starts as soon as the previous one is done while less than two runs wait
   * ahead of the scan, so the store reads while the scan decodes (a scan holds at most three
   * times this). 0 = one block per GET, on demand.
   */
  readaheadBytes?: number;
  /**
   * Put the blocks this scan fetches into the block cache (default true). Compaction passes
   * false: it reads every block once, and caching them would only push out the blocks that
   * readers keep coming back to (and, in bench/sst.ts, costs about half the scan's CPU in GC).
   * For the same reason the cached blocks it does use are not made recent. The blocks it
   * fetches are then its own, so their values are views of the GET's bytes, not copies (a value
   * kept long after the scan keeps that GET's buffer alive: copy it to keep only its bytes).
   */
  fillCache?: boolean;
  /**
   * A long read of every block once (a stream's catch-up from storage). Once the scan reads
   * whole readaheadBytes per GET (it has read about twice that), the blocks it fetches no longer
   * go into the cache (they would push out the blocks that readers come back to), and each GET
   * reads into a buffer of a small pool of this scan's own (`getInto`; SST_BULK_SCAN_FREE_BUFFERS
   * free at most), which is reused once the rows of all its blocks were copied out: a fresh
   * buffer per GET cost a page fault per 4 KiB and garbage collections by external memory. The
   * values stay this scan's private copies, as with fillCache. A short scan is unchanged.
   */
  bulk?: boolean;
  /**
   * Values are views of the block bytes, which the block cache may share (RowCopies
   * `shareValues`): the caller must copy any value it keeps, and never write one. For point reads.
   */
  shareValues?: boolean;
}

export interface SstVerifyReport {
  blocks: number;
  entries: number;
  /** Bytes read and checked: the whole object. */
  bytes: number;
}

/**
 * Per-scan readahead state: the next GET may be this many bytes (at least one block), and the
 * blocks the GETs brought that the scan has not reached yet. The scan holds them itself (at
 * most 3 x maxBytes: what is left of the run it is in and up to two runs fetched ahead) rather
 * than counting on the cache, which may be small or busy.
 */
interface Readahead {
  nextBytes: number;
  readonly maxBytes: number;
  readonly fetched: Map<number, Uint8Array>;
  /** Bytes of the blocks in `fetched`. */
  fetchedBytes: number;
  /** The block the scan is at (the last one #readAhead saw); undefined before the first. */
  at: number | undefined;
  /** The scan ended: no GET starts any more. */
  stopped: boolean;
  /** The furthest block, in the scan's direction, that this scan has fetched or is fetching. */
  frontier: number | undefined;
  /** The last GET started ahead of the scan, for blocks first..last (see #readAhead); `done` never rejects. */
  prefetch: { first: number; last: number; done: Promise<void>; settled: boolean } | undefined;
  /** Where this scan's private copies of block rows come from (decoded values are views of them). */
  readonly copies: RowCopies;
  readonly fillCache: boolean;
  /** Buffers for the GETs of a bulk scan (SstScanOptions `bulk`); undefined for other scans. */
  readonly pool: BufferPool | undefined;
  /** A bulk scan that reached the readahead cap: it fills no cache and reads into `pool` from here on. */
  pooled: boolean;
  /** A broken invariant met by a GET ahead (not a store error, which the scan meets again itself): the scan throws it at its next block. */
  fault: InternalError | undefined;
}

/** Blocks lo..hi (inclusive) are the only ones that can hold keys of the scanned range. */
interface BlockSpan {
  lo: number;
  hi: number;
}

export class SstReader {
  readonly objectKey: string;
  readonly info: SstInfo;
  readonly #store: ObjectStore;
  readonly #cache: BlockCache;
  readonly #index: SstIndex;

  private constructor(options: SstReaderOpenOptions, info: SstInfo, index: SstIndex) {
    this.objectKey = options.objectKey;
    this.#store = options.store;
    this.#cache = options.cache;
    this.info = info;
    this.#index = index;
  }

  /** Opens an SST: reads and checks its index (and footer). Rejects with CorruptionError on damage. */
  static async open(options: SstReaderOpenOptions): Promise<SstReader> {
    if (options.info !== undefined) {
      const info = sstInfoFromJson(options.info, options.objectKey);
      const index = await readIndexWithInfo(options, info);
      return new SstReader(options, info, index);
    }
    const { info, index } = await readIndexWithoutInfo(options);
    return new SstReader(options, info, index);
  }

  get blockCount(): number {
    return this.#index.handles.length;
  }

  /** The index's block handles (offsets, lengths, first and last keys), for tools and tests. */
  get blockHandles(): readonly BlockHandle[] {
    return this.#index.handles;
  }

  /**
   * Yields the entries whose keys lie in `range` (start inclusive, end exclusive), lazily:
   * data blocks are fetched only as the consumer advances, and breaking out of the loop starts
   * no more fetches (a long scan keeps one readahead GET running ahead of the consumer).
   *
   * Order: ascending is (key ascending, seq descending). Reverse is keys DESCENDING, but the
   * versions of one key still come seq descending (newest first): reverse is not the exact
   * mirror of ascending.
   *
   * Entries belong to the caller, who may keep and modify them: keys are fresh arrays, values
   * are views into this scan's private copy of the block (see RowCopies), never into the cache
   * (without fillCache, views of the bytes it fetched for itself; see there). A value kept long
   * after the scan keeps its slab of such copies alive (64 KiB, or one block if that is larger);
   * copy it to keep only its own bytes.
   */
  scan(range: KeyRange = {}, options: SstScanOptions = {}): AsyncIterable<Entry> {
    return flattenChunks(this.scanChunks(range, options)[Symbol.asyncIterator]());
  }

  /**
   * The same entries as `scan`, in the same order, as non-empty arrays: the blocks at hand
   * joined up to SST_SCAN_CHUNK_ENTRIES entries (one block's entries may exceed it). A chunk is
   * handed on before the scan waits for a fetch, so a consumer never waits on entries that
   * are ready; one that consumes arrays pays one await per chunk instead of one per entry.
   */
  scanChunks(range: KeyRange = {}, options: SstScanOptions = {}): AsyncIterable<Entry[]> {
    return options.reverse === true ? this.#chunksDescending(range, options) : this.#chunksAscending(range, options);
  }

  /**
   * A point read from the block cache alone, without a scan: the newest version of `key` with
   * seq <= `snapshotSeq` in this SST, `null` when the SST holds none, or `undefined` when that
   * cannot be told from cached blocks (the block is not cached, or the key's versions run past
   * it): then read it with `scanChunks`. The value is a view of the cached block (shared: copy
   * what you keep, never write it). Version.getNewest's fast path.
   */
  getCached(key: Uint8Array, snapshotSeq: number): Entry | null | undefined {
    const handles = this.#index.handles;
    const b = firstBlockAtOrAfter(this.#index, key);
    const handle = handles[b];
    // Blocks are in key order: the first whose lastKey >= key is the only one whose first version of key can be in.
    if (handle === undefined || compareKeys(handle.firstKey, key) > 0) return null;
    const cached = this.#cache.getIfCached(this.objectKey, handle.offset);
    if (cached === undefined) return undefined;
    const cursor = new DataBlock(this.objectKey, handle.offset, cached, SHARED_ROWS).seek(key);
    for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) {
      if (compareKeys(entry.key, key) !== 0) return null;
      if (entry.seq <= snapshotSeq) return entry;
    }
    return undefined; // every version in this block is above the snapshot, and the next block may hold older ones
  }

  /** Every entry, in ascending order (compaction's input: pass `fillCache: false`). */
  entries(options: Omit<SstScanOptions, "reverse"> = {}): AsyncIterable<Entry> {
    return this.scan({}, options);
  }

  /**
   * Reads the whole object from the store (not the cache) and checks everything: the size,
   * the footer, every checksum, every row, the order of all entries, and that the index and
   * the SstInfo describe the data. Rejects with CorruptionError at the first problem.
   */
  async verify(): Promise<SstVerifyReport> {
    const { size } = await this.#store.head(this.objectKey);
    if (size !== this.info.sizeBytes) {
      throw new CorruptionError(this.objectKey, `object is ${size} bytes, its SstInfo says ${this.info.sizeBytes}`);
    }
    const tail = await this.#read(this.info.indexOffset, size - this.info.indexOffset);
    const index = decodeIndexAndFooter(this.objectKey, tail, this.info);
    const checker = new OrderChecker(this.objectKey);
    for (let b = 0; b < index.handles.length; ) {
      const run = chunkOfBlocks(index.handles, b, SST_VERIFY_CHUNK_BYTES);
      const bytes = await this.#read(run.offset, run.length);
      for (; b <= run.last; b++) {
        const handle = index.handles[b] as BlockHandle;
        const stored = bytes.subarray(handle.offset - run.offset, handle.offset - run.offset + handle.length);
        checker.checkBlock(b, handle, new DataBlock(this.objectKey, handle.offset, verifyStoredBlock(this.objectKey, handle.offset, stored)));
      }
    }
    checker.checkTotals(index);
    return { blocks: index.handles.length, entries: checker.entryCount, bytes: size };
  }

  /** Ascending chunks (blocks with no entry in range add nothing). */
  async *#chunksAscending(range: KeyRange, options: SstScanOptions): AsyncGenerator<Entry[]> {
    const readahead = newReadahead(options);
    const span = blockSpan(this.#index, range);
    if (span === undefined) return;
    const { start, end } = range;
    let chunk: Entry[] = [];
    try {
      for (let b = span.lo; b <= span.hi; b++) {
        let block = this.#blockAtHand(b, readahead);
        if (block === undefined) {
          if (chunk.length > 0) yield chunk; // before waiting for the fetch
          chunk = [];
          block = await this.#awaitBlock(b, +1, span, readahead);
        }
        this.#readAhead(b, +1, span, readahead);
        // Blocks after lo start at or above `start`, blocks before hi end below `end` (index invariant).
        pushRows(b === span.lo && start !== undefined ? block.seek(start) : block.cursor(), b === span.hi ? end : undefined, chunk);
        this.#done(block, readahead);
        if (chunk.length >= SST_SCAN_CHUNK_ENTRIES) {
          yield chunk;
          chunk = [];
        }
      }
      if (chunk.length > 0) yield chunk;
    } finally {
      readahead.stopped = true;
    }
  }

  /**
   * Walks blocks backwards and each block's rows backwards, which gives (key desc, seq ASC);
   * the versions of one key are gathered in `group` and emitted reversed to give seq desc.
   * A key's versions may straddle blocks, so a group is emitted only once the next row (or
   * the index) shows that the key changes: the previous block is not fetched just to find out.
   */
  async *#chunksDescending(range: KeyRange, options: SstScanOptions): AsyncGenerator<Entry[]> {
    const readahead = newReadahead(options);
    const span = blockSpan(this.#index, range);
    if (span === undefined) return;
    let group: Entry[] = [];
    let chunk: Entry[] = [];
    try {
      for (let b = span.hi; b >= span.lo; b--) {
        let block = this.#blockAtHand(b, readahead);
        if (block === undefined) {
          if (chunk.length > 0) yield chunk; // before waiting for the fetch
          chunk = [];
          block = await this.#awaitBlock(b, -1, span, readahead);
        }
        this.#readAhead(b, -1, span, readahead);
        group = pushRowsDescending(block.decodeAll(), range, group, chunk);
        this.#done(block, readahead);
        const groupKey = group[0]?.key;
        const previous = this.#index.handles[b - 1];
        if (groupKey !== undefined && (b === span.lo || previous === undefined || compareKeys(previous.lastKey, groupKey) !== 0)) {
          appendNewestFirst(chunk, group);
          group = [];
        }
        if (chunk.length >= SST_SCAN_CHUNK_ENTRIES) {
          yield chunk;
          chunk = [];
        }
      }
      if (group.length > 0) appendNewestFirst(chunk, group);
      if (chunk.length > 0) yield chunk;
    } finally {
      readahead.stopped = true;
    }
  }

  /**
   * Block b if it is at hand: read ahead by this scan, or cached. Without fillCache (compaction,
   * a bulk scan past its start) the lookup counts a miss, as the load that follows does not go
   * through the cache, and a hit does not make the block recent: such a scan reads each block
   * once. A block of a pooled buffer must be released (#done) once its rows were decoded.
   */
  #blockAtHand(b: number, readahead: Readahead): DataBlock | undefined {
    if (readahead.fault !== undefined) throw readahead.fault;
    const handle = this.#index.handles[b] as BlockHandle;
    const fetched = readahead.fetched.get(b);
    if (fetched !== undefined) {
      readahead.fetched.delete(b);
      readahead.fetchedBytes -= fetched.length;
      return new DataBlock(this.objectKey, handle.offset, fetched, rowsOf(readahead));
    }
    const cached = fillsCache(readahead) ? this.#cache.getIfCached(this.objectKey, handle.offset) : this.#cache.peek(this.objectKey, handle.offset);
    return cached === undefined ? undefined : new DataBlock(this.objectKey, handle.offset, cached, readahead.copies);
  }

  /** Block b, not at hand: from the GET running ahead if that holds b, else loaded now. */
  async #awaitBlock(b: number, direction: 1 | -1, span: BlockSpan, readahead: Readahead): Promise<DataBlock> {
    // A GET ahead may have brought b while the consumer held the chunk before it.
    const atHand = this.#blockAtHand(b, readahead);
    if (atHand !== undefined) return atHand;
    const prefetch = readahead.prefetch;
    if (prefetch !== undefined && prefetch.first <= b && b <= prefetch.last) {
      await prefetch.done;
      const block = this.#blockAtHand(b, readahead); // undefined if that GET failed or b was damaged: load it again
      if (block !== undefined) return block;
    }
    return this.#loadBlock(b, direction, span, readahead);
  }

  /** Block b, not at hand: through the cache (sharing a load in flight) or with a readahead GET in `direction`. */
  async #loadBlock(b: number, direction: 1 | -1, span: BlockSpan, readahead: Readahead): Promise<DataBlock> {
    const handle = this.#index.handles[b] as BlockHandle;
    const load = (): Promise<Uint8Array> => this.#fetchRun(b, direction, span, readahead);
    // Decided before the load: a block read into a pooled buffer must never reach the cache.
    if (!fillsCache(startPooling(readahead))) return new DataBlock(this.objectKey, handle.offset, await load(), rowsOf(readahead));
    return new DataBlock(this.objectKey, handle.offset, await this.#cache.getOrLoad(this.objectKey, handle.offset, load), readahead.copies);
  }

  /**
   * Fetches block b plus the uncached blocks after it in `direction` (within the span and the
   * readahead budget) in one GET. Returns block b's verified payload; the others are verified,
   * kept for this scan and cached. A damaged neighbour is only left out: it fails when the scan
   * reaches it (and fetches it again), not earlier, so a scan that stops before it succeeds.
   */
  async #fetchRun(b: number, direction: 1 | -1, span: BlockSpan, readahead: Readahead): Promise<Uint8Array> {
    const run = this.#runFrom(b, direction, span, readahead.nextBytes);
    readahead.nextBytes = Math.min(Math.max(readahead.nextBytes, 2 * run.bytes), readahead.maxBytes);
    readahead.frontier = direction > 0 ? run.last : run.first;
    const caches = fillsCache(readahead);
    const stored = await this.#readRun(run, readahead);
    let wanted: Uint8Array | undefined;
    for (let i = run.first; i <= run.last; i++) {
      const handle = this.#index.handles[i] as BlockHandle;
      const block = stored.subarray(handle.offset - run.offset, handle.offset - run.offset + handle.length);
      if (i === b) {
        wanted = verifyStoredBlock(this.objectKey, handle.offset, block);
      } else {
        this.#keepNeighbour(i, handle, block, readahead, caches);
      }
    }
    return wanted as Uint8Array;
  }

  /**
   * Keeps one GET running ahead of a long scan that is at block b: once the scan reads whole
   * readaheadBytes per GET (it has read about twice that already), and the previous GET ahead
   * is done, the GET of the next run beyond what it fetched starts while less than two runs'
   * bytes wait ahead of the scan, so that the store reads while the scan decodes (when the GET
   * started only as the scan entered the previous run, a 1 KiB scan waited for a fifth of its
   * time). A long scan thus holds at most three runs. A failed GET is dropped: the scan loads
   * those blocks again when it reaches them, and gets the error then.
   */
  #readAhead(b: number, direction: 1 | -1, span: BlockSpan, readahead: Readahead): void {
    readahead.at = b;
    const { frontier, prefetch } = readahead;
    if (frontier === undefined || readahead.maxBytes === 0 || readahead.nextBytes < readahead.maxBytes) return;
    if ((prefetch !== undefined && !prefetch.settled) || readahead.fetchedBytes >= 2 * readahead.maxBytes) return;
    const start = direction > 0 ? Math.max(frontier, b) + 1 : Math.min(frontier, b) - 1;
    if (start < span.lo || start > span.hi || this.#cache.has(this.objectKey, (this.#index.handles[start] as BlockHandle).offset)) return;
    const run = this.#runFrom(start, direction, span, readahead.maxBytes);
    readahead.frontier = direction > 0 ? run.last : run.first;
    const next = { first: run.first, last: run.last, done: Promise.resolve(), settled: false };
    const caches = fillsCache(startPooling(readahead));
    next.done = this.#readRun(run, readahead)
      .then((stored) => {
        for (let i = run.first; i <= run.last; i++) {
          const handle = this.#index.handles[i] as BlockHandle;
          this.#keepNeighbour(i, handle, stored.subarray(handle.offset - run.offset, handle.offset - run.offset + handle.length), readahead, caches);
        }
      })
      .catch((error: unknown) => {
        if (error instanceof InternalError) readahead.fault ??= error;
      })
      .then(() => {
        next.settled = true;
        // The next GET may start now, not only when the scan comes to its next block: a scan
        // decodes a run's blocks at hand in one go, so it would wait for every GET it started.
        if (!readahead.stopped && readahead.at !== undefined) {
          try {
            this.#readAhead(readahead.at, direction, span, readahead);
          } catch (error) {
            // the scan loads its blocks itself when it gets to them, and meets any store error then
            if (error instanceof InternalError) readahead.fault ??= error;
          }
        }
      });
    readahead.prefetch = next;
  }

  /** Block b and the uncached blocks after it in `direction`, within the span, up to `maxBytes` together (at least b). */
  #runFrom(b: number, direction: 1 | -1, span: BlockSpan, maxBytes: number): { first: number; last: number; offset: number; bytes: number } {
    const handles = this.#index.handles;
    let first = b;
    let last = b;
    let bytes = (handles[b] as BlockHandle).length;
    for (;;) {
      const next = direction > 0 ? last + 1 : first - 1;
      if (next < span.lo || next > span.hi) break;
      const handle = handles[next] as BlockHandle;
      if (bytes + handle.length > maxBytes || this.#cache.has(this.objectKey, handle.offset)) break;
      bytes += handle.length;
      if (direction > 0) last = next;
      else first = next;
    }
    return { first, last, offset: (handles[first] as BlockHandle).offset, bytes };
  }

  /** Keeps a verified neighbour for the scan (and in the cache when `caches`); a damaged one is left out (released). */
  #keepNeighbour(i: number, handle: BlockHandle, stored: Uint8Array, readahead: Readahead, caches: boolean): void {
    let payload: Uint8Array;
    try {
      // A view of the GET's buffer: the cache copies it on its first hit (BlockCache #touch).
      payload = verifyStoredBlock(this.objectKey, handle.offset, stored);
    } catch (error) {
      if (hasCode(error, "corruption")) {
        readahead.pool?.release(stored);
        return;
      }
      throw error;
    }
    readahead.fetched.set(i, payload);
    readahead.fetchedBytes += payload.length;
    if (caches) {
      assert(readahead.pool?.holds(payload) !== true, "a block of a pooled buffer must not be cached");
      this.#cache.put(this.objectKey, handle.offset, payload);
    }
  }

  /**
   * The bytes of `run`: into a buffer of the scan's pool once it is pooled (lent with one part
   * per block; a failed read's buffer is dropped, not reused), else a GET's own buffer.
   */
  async #readRun(run: { first: number; last: number; offset: number; bytes: number }, readahead: Readahead): Promise<Uint8Array> {
    const pool = readahead.pool;
    if (!readahead.pooled || pool === undefined || run.bytes > pool.bufferBytes) return this.#read(run.offset, run.bytes);
    const into = pool.take();
    assert(!holdsBlockOf(readahead, into), "a pooled buffer was handed out while the scan still holds a block of it");
    const stored = await readExact(this.#store, this.objectKey, run.offset, run.bytes, into);
    if (stored.buffer !== into.buffer) pool.giveBack(into); // the store has no getInto: it read into a buffer of its own
    else pool.lend(into, run.last - run.first + 1);
    return stored;
  }

  /** Block `block` of this scan was decoded (its rows copied out or handed on): its pooled buffer may be reused once all its blocks are. */
  #done(block: DataBlock, readahead: Readahead): void {
    readahead.pool?.release(block.payload);
  }

  #read(offset: number, length: number): Promise<Uint8Array> {
    return readExact(this.#store, this.objectKey, offset, length);
  }
}

/**
 * A ranged GET that returns exactly `length` bytes or fails; a short object is corruption. With
 * `into`, read into it if the store can (`getInto`; the bytes returned then are a view of it).
 */
async function readExact(store: ObjectStore, objectKey: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await (into === undefined ? store.get(objectKey, { offset, length }) : getInto(store, objectKey, { offset, length }, into));
  } catch (error) {
    if (hasCode(error, "invalid_range")) {
      throw new CorruptionError(objectKey, `object is shorter than bytes [${offset}, ${offset + length}) its index needs (truncated?)`, {
        cause: error,
      });
    }
    throw error;
  }
  if (bytes.length !== length) {
    throw new CorruptionError(objectKey, `asked for ${length} bytes at ${offset}, got ${bytes.length} (truncated?)`);
  }
  return plainBytes(bytes);
}

/** With an SstInfo: one GET of the index and the footer (the footer catches truncation). */
async function readIndexWithInfo(options: SstReaderOpenOptions, info: SstInfo): Promise<SstIndex> {
  const { store, objectKey, cache } = options;
  let loaded: SstIndex | undefined; // decoded by the load, which checks it: not decoded twice (a cold read start's main CPU cost)
  const payload = await cache.getOrLoad(objectKey, info.indexOffset, async () => {
    const tail = await readExact(store, objectKey, info.indexOffset, info.indexLength + SST_FOOTER_BYTES);
    checkFooterAgainstInfo(objectKey, tail, info);
    // The cached copy, which the index's keys are views of (decodeIndex).
    const own = copyOf(verifyStoredBlock(objectKey, info.indexOffset, tail.subarray(0, info.indexLength)));
    loaded = decodeIndex(objectKey, own, info.indexOffset);
    checkIndexAgainstInfo(objectKey, loaded, info);
    return own;
  });
  if (loaded !== undefined) return loaded;
  const index = decodeIndex(objectKey, payload, info.indexOffset);
  checkIndexAgainstInfo(objectKey, index, info);
  return index;
}

/** Decodes the footer at the end of `tail` (stored index block + footer) and checks it against `info`. */
function checkFooterAgainstInfo(objectKey: string, tail: Uint8Array, info: SstInfo): void {
  const footer = decodeFooter(objectKey, tail.subarray(info.indexLength), info.sizeBytes);
  if (footer.indexOffset !== info.indexOffset || footer.indexLength !== info.indexLength || footer.entryCount !== info.entryCount) {
    throw new CorruptionError(objectKey, "the footer does not match the SstInfo: wrong object or corrupt manifest");
  }
}

/** Decodes `tail` = stored index block + footer and checks both against `info`. */
function decodeIndexAndFooter(objectKey: string, tail: Uint8Array, info: SstInfo): SstIndex {
  checkFooterAgainstInfo(objectKey, tail, info);
  const index = decodeIndex(objectKey, verifyStoredBlock(objectKey, info.indexOffset, tail.subarray(0, info.indexLength)), info.indexOffset);
  checkIndexAgainstInfo(objectKey, index, info);
  return index;
}

/** Without an SstInfo: HEAD for the size, GET the footer, GET the index; rebuild the SstInfo. */
async function readIndexWithoutInfo(options: SstReaderOpenOptions): Promise<{ info: SstInfo; index: SstIndex }> {
  const { store, objectKey, cache } = options;
  const { size } = await store.head(objectKey);
  if (size < SST_FOOTER_BYTES) {
    throw new CorruptionError(objectKey, `object of ${size} bytes is shorter than an SST footer (truncated?)`);
  }
  const footer = decodeFooter(objectKey, await readExact(store, objectKey, size - SST_FOOTER_BYTES, SST_FOOTER_BYTES), size);
  const payload = await cache.getOrLoad(objectKey, footer.indexOffset, async () => {
    const stored = await readExact(store, objectKey, footer.indexOffset, footer.indexLength);
    return verifyStoredBlock(objectKey, footer.indexOffset, stored);
  });
  const index = decodeIndex(objectKey, payload, footer.indexOffset);
  if (index.entryCount !== footer.entryCount) {
    throw new CorruptionError(objectKey, `footer counts ${footer.entryCount} entries, the index ${index.entryCount}`);
  }
  return { info: sstInfoFromIndex(footer, index, size), index };
}

function newReadahead(options: SstScanOptions): Readahead {
  const maxBytes = options.readaheadBytes ?? DEFAULT_SST_READAHEAD_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new ValidationError(`readaheadBytes must be a non-negative integer, got ${maxBytes}`);
  }
  return {
    nextBytes: 0,
    maxBytes,
    fetched: new Map(),
    fetchedBytes: 0,
    at: undefined,
    stopped: false,
    frontier: undefined,
    prefetch: undefined,
    copies: new ScanRowCopies(options.shareValues === true),
    fillCache: options.fillCache ?? true,
    pool: options.bulk === true && maxBytes > 0 ? new BufferPool({ bufferBytes: maxBytes, maxFree: SST_BULK_SCAN_FREE_BUFFERS }) : undefined,
    pooled: false,
    fault: undefined,
  };
}

/** True when a block the scan fetched and has not reached yet is a view of `buffer`'s memory. */
function holdsBlockOf(readahead: Readahead, buffer: Uint8Array): boolean {
  for (const payload of readahead.fetched.values()) if (payload.buffer === buffer.buffer) return true;
  return false;
}

/** A bulk scan at the readahead cap turns pooled (for good); returns `readahead`. */
function startPooling(readahead: Readahead): Readahead {
  if (readahead.pool !== undefined && readahead.nextBytes >= readahead.maxBytes) readahead.pooled = true;
  return readahead;
}

/** Whether the blocks this scan fetches now go into the cache. */
function fillsCache(readahead: Readahead): boolean {
  return readahead.fillCache && !readahead.pooled;
}

/** How the scan's blocks become values: private copies, or views of the fetched bytes (compaction: fillCache false, not bulk). */
function rowsOf(readahead: Readahead): RowCopies {
  return readahead.fillCache || readahead.pool !== undefined ? readahead.copies : OWN_ROWS;
}

/** The blocks that can hold keys in `range`, or undefined when none can. */
function blockSpan(index: SstIndex, range: KeyRange): BlockSpan | undefined {
  const { start, end } = range;
  if (start !== undefined && end !== undefined && compareKeys(start, end) >= 0) return undefined;
  const lo = start === undefined ? 0 : firstBlockAtOrAfter(index, start);
  const hi = end === undefined ? index.handles.length - 1 : lastBlockBefore(index, end);
  return lo <= hi ? { lo, hi } : undefined;
}

/**
 * Pushes the cursor's rows below `limit` (all without one) onto `chunk`. Outside the scan's
 * generator on purpose: V8 optimizes a loop in a generator only once the generator is called
 * again, so a long scan decoded every row unoptimized; a function called per block is hot at once.
 */
function pushRows(cursor: BlockCursor, limit: Uint8Array | undefined, chunk: Entry[]): void {
  for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) {
    if (limit !== undefined && compareKeys(entry.key, limit) >= 0) break;
    chunk.push(entry);
  }
}

/**
 * #chunksDescending's per-row step, outside its generator (see pushRows): takes a block's rows
 * backwards, gathering one key's versions in `group` and moving each finished group onto
 * `chunk` newest first; returns the group still open.
 */
function pushRowsDescending(rows: readonly Entry[], range: KeyRange, group: Entry[], chunk: Entry[]): Entry[] {
  for (let i = rows.length - 1; i >= 0; i--) {
    const entry = rows[i] as Entry;
    if (range.end !== undefined && compareKeys(entry.key, range.end) >= 0) continue;
    if (range.start !== undefined && compareKeys(entry.key, range.start) < 0) break;
    const groupKey = group[0]?.key;
    if (groupKey !== undefined && compareKeys(groupKey, entry.key) !== 0) {
      appendNewestFirst(chunk, group);
      group = [];
    }
    group.push(entry);
  }
  return group;
}

/** Appends `group` (one key's versions, oldest first) to `chunk` newest first; returns `chunk`. */
function appendNewestFirst(chunk: Entry[], group: readonly Entry[]): Entry[] {
  for (let i = group.length - 1; i >= 0; i--) chunk.push(group[i] as Entry);
  return chunk;
}


/** Blocks from `first` whose stored bytes fit `maxBytes` together (at least one). */
function chunkOfBlocks(handles: readonly BlockHandle[], first: number, maxBytes: number): { offset: number; length: number; last: number } {
  const start = handles[first] as BlockHandle;
  let last = first;
  let length = start.length;
  for (let next = handles[last + 1]; next !== undefined && length + next.length <= maxBytes; next = handles[last + 1]) {
    length += next.length;
    last++;
  }
  return { offset: start.offset, length, last };
}

/** verify()'s running checks over all entries of an SST, block by block. */
class OrderChecker {
  readonly #objectKey: string;
  entryCount = 0;
  #prev: Entry | undefined;
  #minSeq = Number.MAX_SAFE_INTEGER;
  #maxSeq = 0;
  #minExpireAtMs = 0;

  constructor(objectKey: string) {
    this.#objectKey = objectKey;
  }

  checkBlock(b: number, handle: BlockHandle, block: DataBlock): void {
    const rows = block.decodeAll();
    const first = rows[0];
    const last = rows[rows.length - 1];
    if (first === undefined || last === undefined) this.#fail(`block ${b} has no rows`);
    if (compareKeys(first.key, handle.firstKey) !== 0 || compareKeys(last.key, handle.lastKey) !== 0) {
      this.#fail(`block ${b}'s keys do not match its index entry`);
    }
    for (const entry of rows) this.#checkEntry(entry);
  }

  checkTotals(index: SstIndex): void {
    if (this.entryCount !== index.entryCount) this.#fail(`index counts ${index.entryCount} entries, the blocks hold ${this.entryCount}`);
    if (this.#minSeq !== index.minSeq || this.#maxSeq !== index.maxSeq) this.#fail("index seq range does not match the entries");
    if (this.#minExpireAtMs !== index.minExpireAtMs) this.#fail("index minExpireAtMs does not match the entries");
  }

  #checkEntry(entry: Entry): void {
    const prev = this.#prev;
    if (prev !== undefined) {
      const order = compareKeys(prev.key, entry.key);
      if (order > 0 || (order === 0 && prev.seq <= entry.seq)) this.#fail(`entry ${this.entryCount} is out of order`);
    }
    this.#prev = entry;
    this.entryCount++;
    this.#minSeq = Math.min(this.#minSeq, entry.seq);
    this.#maxSeq = Math.max(this.#maxSeq, entry.seq);
    if (entry.expireAtMs !== 0 && (this.#minExpireAtMs === 0 || entry.expireAtMs < this.#minExpireAtMs)) this.#minExpireAtMs = entry.expireAtMs;
  }

  #fail(detail: string): never {
    throw new CorruptionError(this.#objectKey, `verify: ${detail}`);
  }
}
