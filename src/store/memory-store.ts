/**
 * MemoryStore: an ObjectStore in a Map, for tests and examples.
 *
 * Bytes are copied in and out, so callers can neither change stored objects nor see later
 * changes through a returned array. Conditional puts are decided synchronously, so they are
 * atomic under any interleaving of callers. Nothing survives the process.
 */
import { NotFoundError, PreconditionFailedError } from "../errors.js";
import { checkKey, compareKeys, resolveRange } from "./keys.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "./object-store.js";

interface StoredObject {
  bytes: Uint8Array;
  etag: string;
}

export class MemoryStore implements ObjectStore {
  readonly description = "memory://";
  readonly #objects = new Map<string, StoredObject>();
  #nextEtag = 1;

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const object = this.#find(key);
    if (range === undefined) return object.bytes.slice();
    const [start, end] = resolveRange(key, object.bytes.length, range);
    return object.bytes.slice(start, end);
  }

  async head(key: string): Promise<ObjectInfo> {
    const object = this.#find(key);
    return { size: object.bytes.length, etag: object.etag };
  }

  async put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    checkKey(key);
    const current = this.#objects.get(key);
    if (condition !== undefined && "ifNoneMatch" in condition && current !== undefined) {
      throw new PreconditionFailedError(key, "the key already exists");
    }
    if (condition !== undefined && "ifMatch" in condition && current?.etag !== stripQuotes(condition.ifMatch)) {
      throw new PreconditionFailedError(key, current === undefined ? "the key does not exist" : "the etag has changed");
    }
    const etag = `m${this.#nextEtag++}`;
    this.#objects.set(key, { bytes: new Uint8Array(body), etag });
    return { etag };
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#objects.delete(key);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const keys = [...this.#objects.keys()]
      .filter((key) => key.startsWith(prefix) && (options.startAfter === undefined || key > options.startAfter))
      .sort(compareKeys);
    for (const key of keys) {
      const object = this.#objects.get(key);
      if (object !== undefined) yield { key, size: object.bytes.length };
    }
  }

  /** Number of objects held (for tests and metrics). */
  get size(): number {
    return this.#objects.size;
  }

  #find(key: string): StoredObject {
    checkKey(key);
    const object = this.#objects.get(key);
    if (object === undefined) throw new NotFoundError(key);
    return object;
  }
}

function stripQuotes(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}
