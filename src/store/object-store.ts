/**
 * The ObjectStore contract: the one interface every engine decision rests on.
 *
 * Three implementations (MemoryStore, LocalStore, S3Store) and the wrappers (FaultyStore, the
 * engine's retrying and instrumented stores) all satisfy it, and one conformance suite
 * (tests/store/conformance.ts) runs against each of them.
 *
 * Semantics every implementation guarantees:
 *   - `put` is atomic (a reader sees the whole object or none of it) and durable when it resolves.
 *   - `put(key, body, { ifNoneMatch: "*" })` is create-only: exactly one of many concurrent
 *     creators wins; the others get `PreconditionFailedError` (code "precondition_failed").
 *   - `put(key, body, { ifMatch: etag })` replaces the object only if its current etag is `etag`
 *     (compare-and-swap); a missing object or another etag is "precondition_failed".
 *   - `get` and `head` of a missing key throw `NotFoundError` (code "not_found").
 *   - A range must lie inside the object: `offset <= size` and `offset + length <= size`;
 *     otherwise `InvalidRangeError` (code "invalid_range"). `length` omitted means "to the end".
 *   - `delete` is idempotent: deleting a missing key succeeds.
 *   - `list(prefix)` yields every key that starts with `prefix`, in ascending key order (by UTF-16
 *     code units, which for the ASCII keys durastream writes is byte order), strictly after
 *     `startAfter` when given; implementations page underneath.
 *   - Read-after-write: once a put or delete resolved, every later call sees it.
 *   - Etags are opaque strings; two puts of identical bytes may share an etag (as on S3).
 */
import type { LocalStore } from "./local-store.js";

export { MAX_OBJECT_KEY_BYTES } from "../limits.js";

/** Which bytes of an object `get` reads: the range must lie inside the object (`offset + length <= size`), else `InvalidRangeError` (code "invalid_range"). */
export interface ByteRange {
  /** First byte to read. */
  offset: number;
  /** Number of bytes; omitted means to the end of the object. */
  length?: number;
}

/** What `head()` returns. */
export interface ObjectInfo {
  /** Size in bytes. */
  size: number;
  /** Opaque version tag: pass it as `ifMatch` to replace exactly this version. */
  etag: string;
}

/** One key that `list()` yields. */
export interface ListEntry {
  /** The object's key. */
  key: string;
  /** Its size in bytes. */
  size: number;
}

/** Options of `list()`. */
export interface ListOptions {
  /** Yield only keys strictly greater than this one. */
  startAfter?: string;
}

/**
 * A conditional put: create-only (`{ ifNoneMatch: "*" }`) or compare-and-swap (`{ ifMatch: etag }`).
 * A lost condition rejects with PreconditionFailedError.
 */
export type PutCondition =
  | {
      /** Create-only: succeed only if the key does not exist yet. */
      ifNoneMatch: "*";
    }
  | {
      /** Compare-and-swap: succeed only if the object's current etag is this one. */
      ifMatch: string;
    };

/** What `put()` returns. */
export interface PutResult {
  /** The new object's etag. */
  etag: string;
}

/**
 * The small storage interface every store implements (see this module's header for the semantics
 * every implementation guarantees, and tests/store/conformance.ts for the suite that checks them).
 */
