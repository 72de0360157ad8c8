/**
 * BlockCache: an LRU of verified SST blocks (data and index), bounded by bytes, shared by every
 * SstReader of a log. Keyed by (object key, block offset): SST objects are immutable, so a key
 * never names two different contents, and deleting an SST (GC) calls `evictObject` so that its
 * blocks stop taking room.
 *
 *   getOrLoad(k) ── hit ──────────────────────────────> bytes (moved to most recent)
 *        │ miss
 *        ├── a load of k in flight? ── yes ──> the same promise (one GET for many readers)
 *        └── no: load() ── ok ──> keep if it fits ──> bytes
 *                         └ fails ─> nothing kept; every waiter gets the error
 *
 * Invariants: `bytes` = sum of the kept blocks' lengths <= maxBytes; a block larger than
 * maxBytes is returned but never kept; a failed load leaves no trace; a load that finishes after
 * `evictObject` of its object is returned to its waiters but not kept.
 *
 * The cached arrays are shared between readers: nobody may modify a block it got from here.
 * Only the blocks' own bytes are counted, not the few dozen bytes of bookkeeping per block, nor
 * the rest of a readahead buffer that a block is a view of until its first hit (see #touch).
 */
import { ValidationError } from "../errors.js";
import { copyOf } from "../util/bytes.js";

export interface BlockCacheOptions {
  /** Byte budget for cached blocks. 0 disables caching (concurrent loads are still shared). */
  maxBytes: number;
}

/** Counters and size of the SST block cache (`LogMetrics.engine.cache`). */
export interface BlockCacheStats {
  /** Lookups served without a new load (cached, or joined a load already in flight). */
  hits: number;
  /** Lookups that started a load. */
  misses: number;
  /** Bytes of the blocks kept now. */
  bytes: number;
  /** Blocks kept now. */
  entries: number;
  /** Blocks dropped to stay within the budget (not counting evictObject). */
  evictions: number;
}

/** One cached block: a node of the recency list (least recent at `head`). */
interface CachedBlock {
  objectKey: string;
  offset: number;
  bytes: Uint8Array;
  older: CachedBlock | undefined;
  newer: CachedBlock | undefined;
}

/** One load in flight; `keep` turns false when its object is evicted meanwhile. */
interface PendingLoad {
  promise: Promise<Uint8Array>;
  keep: boolean;
}

/** Per object: its cached blocks and its loads in flight, by block offset. */
interface ObjectBlocks {
  cached: Map<number, CachedBlock>;
  pending: Map<number, PendingLoad>;
}

