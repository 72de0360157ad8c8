/**
 * LocalStore: an ObjectStore on a local POSIX filesystem, one file per key under a root directory.
 * Decision page: docs/decisions/0001-local-store.md (problem, design, invariants, alternatives).
 *
 * Layout (key segments separated by "/" become directories):
 *
 *   <root>/wal/00000000000000000007          the object "wal/00000000000000000007"
 *   <root>/.durastream-tmp/<host>-<pid>-<random>.tmp
 *                                            a put's body while it is written (never listed)
 *   <root>/.durastream-locks/<xxh64(key)>.lock
 *                                            per-key lock files (never listed)
 *
 * Every first segment starting with ".durastream-" is reserved: such keys are refused.
 *
 * Write path (the commit point is one link() or rename(), so readers see all or nothing):
 *   1. write the body to a new temp file, fsync it;
 *   2. create-only put: link(temp, final), EEXIST -> PreconditionFailedError; unlink the temp.
 *      plain put / ifMatch put: under the key's lock, rename(temp, final);
 *   3. fsync the destination directory, and the parent of every directory on the key's path that
 *      this store has not yet seen durable (so a new directory entry is durable too). Then resolve.
 *   A create-only put costs two fsyncs (temp file, directory), as docs/design.md section 5 describes.
 *
 * Lock (ifMatch puts, plain puts and deletes): a per-key lock file between processes, taken
 * and checked by local-locks.ts (its header has the protocol; 0001 has the reasoning). The holder
 * checks that it still holds the lock right before its commit (rename or unlink).
 * Create-only puts take no lock: link() is atomic. While an ifMatch holder works, the key exists
 * (it checked so, and deletes need the lock), so a concurrent create-only fails with EEXIST; with
 * a plain put or a delete holding the lock, the link simply lands before or after their commit.
 * Plain puts and deletes take the lock so that they cannot land between a CAS's etag check and
 * its rename (the CAS would overwrite what it never saw); 0001 has the full table of races.
 *
 * Etags are content-derived, as on S3: xxhash64 of the bytes and the size, in hex. `put` hashes the
 * body it writes; `head` and an ifMatch check read the whole file to hash it. That costs a full
 * read per head, which is acceptable because the engine never HEADs big objects (SSTs are read
 * with ranges). A cheaper etag from (inode, mtime, size) is not ABA-safe: inodes are reused at
 * once on ext4 and mtimes are coarse (jiffies), so a replaced object could keep its etag.
 *
 * Invariants:
 *   1. A file under an object's final name is complete: it was fsynced under a temp name before
 *      it got that name, and it is never written in place, only replaced or unlinked whole.
 *      Reads therefore use one fd (fstat + positioned reads) and see one consistent version.
 *   2. `put` resolves only after the temp file's fsync, the link or rename, and the directory
 *      fsyncs above. `delete` resolves only after the unlink and the directory fsync.
 *   3. While a process holds key K's lock, K's file changes only by a create-only put, and only
 *      if K is absent; so an ifMatch put replaces exactly the version whose etag it checked.
 *   4. Temp files are named <hostTag>-<pid>-<random>.tmp; a sweep never removes a temp file whose
 *      writer may still be alive (this process's in-flight ones, or a live pid on this host).
 *
 * Limits of the filesystem: a key cannot be both an object and a directory of other keys ("a" and
 * "a/b"): such a put fails with InvalidKeyError (not applied). Empty directories stay after deletes
 * and are never listed. On case-insensitive filesystems keys that differ only in case collide.
 * Only local filesystems are supported (the lock relies on O_EXCL and on seeing the owner's pid).
 */
