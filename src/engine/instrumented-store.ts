/**
 * InstrumentedStore: counts every store request by kind, with bytes and latency, below the
 * retrying layer (each attempt counts). The engine's metrics read these counters.
 */
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../store/object-store.js";
import type { Clock } from "../util/clock.js";

export interface StoreRequestCounts {
  get: number;
  head: number;
  put: number;
  delete: number;
  list: number;
  /** Listing pages are not visible through the interface; this counts list calls' yielded keys. */
  listedKeys: number;
  errors: number;
  getBytes: number;
  putBytes: number;
}

export class InstrumentedStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly counts: StoreRequestCounts = {
    get: 0,
    head: 0,
    put: 0,
    delete: 0,
    list: 0,
    listedKeys: 0,
    errors: 0,
    getBytes: 0,
    putBytes: 0,
  };

  constructor(inner: ObjectStore, _clock?: Clock) {
    this.#inner = inner;
  }

  get description(): string | undefined {
    return this.#inner.description;
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.counts.get++;
    const bytes = await this.#count(this.#inner.get(key, range));
    this.counts.getBytes += bytes.length;
    return bytes;
  }

  head(key: string): Promise<ObjectInfo> {
    this.counts.head++;
    return this.#count(this.#inner.head(key));
  }

  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    this.counts.put++;
    this.counts.putBytes += body.length;
    return this.#count(this.#inner.put(key, body, condition));
  }

  delete(key: string): Promise<void> {
    this.counts.delete++;
    return this.#count(this.#inner.delete(key));
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    this.counts.list++;
    try {
      for await (const entry of this.#inner.list(prefix, options)) {
        this.counts.listedKeys++;
        yield entry;
      }
    } catch (error) {
      this.counts.errors++;
      throw error;
    }
  }

  async #count<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      this.counts.errors++;
      throw error;
    }
  }
}