export class BlockCache {
  readonly maxBytes: number;
  /** Two-level map (no string keys to build per lookup); evictObject drops one entry. */
  readonly #objects = new Map<string, ObjectBlocks>();
  /** Least recently used block: evicted first. */
  #head: CachedBlock | undefined;
  /** Most recently used block. */
  #tail: CachedBlock | undefined;
  #entries = 0;
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  constructor(options: BlockCacheOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new ValidationError(`block cache maxBytes must be a non-negative integer, got ${options.maxBytes}`);
    }
    this.maxBytes = options.maxBytes;
  }

  /**
   * Returns the block at (objectKey, offset), loading it with `load` on a miss. Concurrent
   * calls for the same block share one load. `load` must return verified bytes: whatever it
   * returns is served to later readers as is.
   */
  getOrLoad(objectKey: string, offset: number, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const object = this.#objects.get(objectKey);
    const cached = object?.cached.get(offset);
    if (cached !== undefined) {
      this.#hits++;
      this.#touch(cached);
      return Promise.resolve(cached.bytes);
    }
    const inFlight = object?.pending.get(offset);
    if (inFlight !== undefined) {
      this.#hits++;
      return inFlight.promise;
    }
    this.#misses++;
    return this.#startLoad(objectKey, offset, load);
  }

  /** The cached block, or undefined. Counts as a hit or a miss and refreshes recency. */
  get(objectKey: string, offset: number): Uint8Array | undefined {
    return this.#lookup(objectKey, offset, { countMiss: true, touch: true });
  }

  /**
   * The cached block, or undefined, without waiting: a hit counts as one and refreshes recency;
   * an absence counts nothing, since the caller then loads it through getOrLoad, which counts the
   * miss (or joins a load in flight). A scan uses it to go on without an await while blocks are
   * at hand.
   */
  getIfCached(objectKey: string, offset: number): Uint8Array | undefined {
    return this.#lookup(objectKey, offset, { countMiss: false, touch: true });
  }

  /**
   * The cached block, or undefined, for a reader that reads each block once (compaction): counts
   * a hit or a miss like `get`, but leaves recency alone, so such a reader neither pushes out the
   * blocks others come back to nor pays for the copy a first hit makes (see #touch).
   */
  peek(objectKey: string, offset: number): Uint8Array | undefined {
    return this.#lookup(objectKey, offset, { countMiss: true, touch: false });
  }

  #lookup(objectKey: string, offset: number, how: { countMiss: boolean; touch: boolean }): Uint8Array | undefined {
    const cached = this.#objects.get(objectKey)?.cached.get(offset);
    if (cached === undefined) {
      if (how.countMiss) this.#misses++;
      return undefined;
    }
    this.#hits++;
    if (how.touch) this.#touch(cached);
    return cached.bytes;
  }

  /** True if the block is cached or being loaded. Changes neither stats nor recency. */
  has(objectKey: string, offset: number): boolean {
    const object = this.#objects.get(objectKey);
    return object !== undefined && (object.cached.has(offset) || object.pending.has(offset));
  }

  /** Caches a block (replacing any cached one), unless it is larger than the whole budget. */
  put(objectKey: string, offset: number, bytes: Uint8Array): void {
    const object = this.#object(objectKey);
    const existing = object.cached.get(offset);
    if (existing !== undefined) this.#remove(existing, object);
    if (bytes.length > this.maxBytes) {
      this.#dropIfEmpty(objectKey, object);
      return;
    }
    const block: CachedBlock = { objectKey, offset, bytes, older: this.#tail, newer: undefined };
    if (this.#tail !== undefined) this.#tail.newer = block;
    else this.#head = block;
    this.#tail = block;
    object.cached.set(offset, block);
    this.#entries++;
    this.#bytes += bytes.length;
    this.#evictToBudget();
  }

  /** Drops every block of an object (its SST was deleted); loads in flight will not be kept. */
  evictObject(objectKey: string): void {
    const object = this.#objects.get(objectKey);
    if (object === undefined) return;
    for (const block of object.cached.values()) this.#unlink(block);
    for (const pending of object.pending.values()) pending.keep = false;
    this.#objects.delete(objectKey);
  }

  /** Drops everything (hits, misses and evictions are kept). */
  clear(): void {
    for (const objectKey of [...this.#objects.keys()]) this.evictObject(objectKey);
  }

  stats(): BlockCacheStats {
    return { hits: this.#hits, misses: this.#misses, bytes: this.#bytes, entries: this.#entries, evictions: this.#evictions };
  }

  #startLoad(objectKey: string, offset: number, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const object = this.#object(objectKey);
    const settle = (): void => {
      if (object.pending.get(offset) !== pending) return;
      object.pending.delete(offset);
      this.#dropIfEmpty(objectKey, object);
    };
    const pending: PendingLoad = {
      keep: true,
      promise: callLoad(load).then(
        (bytes) => {
          settle();
          if (pending.keep) this.put(objectKey, offset, bytes);
          return bytes;
        },
        (error: unknown) => {
          settle();
          throw error;
        },
      ),
    };
    object.pending.set(offset, pending);
    return pending.promise;
  }

  #object(objectKey: string): ObjectBlocks {
    let object = this.#objects.get(objectKey);
    if (object === undefined) {
      object = { cached: new Map(), pending: new Map() };
      this.#objects.set(objectKey, object);
    }
    return object;
  }

  #dropIfEmpty(objectKey: string, object: ObjectBlocks): void {
    if (object.cached.size === 0 && object.pending.size === 0 && this.#objects.get(objectKey) === object) {
      this.#objects.delete(objectKey);
    }
  }

  /**
   * Marks a block most recently used. A block that is a view into a larger buffer (readahead
   * caches the blocks of one GET as views of it) gets its own copy here: blocks that are never
   * hit again age out together with their buffer, and one that stays hot does not pin the rest.
   */
  #touch(block: CachedBlock): void {
    if (block.bytes.byteLength !== block.bytes.buffer.byteLength) block.bytes = copyOf(block.bytes);
    if (this.#tail === block) return;
    this.#unlink(block);
    block.older = this.#tail;
    block.newer = undefined;
    if (this.#tail !== undefined) this.#tail.newer = block;
    else this.#head = block;
    this.#tail = block;
    this.#entries++;
    this.#bytes += block.bytes.length;
  }

  /** Takes a block out of the recency list and the totals (not out of its object's map). */
  #unlink(block: CachedBlock): void {
    if (block.older !== undefined) block.older.newer = block.newer;
    else this.#head = block.newer;
    if (block.newer !== undefined) block.newer.older = block.older;
    else this.#tail = block.older;
    block.older = undefined;
    block.newer = undefined;
    this.#entries--;
    this.#bytes -= block.bytes.length;
  }

  #remove(block: CachedBlock, object: ObjectBlocks): void {
    this.#unlink(block);
    object.cached.delete(block.offset);
  }

  #evictToBudget(): void {
    while (this.#bytes > this.maxBytes && this.#head !== undefined) {
      const victim = this.#head;
      const object = this.#objects.get(victim.objectKey);
      if (object === undefined) {
        this.#unlink(victim);
      } else {
        this.#remove(victim, object);
        this.#dropIfEmpty(victim.objectKey, object);
      }
      this.#evictions++;
    }
  }
}

/** Calls `load`, turning a synchronous throw into a rejection so the bookkeeping stays in one place. */
function callLoad(load: () => Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return load();
  } catch (error) {
    return Promise.reject(error);
  }
}