import { close as fsClose, constants as fsConstants, fstat as fsFstat, open as fsOpen, read as fsRead, type Stats } from "node:fs";
import { link, lstat, mkdir, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import {
  CorruptionError,
  DurastreamError,
  InvalidKeyError,
  NotFoundError,
  PreconditionFailedError,
  StorageError,
  ValidationError,
  type WriteOutcome,
} from "../errors.js";
import { Checksum64Stream, checksum64 } from "../util/checksum.js";
import { systemClock, type Clock } from "../util/clock.js";
import { systemRandom, type Random } from "../util/random.js";
import { HOST_TAG, LocalKeyLocks, isPidAlive, namesIn } from "./local-locks.js";
import { directWritableBuffer, writeDirect } from "./direct-write.js";
import type { DeviceTurns } from "./device-turns.js";
import { errnoOf, fsyncDirectory, writeSyncedAndClose } from "../util/files.js";
import { unzeroedBytes } from "../util/bytes.js";
import { checkKey, checkRangeShape, compareKeys, resolveRange } from "./keys.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "./object-store.js";
import { DEFAULT_LOCAL_LOCK_STALE_MS, DEFAULT_LOCAL_LOCK_WAIT_MS, DEFAULT_LOCAL_TEMP_STALE_MS, DIRECT_WRITE_MIN_BYTES, LOCAL_ETAG_PIECE_BYTES, LOCAL_MAX_KEY_SEGMENT_BYTES, MAX_KNOWN_DURABLE_DIRS, MAX_LOCAL_PLACE_RETRIES } from "../limits.js";

/** Every root entry starting with this is LocalStore's own; keys may not start with it. */
export const LOCAL_RESERVED_PREFIX = ".durastream-";
export const LOCAL_TEMP_DIR = `${LOCAL_RESERVED_PREFIX}tmp`;
export const LOCAL_LOCK_DIR = `${LOCAL_RESERVED_PREFIX}locks`;

/** Options of `new LocalStore(root, options)`: lock and leftover timing. */
export interface LocalStoreOptions {
  /**
   * A lock file older than this is abandoned even if its owner looks alive (pid reuse, another
   * host, a hung process). Milliseconds, default 30_000. Must exceed the longest a live holder
   * stalls between its lock check and its rename (normally microseconds): a break of a live
   * holder's lock can let two commits through. Locks of dead pids are broken at once anyway.
   */
  lockStaleMs?: number;
  /** How long an ifMatch put, plain put or delete waits for another process's lock before it
   * fails with a retryable StorageError (not applied). Milliseconds, default 40_000. */
  lockWaitMs?: number;
  /** Temp files whose writer cannot be checked (another host, unknown name) are removed by the
   * sweep once older than this. Milliseconds, default 60_000. */
  tempStaleMs?: number;
  /** Sweep crash leftovers (temp files, stale locks) in the background on construction. Default true. */
  sweepOnOpen?: boolean;
  /**
   * Time for lock timestamps, leftover ages and lock waits. A function is the wall clock alone
   * (ms since the epoch; waits use real time); a Clock gives both. Default: the system clock.
   */
  clock?: (() => number) | Clock;
  /** Randomness for temp-file names, lock tokens and poll jitter. Default: crypto-backed. */
  random?: Random;
}

/** What `sweepLeftovers()` cleaned up. */
export interface SweepReport {
  /** Temp files of crashed puts removed. */
  tempFilesRemoved: number;
  /** Stale lock files broken. */
  locksBroken: number;
}

/** What a put does at its commit point. */
type Commit = { kind: "create" } | { kind: "replace"; ifMatch: string | undefined };

/** The host part of temp file names ("<hostTag>-<pid>-<random>.tmp"), exposed for tests. */
export const LOCAL_HOST_TAG = HOST_TAG;
/** Process-wide: this process's temp files in use, which no sweep may take for leftovers. */
const liveTempNames = new Set<string>();

export class LocalStore implements ObjectStore {
  /** The absolute directory the store keeps its objects under. */
  readonly root: string;
  /** Same as `root`: the segment WAL lives under it (see ObjectStore.localRoot). */
  readonly localRoot: string;
  /** This store itself: what a wrapper around it forwards (see ObjectStore.localStore). */
  get localStore(): LocalStore {
    return this;
  }
  readonly description: string;
  readonly #tempStaleMs: number;
  readonly #clock: () => number;
  readonly #random: Random;
  readonly #tempDir: string;
  readonly #locks: LocalKeyLocks;
  readonly #knownDurableDirs = new Set<string>();
  #rootReady: Promise<void> | undefined;
  #tempDirReady: Promise<void> | undefined;
  readonly #initialSweep: Promise<SweepReport>;
  /** Buffers from allocatePutBuffer() that direct writes take, and where their aligned part starts. */
  readonly #directBuffers = new WeakMap<ArrayBufferLike, number>();
  /** False once the filesystem refused O_DIRECT: every put goes through the page cache. */
  #directWrites = true;
  /** Where direct writes take turns with a segment WAL's group commits (shareDiskWith). */
  #deviceTurns: DeviceTurns | undefined;
  #directPuts = 0;

  constructor(root: string, options: LocalStoreOptions = {}) {
    if (typeof root !== "string" || root.length === 0) throw new ValidationError("LocalStore needs a root directory");
    this.root = path.resolve(root);
    this.localRoot = this.root;
    this.description = `file://${this.root}`;
    this.#tempStaleMs = positiveMs("tempStaleMs", options.tempStaleMs, DEFAULT_LOCAL_TEMP_STALE_MS);
    const clock = options.clock ?? systemClock;
    const timers = typeof clock === "function" ? systemClock : clock;
    this.#clock = typeof clock === "function" ? clock : () => clock.nowMs();
    this.#random = options.random ?? systemRandom;
    this.#tempDir = path.join(this.root, LOCAL_TEMP_DIR);
    const lockDir = path.join(this.root, LOCAL_LOCK_DIR);
    this.#locks = new LocalKeyLocks({
      dir: lockDir,
      prepareDir: () => this.#prepareDir(lockDir),
      staleMs: positiveMs("lockStaleMs", options.lockStaleMs, DEFAULT_LOCAL_LOCK_STALE_MS),
      waitMs: positiveMs("lockWaitMs", options.lockWaitMs, DEFAULT_LOCAL_LOCK_WAIT_MS),
      wallMs: this.#clock,
      timers,
      random: this.#random,
    });
    const empty: SweepReport = { tempFilesRemoved: 0, locksBroken: 0 };
    // A failed background sweep only leaves garbage behind; the next open sweeps again.
    this.#initialSweep = options.sweepOnOpen === false ? Promise.resolve(empty) : this.sweepLeftovers().catch(() => empty);
  }

  /** The sweep started by the constructor (resolves, never rejects). */
  whenSwept(): Promise<SweepReport> {
    return this.#initialSweep;
  }

  async close(): Promise<void> {
    await this.#initialSweep;
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const file = this.#pathOf(key);
    if (range?.length !== undefined && range.length > 0) return this.#getRange(key, file, range.offset, range.length);
    return this.#withObject(key, file, (fd, size) => {
      const [start, end] = range === undefined ? [0, size] : resolveRange(key, size, range);
      return readExactly(fd, key, start, end - start);
    });
  }

  /** `get` of a range into the caller's buffer (ObjectStore `getInto`): one fd read loop into `into`, which is written only until this settles. */
  async getInto(key: string, range: Required<ByteRange>, into: Uint8Array): Promise<Uint8Array> {
    if (into.length < range.length) throw new ValidationError(`getInto: a buffer of ${into.length} bytes cannot hold ${range.length}`);
    if (range.length === 0) return this.get(key, range).then(() => into.subarray(0, 0));
    return this.#getRange(key, this.#pathOf(key), range.offset, range.length, into);
  }

  async head(key: string): Promise<ObjectInfo> {
    const file = this.#pathOf(key);
    return this.#withObject(key, file, async (fd, size) => {
      const bytes = await readExactly(fd, key, 0, size);
      return { size, etag: etagOf(bytes) };
    });
  }

  /**
   * A range of known length (every SST block and readahead read): open, read, close, and no
   * fstat, so two thread-pool round trips wait instead of four. One fd as in `#withObject`
   * (invariant 1). A read that comes up short asks fstat why: a range past the end is an
   * InvalidRangeError there too, anything else a file changed outside durastream.
   */
  async #getRange(key: string, file: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRangeShape(key, { offset, length });
    const fd = await openForRead(key, () => openFd(file, READ_FLAGS));
    try {
      const whyShort = async (): Promise<void> => {
        resolveRange(key, (await fstatFd(fd)).size, { offset, length }); // throws InvalidRangeError past the end
      };
      return await readExactly(fd, key, offset, length, whyShort, into);
    } catch (error) {
      // A directory (a prefix of other keys) is no object.
      if (errnoOf(error) === "EISDIR") throw new NotFoundError(key);
      throw storageError("read", key, error, undefined);
    } finally {
      fsClose(fd, () => undefined); // nothing waits for it: the bytes are read
    }
  }

  /** Opens the object's file once; `fn` sees the size from fstat of that same fd (invariant 1). */
  async #withObject<T>(key: string, file: string, fn: (fd: number, size: number) => Promise<T>): Promise<T> {
    const fd = await openForRead(key, () => openFd(file, READ_FLAGS));
    try {
      const stats = await fstatFd(fd);
      // A directory (a prefix of other keys) or anything else that is not a file is no object.
      if (!stats.isFile()) throw new NotFoundError(key);
      return await fn(fd, stats.size);
    } catch (error) {
      throw storageError("read", key, error, undefined);
    } finally {
      fsClose(fd, () => undefined); // nothing waits for it: the bytes are read
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  /**
   * @internal The engine, when its segment WAL lives under this store's root.
   * From now on a direct write goes in pieces between the WAL's group commits (device-turns.ts);
   * undefined: back to whole 8 MiB writes. One engine writes through a store at a time; the turns
   * of one that closed stay until the next shares its own, and hold no piece back (no group
   * commit of theirs is in flight any more).
   */
  shareDiskWith(turns: DeviceTurns | undefined): void {
    this.#deviceTurns = turns;
  }

  /**
   * @internal The engine's SST buffers (sst-buffer-pool.ts, compactor.ts).
   * A buffer of `sizeBytes` for a large object the caller will build and then put here (an SST):
   * where the filesystem takes direct writes, one whose address suits them, so that its put, or
   * the put of a prefix of it, bypasses the page cache (direct-write.ts). Otherwise, and below
   * DIRECT_WRITE_MIN_BYTES, a plain one. Its bytes are not zeroed.
   */
  allocatePutBuffer(sizeBytes: number): Uint8Array {
    if (this.#directWrites && sizeBytes >= DIRECT_WRITE_MIN_BYTES) {
      const name = this.#tempName();
      liveTempNames.add(name);
      try {
        const buffer = directWritableBuffer(path.join(this.#tempDir, name), sizeBytes);
        if (buffer !== undefined) {
          this.#directBuffers.set(buffer.buffer, buffer.byteOffset);
          return buffer;
        }
      } finally {
        liveTempNames.delete(name);
      }
    }
    return unzeroedBytes(sizeBytes);
  }

  /**
   * @internal The compactor, for a worker's outputs.
   * Marks `bytes` as the part of a buffer from allocatePutBuffer that direct writes take, once
   * it came back from another thread (a transfer makes a new ArrayBuffer object, which this store
   * does not know). A wrong mark costs one refused direct write, never a wrong put.
   */
  adoptPutBuffer(bytes: Uint8Array): void {
    if (bytes.length >= DIRECT_WRITE_MIN_BYTES) this.#directBuffers.set(bytes.buffer, bytes.byteOffset);
  }

  /** @internal Puts whose body was written around the page cache (tests, diagnostics). */
  get directPutCount(): number {
    return this.#directPuts;
  }

  async put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    const segments = keySegments(this.root, key);
    if (!(body instanceof Uint8Array)) throw new ValidationError(`put of ${JSON.stringify(key)}: body must be a Uint8Array`);
    const commit = commitOf(key, condition);
    // Hashed while the file is written: an SST of tens of MiB hashed at once held the event loop
    // (and every ack behind it) for several milliseconds.
    const hashing = etagOfInTurns(body);
    let temp: string;
    try {
      temp = await this.#writeTemp(key, body);
    } catch (error) {
      await hashing.catch(() => undefined);
      throw error;
    }
    let etag: string;
    try {
      etag = await hashing;
      if (commit.kind === "create") {
        await this.#commitCreate(key, segments, temp);
      } else {
        await this.#locks.withKeyLock(key, (token) => this.#commitReplace(key, segments, temp, commit.ifMatch, token));
      }
    } catch (error) {
      throw storageError("put", key, error, "unknown");
    } finally {
      await this.#discardTemp(temp);
    }
    return { etag };
  }

  async delete(key: string): Promise<void> {
    const file = path.join(this.root, ...keySegments(this.root, key));
    try {
      await this.#locks.withKeyLock(key, async (token) => {
        await this.#locks.assertHeld(key, token).catch((error: unknown) => {
          throw asNotApplied("delete", key, error);
        });
        await unlinkObject(file);
        // Also when there was nothing to unlink: a crashed deleter may have unlinked it without
        // the fsync, and "deleted" must not come back after a power loss.
        await fsyncDirectory(path.dirname(file)).catch((error: unknown) => {
          if (!isNoObject(error)) throw error;
        });
      });
    } catch (error) {
      throw storageError("delete", key, error, "unknown");
    }
  }

  /** Writes and fsyncs the body under a fresh temp name; returns that path. Fails "not_applied". */
  async #writeTemp(key: string, body: Uint8Array): Promise<string> {
    const name = this.#tempName();
    const temp = path.join(this.#tempDir, name);
    liveTempNames.add(name); // before the file exists, so that no sweep can take it for a leftover
    try {
      if (this.#directWrites && body.length >= DIRECT_WRITE_MIN_BYTES && this.#directBuffers.get(body.buffer) === body.byteOffset) {
        await this.#ensureTempDir();
        if (await writeDirect(temp, body, () => (this.#directWrites = false), this.#deviceTurns)) {
          this.#directPuts++;
          return temp;
        }
      }
      await writeSyncedAndClose(await this.#openTemp(temp), body);
      return temp;
    } catch (error) {
      await this.#discardTemp(temp);
      throw storageError("put", key, error, "not_applied");
    }
  }

  #tempName(): string {
    return `${HOST_TAG}-${process.pid}-${Buffer.from(this.#random.bytes(8)).toString("hex")}.tmp`;
  }

  #ensureTempDir(): Promise<void> {
    this.#tempDirReady ??= this.#prepareDir(this.#tempDir).catch((error: unknown) => {
      this.#tempDirReady = undefined;
      throw error;
    });
    return this.#tempDirReady;
  }

  async #openTemp(temp: string): Promise<FileHandle> {
    for (let attempt = 0; ; attempt++) {
      await this.#ensureTempDir();
      try {
        return await open(temp, "wx");
      } catch (error) {
        // The temp directory was removed behind our back: create it again, once.
        if (errnoOf(error) !== "ENOENT" || attempt >= 1) throw error;
        this.#tempDirReady = undefined;
      }
    }
  }

  async #discardTemp(temp: string): Promise<void> {
    await unlink(temp).catch(() => undefined); // ENOENT after a rename is the normal case
    liveTempNames.delete(path.basename(temp));
  }

  async #commitCreate(key: string, segments: string[], temp: string): Promise<void> {
    const file = path.join(this.root, ...segments);
    const fresh = await this.#place(key, segments, async () => {
      try {
        await link(temp, file);
      } catch (error) {
        if (errnoOf(error) !== "EEXIST") throw error;
        if (await isDirectory(file)) throw prefixConflict(key, "it is a directory holding other keys");
        throw new PreconditionFailedError(key, "the key already exists");
      }
    });
    await this.#syncAfterCommit(file, fresh);
  }

  async #commitReplace(
    key: string,
    segments: string[],
    temp: string,
    ifMatch: string | undefined,
    token: string,
  ): Promise<void> {
    const file = path.join(this.root, ...segments);
    try {
      if (ifMatch !== undefined) await this.#checkEtag(key, file, stripQuotes(ifMatch));
      await this.#locks.assertHeld(key, token);
    } catch (error) {
      throw asNotApplied("put", key, error);
    }
    const fresh = await this.#place(key, segments, async () => {
      try {
        await rename(temp, file);
      } catch (error) {
        const code = errnoOf(error);
        if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") {
          throw prefixConflict(key, "it is a directory holding other keys");
        }
        throw error;
      }
    });
    await this.#syncAfterCommit(file, fresh);
  }

  async #checkEtag(key: string, file: string, expected: string): Promise<void> {
    let current: string;
    try {
      current = await this.#withObject(key, file, async (fd, size) => etagOf(await readExactly(fd, key, 0, size)));
    } catch (error) {
      if (error instanceof NotFoundError) throw new PreconditionFailedError(key, "the key does not exist");
      throw error;
    }
    if (current !== expected) throw new PreconditionFailedError(key, "the etag has changed");
  }

  /**
   * Creates the key's directories and runs the commit (`link` or `rename`). Returns the directories
   * whose own entries are not yet known durable. Errors of the commit itself are "not_applied"
   * when the syscall certainly did nothing, "unknown" otherwise.
   */
  async #place(key: string, segments: string[], commit: () => Promise<void>): Promise<string[]> {
    for (let attempt = 0; ; attempt++) {
      const fresh = await this.#ensureDirs(key, segments);
      try {
        await commit();
        return fresh;
      } catch (error) {
        if (error instanceof DurastreamError) throw error;
        const code = errnoOf(error);
        if (code === "ENOENT" && attempt < MAX_LOCAL_PLACE_RETRIES) {
          // A directory on the path vanished (removed outside durastream), or the temp file did;
          // forget what we knew and try again. A missing temp file fails again and surfaces.
          this.#knownDurableDirs.clear();
          continue;
        }
        if (code === "ENOTDIR") throw prefixConflict(key, "a directory on its path is an object");
        const definite = code === "ENOENT" || code === "EXDEV" || code === "EACCES" || code === "EPERM";
        throw storageError("put", key, error, definite ? "not_applied" : "unknown");
      }
    }
  }

  /** mkdir of every directory on the key's path not known durable; returns those directories. */
  async #ensureDirs(key: string, segments: string[]): Promise<string[]> {
    this.#rootReady ??= this.#prepareRoot();
    await this.#rootReady;
    const fresh: string[] = [];
    let dir = this.root;
    for (const segment of segments.slice(0, -1)) {
      dir = path.join(dir, segment);
      if (this.#knownDurableDirs.has(dir)) continue;
      fresh.push(dir);
      try {
        await mkdir(dir);
      } catch (error) {
        const code = errnoOf(error);
        if (code === "ENOTDIR") throw prefixConflict(key, "a directory on its path is an object");
        // EEXIST: made by an earlier or a concurrent put (maybe not durable yet: we fsync its
        // parent too), or it is a file, which the commit then reports as ENOTDIR.
        if (code !== "EEXIST") throw storageError("put", key, error, "not_applied");
      }
    }
    return fresh;
  }

  /** fsyncs the file's directory and the parent of each fresh directory; then remembers them. */
  async #syncAfterCommit(file: string, freshDirs: string[]): Promise<void> {
    const dirs = new Set([path.dirname(file), ...freshDirs.map((dir) => path.dirname(dir))]);
    await Promise.all([...dirs].map((dir) => fsyncDirectory(dir)));
    if (this.#knownDurableDirs.size + freshDirs.length > MAX_KNOWN_DURABLE_DIRS) this.#knownDurableDirs.clear();
    for (const dir of freshDirs) this.#knownDurableDirs.add(dir);
  }

  /** Creates the root and makes its entry durable (fsync of each created level's parent). */
  async #prepareRoot(): Promise<void> {
    try {
      const first = await mkdir(this.root, { recursive: true });
      const created = first === undefined ? [this.root] : levelsBetween(first, this.root);
      for (const dir of created) await fsyncDirectory(path.dirname(dir));
    } catch (error) {
      this.#rootReady = undefined;
      throw storageError("open", this.root, error, "not_applied");
    }
  }

  /** Temp and lock directories need no fsync: nothing in them has to survive a crash. */
  async #prepareDir(dir: string): Promise<void> {
    this.#rootReady ??= this.#prepareRoot();
    await this.#rootReady;
    await mkdir(dir, { recursive: true });
  }

  /** Path of the lock file guarding `key` (exposed for tests and operators). */
  lockPathFor(key: string): string {
    keySegments(this.root, key);
    return this.#locks.lockPathFor(key);
  }

  #pathOf(key: string): string {
    return path.join(this.root, ...keySegments(this.root, key));
  }

  // ---------------------------------------------------------------------------------------------
  // Listing

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const start = listStart(prefix);
    if (start === undefined) return; // no valid key can start with this prefix
    const dir = path.join(this.root, ...start.dirSegments);
    const keyPrefix = start.dirSegments.map((segment) => `${segment}/`).join("");
    yield* this.#walk(dir, keyPrefix, start.namePrefix, options.startAfter);
  }

  /**
   * Yields the keys under `dir` in global key order. Each entry sorts by its name plus "/" for a
   * directory, since every key below it starts with that: sorting plain names is wrong when a
   * name holds a character below "/" ("c-d" comes before "c/1", but the name "c" before "c-d").
   */
  async *#walk(dir: string, keyPrefix: string, namePrefix: string, startAfter: string | undefined): AsyncGenerator<ListEntry> {
    for (const entry of await this.#sortedEntries(dir, keyPrefix, namePrefix)) {
      if (entry.isDirectory) {
        // Skip a subtree whose keys all sort at or before startAfter.
        if (startAfter !== undefined && startAfter > entry.sortKey && !startAfter.startsWith(entry.sortKey)) continue;
        yield* this.#walk(path.join(dir, entry.name), entry.sortKey, "", startAfter);
        continue;
      }
      if (startAfter !== undefined && compareKeys(entry.sortKey, startAfter) <= 0) continue;
      const size = await fileSize(path.join(dir, entry.name));
      if (size !== undefined) yield { key: entry.sortKey, size };
    }
  }

  async #sortedEntries(dir: string, keyPrefix: string, namePrefix: string) {
    let dirents;
    try {
      dirents = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isNoObject(error)) return [];
      throw storageError("list", keyPrefix, error, undefined);
    }
    const entries = [];
    for (const dirent of dirents) {
      const isDirectory = dirent.isDirectory();
      if (!dirent.name.startsWith(namePrefix) || !(isDirectory || dirent.isFile())) continue;
      const key = keyPrefix + dirent.name;
      // Leftovers and foreign files (reserved names, names no key could have) are never listed.
      if (!isValidKeyPath(this.root, isDirectory ? `${key}/x` : key)) continue;
      entries.push({ name: dirent.name, isDirectory, sortKey: isDirectory ? `${key}/` : key });
    }
    return entries.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
  }

  // ---------------------------------------------------------------------------------------------
  // Crash leftovers

  /**
   * Removes temp files whose writer is gone and breaks stale locks. Safe to run at any time, by
   * any number of processes: it never removes a temp file a live writer may still use (invariant 4).
   */
  async sweepLeftovers(): Promise<SweepReport> {
    const tempFilesRemoved = await this.#sweepTemps();
    const locksBroken = await this.#locks.sweep((name, stats) => this.#isAbandoned(name, stats));
    return { tempFilesRemoved, locksBroken };
  }

  async #sweepTemps(): Promise<number> {
    let removed = 0;
    for (const name of await namesIn(this.#tempDir)) {
      const file = path.join(this.#tempDir, name);
      const stats = await lstat(file).catch(() => undefined);
      if (stats === undefined || !this.#isAbandoned(name, stats)) continue;
      if (await unlink(file).then(() => true, () => false)) removed++;
    }
    return removed;
  }

  /** For names "<hostTag>-<pid>-<random>[.tmp]": can this file's writer no longer be using it? */
  #isAbandoned(name: string, stats: Stats): boolean {
    const match = /^([0-9a-f]{8})-(\d+)-[0-9a-f]+(?:\.tmp)?$/.exec(name);
    const oldEnough = this.#clock() - stats.mtimeMs > this.#tempStaleMs;
    if (match === null || match[1] !== HOST_TAG) return oldEnough; // cannot check the writer
    const pid = Number(match[2]);
    if (pid === process.pid) return !liveTempNames.has(name);
    return !isPidAlive(pid);
  }

}

