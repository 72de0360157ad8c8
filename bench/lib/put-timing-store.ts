/**
 * PutTimingStore: an ObjectStore wrapper for benches that records when each put under a key
 * prefix started (performance.now(), sub-millisecond, monotonic), so a bench can check a rate
 * bound exactly: the most puts that started in any window of a given length, and the smallest
 * gap between two consecutive starts. It sits directly under the code being measured (for the
 * engine: below its retrying and instrumented layers, so every attempt counts).
 */
import { performance } from "node:perf_hooks";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";

export class PutTimingStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #prefix: string;
  #startsMs = new Float64Array(4096);
  #count = 0;

  constructor(inner: ObjectStore, prefix: string) {
    this.#inner = inner;
    this.#prefix = prefix;
  }

  /**
   * Forwarded so that a LocalStore keeps under timing what the log does only on one: the segment
   * WAL (walMode default), SSTs written around the page cache, the disk's turns.
   */
  get localStore(): ObjectStore["localStore"] {
    return this.#inner.localStore;
  }

  get description(): string | undefined {
    return this.#inner.description;
  }

  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    if (key.startsWith(this.#prefix)) this.#record(performance.now());
    return this.#inner.put(key, body, condition);
  }

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.#inner.get(key, range);
  }

  head(key: string): Promise<ObjectInfo> {
    return this.#inner.head(key);
  }

  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    return this.#inner.list(prefix, options);
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  /** Start times (ms, performance.now()) of the recorded puts in [fromMs, toMs). */
  startsBetween(fromMs: number, toMs: number): Float64Array {
    return this.#startsMs.slice(0, this.#count).filter((t) => t >= fromMs && t < toMs);
  }

  #record(nowMs: number): void {
    if (this.#count === this.#startsMs.length) {
      const grown = new Float64Array(this.#startsMs.length * 2);
      grown.set(this.#startsMs);
      this.#startsMs = grown;
    }
    this.#startsMs[this.#count++] = nowMs;
  }
}

/** The most events of an ascending series that fall in any half-open window [t, t + windowMs). */
export function maxInWindow(ascendingMs: ArrayLike<number>, windowMs: number): number {
  let best = 0;
  let first = 0;
  for (let last = 0; last < ascendingMs.length; last++) {
    while (ascendingMs[last]! - ascendingMs[first]! >= windowMs) first++;
    best = Math.max(best, last - first + 1);
  }
  return best;
}

/** The smallest gap between consecutive events of an ascending series (NaN below two events). */
export function minGapMs(ascendingMs: ArrayLike<number>): number {
  let best = Number.NaN;
  for (let i = 1; i < ascendingMs.length; i++) {
    const gap = ascendingMs[i]! - ascendingMs[i - 1]!;
    if (!(gap >= best)) best = gap;
  }
  return best;
}
