/**
 * InstrumentedStore: counts every store request by kind, with bytes and latency, below the
 * retrying layer (each attempt counts). The engine's metrics read these counters.
 */
import { getInto, type ByteRange, type ListEntry, type ListOptions, type ObjectInfo, type ObjectStore, type PutCondition, type PutResult } from "../store/object-store.js";

/** Object store requests the engine made, by kind, and the bytes they moved (`LogMetrics.engine.storeRequests`). */
export interface StoreRequestCounts {
  /** GET requests (whole objects and ranges). */
  get: number;
  /** HEAD requests. */
  head: number;
  /** PUT requests (plain, create-only and compare-and-swap). */
  put: number;
  /** DELETE requests. */
  delete: number;
  /** LIST calls (each may span several pages). */
  list: number;
  /** Listing pages are not visible through the interface; this counts list calls' yielded keys. */
  listedKeys: number;
  /** Requests that failed. */
  errors: number;
  /** Bytes received by GET requests. */
  getBytes: number;
  /** Bytes sent by PUT requests. */
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

  /** The store it counts the requests of (the user's). */
  get inner(): ObjectStore {
    return this.#inner;
  }

  constructor(inner: ObjectStore) {
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

  /** Counted as a GET. */
  async getInto(key: string, range: Required<ByteRange>, into: Uint8Array): Promise<Uint8Array> {
    this.counts.get++;
    const bytes = await this.#count(getInto(this.#inner, key, range, into));
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