// -----------------------------------------------------------------------------------------------
// Keys

/**
 * Splits a key into path segments, refusing anything that is not a plain relative path under the
 * root: absolute paths, backslashes, empty, "." and ".." segments, segments longer than a file
 * name may be, lone surrogates (the file name would differ from the key) and reserved names.
 */
export function keySegments(root: string, key: string): string[] {
  checkKey(key);
  const invalid = (detail: string) => new InvalidKeyError(key, detail);
  if (key.startsWith("/")) throw invalid("LocalStore keys are relative: remove the leading '/'");
  if (key.includes("\\")) throw invalid("LocalStore keys must not contain a backslash");
  if (LONE_SURROGATE.test(key)) throw invalid("LocalStore keys must be well-formed Unicode");
  const segments = key.split("/");
  for (const segment of segments) {
    if (segment === "") throw invalid("LocalStore keys must not have empty segments ('//' or a trailing '/')");
    if (segment === "." || segment === "..") throw invalid("LocalStore keys must not have '.' or '..' segments");
    if (Buffer.byteLength(segment, "utf8") > LOCAL_MAX_KEY_SEGMENT_BYTES) {
      throw invalid(`each '/'-separated segment must be at most ${LOCAL_MAX_KEY_SEGMENT_BYTES} UTF-8 bytes`);
    }
  }
  if (segments[0]?.startsWith(LOCAL_RESERVED_PREFIX)) {
    throw invalid(`keys starting with ${JSON.stringify(LOCAL_RESERVED_PREFIX)} are reserved for LocalStore's own files`);
  }
  // Defence in depth: the rules above already keep every key under the root.
  const relative = path.relative(root, path.resolve(root, ...segments));
  if (relative === "" || relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw invalid("the key would resolve outside the store's root");
  }
  return segments;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isValidKeyPath(root: string, key: string): boolean {
  try {
    keySegments(root, key);
    return true;
  } catch {
    return false;
  }
}

/** The directory a list must read and the start its entry names must have; undefined if none. */
function listStart(prefix: string): { dirSegments: string[]; namePrefix: string } | undefined {
  if (typeof prefix !== "string" || prefix.includes("\0") || prefix.includes("\\") || prefix.startsWith("/")) {
    return undefined;
  }
  const dirSegments = prefix.split("/");
  const namePrefix = dirSegments.pop() ?? "";
  const valid = dirSegments.every(
    (segment, i) =>
      segment !== "" &&
      segment !== "." &&
      segment !== ".." &&
      Buffer.byteLength(segment, "utf8") <= LOCAL_MAX_KEY_SEGMENT_BYTES &&
      !(i === 0 && segment.startsWith(LOCAL_RESERVED_PREFIX)),
  );
  return valid ? { dirSegments, namePrefix } : undefined;
}

function prefixConflict(key: string, detail: string): InvalidKeyError {
  return new InvalidKeyError(
    key,
    `${detail}; on LocalStore a key cannot be both an object and a directory of other keys ` +
      `(like "a" and "a/b"), so choose keys where no key is a '/'-prefix of another`,
  );
}

function commitOf(key: string, condition: PutCondition | undefined): Commit {
  if (condition === undefined) return { kind: "replace", ifMatch: undefined };
  if ("ifNoneMatch" in condition && condition.ifNoneMatch === "*") return { kind: "create" };
  if ("ifMatch" in condition && typeof condition.ifMatch === "string" && condition.ifMatch.length > 0) {
    return { kind: "replace", ifMatch: condition.ifMatch };
  }
  throw new ValidationError(`put of ${JSON.stringify(key)}: condition must be { ifNoneMatch: "*" } or { ifMatch: etag }`);
}

/** S3-like etag: identical bytes share it. xxhash64 of the bytes, then the size, in hex. */
export function etagOf(bytes: Uint8Array): string {
  return etagFrom(checksum64(bytes), bytes.length);
}

/** etagOf without holding the event loop: a large body is hashed LOCAL_ETAG_PIECE_BYTES per turn. */
export async function etagOfInTurns(bytes: Uint8Array): Promise<string> {
  if (bytes.length <= LOCAL_ETAG_PIECE_BYTES) return etagOf(bytes);
  const hash = new Checksum64Stream();
  for (let at = 0; at < bytes.length; at += LOCAL_ETAG_PIECE_BYTES) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    hash.update(bytes.subarray(at, at + LOCAL_ETAG_PIECE_BYTES));
  }
  return etagFrom(hash.digest(), bytes.length);
}

