/**
 * MemoryStore: an ObjectStore in a Map, for tests and examples.
 *
 * Bytes are copied in and out, so callers can neither change stored objects nor see later
 * changes through a returned array. Conditional puts are decided synchronously, so they are
 * atomic under any interleaving of callers. Nothing survives the process.
 *
 * One exception, internal to the library: an array marked with `handOverBytes` (the engine's
 * WAL objects and SSTs, each built in a fresh buffer nothing else refers to or ever changes) is
 * kept as it is instead of copied, when it spans most of its ArrayBuffer. Copying those cost a
 * tenth of the CPU of an append on a MemoryStore (bench/README.md, "Append path CPU"). The mark
 * is never set by the public API, so a caller that reuses its buffer after a put always had it
 * copied; reads still return copies, so no reader can reach a kept array.
 */
import { NotFoundError, PreconditionFailedError } from "../errors.js";
import { checkKey, compareKeys, resolveRange } from "./keys.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "./object-store.js";

/** Arrays whose owner gave them up for good (see `handOverBytes`). */
const handedOver = new WeakSet<Uint8Array>();

/**
 * Internal, not exported by the package: marks `bytes` as handed over to the store it is put to
 * next. The caller promises that nothing changes it from now on, neither its own code nor any
 * other view of its memory. A MemoryStore then keeps the array instead of copying it (the first
 * put that stores it takes the mark; a put that fails its condition leaves it); other stores
 * ignore the mark. Returns `bytes`.
 */
export function handOverBytes(bytes: Uint8Array): Uint8Array {
  handedOver.add(bytes);
  return bytes;
}

/**
 * Whether a handed-over array is kept as it is: only when it spans at least this share of its
 * ArrayBuffer, so that a small view never keeps a large buffer alive (Buffer's 8 KiB pool, an
 * SST built in a buffer sized for an upper bound of its size).
 */
const KEEP_MIN_SHARE_OF_BUFFER = 0.75;

/** The bytes a put stores: `body` itself when it was handed over, a copy otherwise. */
function storedCopy(body: Uint8Array): Uint8Array {
  if (handedOver.delete(body) && body.byteLength >= KEEP_MIN_SHARE_OF_BUFFER * body.buffer.byteLength) {
    // A plain Uint8Array view: `get` relies on `slice()` copying, which a Buffer's does not.
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }
  return new Uint8Array(body);
}

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
    this.#objects.set(key, { bytes: storedCopy(body), etag });
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