export interface ObjectStore {
  /** Reads an object, or the byte `range` of it. NotFoundError if it does not exist; InvalidRangeError if the range is outside it. */
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  /**
   * Optional (LocalStore has it; any other store may leave it out): reads the byte `range` of an
   * object into `into`, which is at least `range.length` long, and returns
   * `into.subarray(0, range.length)`, with get's errors. The store writes into `into` only until
   * the returned promise settles, resolved or rejected, so the caller may then reuse it (a long
   * SST scan reads its readahead into a few buffers of its own this way). What `into` holds after
   * a rejection is unspecified. A store without it is read with `get` (the engine's own store
   * wrappers forward it to the store they wrap when that store has it, and use `get` otherwise).
   */
  getInto?(key: string, range: Required<ByteRange>, into: Uint8Array): Promise<Uint8Array>;
  /** The object's size and etag. NotFoundError if it does not exist. */
  head(key: string): Promise<ObjectInfo>;
  /** Writes an object atomically and durably, optionally only under `condition`. */
  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult>;
  /** Deletes an object; deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Yields every key that starts with `prefix` in ascending order (after `startAfter` if given). */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>;
  /** Releases clients and handles. Optional; calling any method afterwards is undefined. */
  close?(): Promise<void>;
  /** A short description for logs and errors (never a credential). */
  readonly description?: string | undefined;
  /**
   * For a store on a local POSIX filesystem: the absolute directory it keeps its objects under.
   * The log then keeps its segment WAL there (walMode "segments", in `.durastream-wal`). A
   * wrapper around a LocalStore that forwards `localStore` need not forward this too: the log
   * takes `localStore.root` then (see `localStore`). A wrapper that forwards only this keeps the
   * segment WAL, and nothing else the log does only on a LocalStore.
   */
  readonly localRoot?: string | undefined;
  /**
   * The LocalStore this store writes to, for a wrapper around one (metrics, tracing, ...): the log
   * then does on it everything it does on a LocalStore handed over as it is (walMode "segments"
   * and compactionThread "worker" by default, SST buffers it writes around the page cache and
   * reuses, its large writes taking turns with the segment WAL's group commits). The log still
   * makes every request through the wrapper. A LocalStore's is itself, so a wrapper forwards
   * `inner.localStore` (undefined when its inner store is no LocalStore, nor a wrapper of one).
   *
   * A wrapper that sets it promises, for as long as the log is open:
   * - every `put(key, body, condition)` it is given is a put of that same `body` (the same
   *   Uint8Array, unchanged: not a copy or a slice) to this LocalStore, with the same condition
   *   (under `key`, or a key it maps `key` to one to one), and resolves only once that put did;
   * - it keeps no reference to `body` once the put resolved (the log reuses the buffer);
   * - its `get`s return what this LocalStore holds, in buffers it keeps no reference to (the log
   *   may move them to its worker thread); its `list`s and `head`s see what the LocalStore holds;
   * - no other log writes to this LocalStore's root: the segment WAL lives in
   *   `<localStore.root>/.durastream-wal` whatever keys the wrapper maps to.
   *
   * A wrapper that cannot promise this (one that copies or retains bodies, caches reads, or
   * keeps several logs in one LocalStore) leaves it undefined; the log then treats it as any
   * other store (forwarding `localRoot` alone keeps the segment WAL).
   *
   * The log derives its local root from it: `localStore.root`; a wrapper that also forwards
   * `localRoot` must give the same directory (openLog and inspectStore reject another).
   */
  readonly localStore?: LocalStore | undefined;
  /**
   * The WAL flush interval, in ms, a log on this store uses when its options give none. A store
   * whose writes are billed per request says so here (S3Store: 50, at most 20 WAL PUTs a
   * second); when absent the log uses 5 ms.
   */
  readonly preferredFlushIntervalMs?: number | undefined;
}


/**
 * Reads the byte `range` of an object with `store.getInto` when the store has it, else with a
 * plain ranged `get`: the bytes returned are then not a view of `into` (the caller can tell by
 * their `buffer`), and `into` was not touched.
 */
export function getInto(store: ObjectStore, key: string, range: Required<ByteRange>, into: Uint8Array): Promise<Uint8Array> {
  return store.getInto !== undefined ? store.getInto(key, range, into) : store.get(key, range);
}

/** Where a store on a local filesystem keeps its objects: its LocalStore's root, else the `localRoot` it gives. */
export function localRootOf(store: ObjectStore): string | undefined {
  return store.localStore?.root ?? store.localRoot;
}