function etagFrom(checksum: bigint, length: number): string {
  return `${checksum.toString(16).padStart(16, "0")}-${length.toString(16)}`;
}

function stripQuotes(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

// -----------------------------------------------------------------------------------------------
// Filesystem helpers

/** Reads never follow a symlink: an object is a regular file under the root. */
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW;

/** Opens an object's file for reading: a missing one (or a symlink) is NotFoundError, anything else a StorageError. */
async function openForRead<T>(key: string, opener: () => Promise<T>): Promise<T> {
  try {
    return await opener();
  } catch (error) {
    if (isNoObject(error)) throw new NotFoundError(key);
    throw storageError("read", key, error, undefined);
  }
}

function openFd(file: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => fsOpen(file, flags, (error, fd) => (error ? reject(error) : resolve(fd))));
}

function readFd(fd: number, bytes: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, bytes, at, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))));
}

function fstatFd(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) => fsFstat(fd, (error, stats) => (error ? reject(error) : resolve(stats))));
}

/**
 * Reads `length` bytes at `position` into a buffer of its own (never a view into a shared pool;
 * uninitialized, and returned only once filled), or into the start of `into` when given (returns
 * that view; nothing writes into it once this settles: each read is awaited). A file that ends
 * early was changed outside durastream, unless `whyShort` (called then) throws a better error.
 */
