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
 * Only the payload bytes are counted, not the few dozen bytes of bookkeeping per block.
 */
import { ValidationError } from "../errors.js";

export interface BlockCacheOptions {
  /** Byte budget for cached blocks. 0 disables caching (concurrent loads are still shared). */
  maxBytes: number;
}

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

interface CachedBlock {
  objectKey: string;
  bytes: Uint8Array;
}

/** One load in flight; `keep` turns false when its object is evicted meanwhile. */
interface PendingLoad {
  objectKey: string;
  promise: Promise<Uint8Array>;
  keep: boolean;
}

export class BlockCache {
  readonly maxBytes: number;
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly #blocks = new Map<string, CachedBlock>();
  /** Cache keys per object, so evictObject does not walk the whole cache. */
  readonly #keysByObject = new Map<string, Set<string>>();
  readonly #pending = new Map<string, PendingLoad>();
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
    const key = cacheKey(objectKey, offset);
    const cached = this.#touch(key);
    if (cached !== undefined) {
      this.#hits++;
      return Promise.resolve(cached);
    }
    const inFlight = this.#pending.get(key);
    if (inFlight !== undefined) {
      this.#hits++;
      return inFlight.promise;
    }
    this.#misses++;
    return this.#startLoad(objectKey, offset, key, load);
  }

  /** The cached block, or undefined. Counts as a hit or a miss and refreshes recency. */
  get(objectKey: string, offset: number): Uint8Array | undefined {
    const cached = this.#touch(cacheKey(objectKey, offset));
    if (cached === undefined) this.#misses++;
    else this.#hits++;
    return cached;
  }

  /** True if the block is cached or being loaded. Changes neither stats nor recency. */
  has(objectKey: string, offset: number): boolean {
    const key = cacheKey(objectKey, offset);
    return this.#blocks.has(key) || this.#pending.has(key);
  }

  /** Caches a block (replacing any cached one), unless it is larger than the whole budget. */
  put(objectKey: string, offset: number, bytes: Uint8Array): void {
    const key = cacheKey(objectKey, offset);
    this.#remove(key);
    if (bytes.length > this.maxBytes) return;
    this.#blocks.set(key, { objectKey, bytes });
    let keys = this.#keysByObject.get(objectKey);
    if (keys === undefined) {
      keys = new Set();
      this.#keysByObject.set(objectKey, keys);
    }
    keys.add(key);
    this.#bytes += bytes.length;
    this.#evictToBudget();
  }

  /** Drops every block of an object (its SST was deleted); loads in flight will not be kept. */
  evictObject(objectKey: string): void {
    for (const key of this.#keysByObject.get(objectKey) ?? []) this.#remove(key);
    for (const [key, pending] of this.#pending) {
      if (pending.objectKey !== objectKey) continue;
      pending.keep = false;
      this.#pending.delete(key);
    }
  }

  /** Drops everything (stats other than bytes and entries are kept). */
  clear(): void {
    for (const key of [...this.#blocks.keys()]) this.#remove(key);
    for (const pending of this.#pending.values()) pending.keep = false;
    this.#pending.clear();
  }

  stats(): BlockCacheStats {
    return { hits: this.#hits, misses: this.#misses, bytes: this.#bytes, entries: this.#blocks.size, evictions: this.#evictions };
  }

  #startLoad(objectKey: string, offset: number, key: string, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const settle = (): void => {
      if (this.#pending.get(key) === pending) this.#pending.delete(key);
    };
    const pending: PendingLoad = {
      objectKey,
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
    this.#pending.set(key, pending);
    return pending.promise;
  }

  /** Returns a cached block and marks it most recently used. */
  #touch(key: string): Uint8Array | undefined {
    const cached = this.#blocks.get(key);
    if (cached === undefined) return undefined;
    this.#blocks.delete(key);
    this.#blocks.set(key, cached);
    return cached.bytes;
  }

  #remove(key: string): void {
    const cached = this.#blocks.get(key);
    if (cached === undefined) return;
    this.#blocks.delete(key);
    this.#bytes -= cached.bytes.length;
    const keys = this.#keysByObject.get(cached.objectKey);
    keys?.delete(key);
    if (keys?.size === 0) this.#keysByObject.delete(cached.objectKey);
  }

  #evictToBudget(): void {
    for (const key of this.#blocks.keys()) {
      if (this.#bytes <= this.maxBytes) return;
      this.#remove(key);
      this.#evictions++;
    }
  }
}

/** Object keys never contain NUL (checkKey refuses it), so NUL separates the two parts safely. */
function cacheKey(objectKey: string, offset: number): string {
  return `${objectKey}\u0000${offset}`;
}

/** Calls `load`, turning a synchronous throw into a rejection so the bookkeeping stays in one place. */
function callLoad(load: () => Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return load();
  } catch (error) {
    return Promise.reject(error);
  }
}