async function readExactly(
  fd: number,
  key: string,
  position: number,
  length: number,
  whyShort?: () => Promise<void>,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const bytes = into === undefined ? Buffer.allocUnsafeSlow(length) : into.subarray(0, length);
  let filled = 0;
  while (filled < length) {
    const bytesRead = await readFd(fd, bytes, filled, length - filled, position + filled);
    if (bytesRead === 0) {
      await whyShort?.();
      throw new CorruptionError(key, `the file ended after ${position + filled} bytes; it was changed outside durastream`);
    }
    filled += bytesRead;
  }
  return bytes;
}

/** Unlinks an object's file. False if there was none (missing, or a directory of other keys). */
async function unlinkObject(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (error) {
    const code = errnoOf(error);
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    if ((code === "EISDIR" || code === "EPERM") && (await isDirectory(file))) return false;
    throw error;
  }
}

async function isDirectory(file: string): Promise<boolean> {
  const stats = await lstat(file).catch(() => undefined);
  return stats?.isDirectory() ?? false;
}

async function fileSize(file: string): Promise<number | undefined> {
  const stats = await lstat(file).catch(() => undefined); // deleted since readdir: skip it
  return stats?.isFile() ? stats.size : undefined;
}

/** The directories from `first` down to `last` (both included); `first` is an ancestor of `last`. */
function levelsBetween(first: string, last: string): string[] {
  const levels = [first];
  for (const segment of path.relative(first, last).split(path.sep).filter((s) => s !== "")) {
    levels.push(path.join(levels[levels.length - 1] ?? first, segment));
  }
  return levels;
}

/** For failures before the commit point: nothing was written, whatever the error says. */
function asNotApplied(operation: string, key: string, error: unknown): DurastreamError {
  if (error instanceof StorageError && error.outcome !== "not_applied") {
    return new StorageError(`${error.message}; nothing was written`, {
      retryable: error.retryable,
      outcome: "not_applied",
      cause: error.cause,
    });
  }
  return storageError(operation, key, error, "not_applied");
}

function positiveMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ValidationError(`LocalStore option ${name} must be a positive integer of milliseconds, got ${value}`);
  }
  return value;
}

/** A missing object: the file, or a directory on its path, is not there (or is not ours). */
function isNoObject(error: unknown): boolean {
  const code = errnoOf(error);
  return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP";
}

const NOT_RETRYABLE = new Set(["EACCES", "EPERM", "EROFS", "ENAMETOOLONG", "EXDEV"]);

/** Passes durastream errors through; maps an fs error to a StorageError that names only its code. */
function storageError(operation: string, key: string, error: unknown, outcome: WriteOutcome | undefined): DurastreamError {
  if (error instanceof DurastreamError) return error;
  const code = errnoOf(error) ?? "an unexpected error";
  const hint = code === "ENOSPC" ? " (the disk is full)" : code === "EROFS" ? " (the filesystem is read-only)" : "";
  const what =
    outcome === "not_applied" ? "; nothing was written" : outcome === "unknown" ? "; the write may or may not be durable" : "";
  return new StorageError(`LocalStore ${operation} of ${JSON.stringify(key)} failed with ${code}${hint}${what}`, {
    retryable: !NOT_RETRYABLE.has(code),
    ...(outcome === undefined ? {} : { outcome }),
    cause: error,
  });
}
