/**
 * The file layer of the segment WAL: the few file operations it needs, on one directory.
 *
 * The segment WAL (segment-wal.ts) and its recovery (segment-recovery.ts) touch the disk only
 * through `WalDirectory`, so that tests can put a simulated disk behind it (one that loses what
 * was not fdatasync'd at a "power cut": tests/helpers/simulated-disk.ts) or stall a call (a
 * writer paused between its write and its fdatasync, or between its fdatasync and its seal
 * check). Names are plain file names inside the directory, never paths.
 *
 * Durability contract (what the real implementation promises and the simulated disk models):
 *   - `WalFile.write` lands in the page cache only; `datasync` makes every write made before it
 *     to that file durable (fdatasync: the file's size and blocks, not its name);
 *   - a new name (`createSmall`, `rename`, `unlink`) is durable only after `syncDirectory`;
 *   - `createSmall` writes and fsyncs its bytes before it returns (the name still needs
 *     `syncDirectory`), and fails with `exists` = true when the name is taken.
 */
import { constants as fsConstants, fdatasync, fdatasyncSync, statSync, watch as fsWatch, writeSync, writevSync, type FSWatcher } from "node:fs";
import { mkdir, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { WAL_SYNC_WRITE_MAX_BYTES } from "../limits.js";
import { errnoOf, fsyncDirectory, writeSyncedAndClose } from "../util/files.js";

/** An open segment file: positional reads and writes, and fdatasync. */
export interface WalFile {
  /**
   * Writes all of `bytes` at `offsetBytes` (page cache only until `datasync`). `background`:
   * work nobody waits for (a segment's zeros), kept off the event-loop thread whatever its size.
   * Returns nothing when the write is done already (a synchronous write): the group commit then
   * skips an await, whose promises were a good share of the heap each commit allocated.
   */
  write(bytes: Uint8Array, offsetBytes: number, options?: { background?: boolean }): Promise<void> | void;
  /**
   * Writes `pieces`, one after another, at `offsetBytes` (one vectored write: a segment WAL frame
   * gathered from the batches' own bytes). Page cache only until `datasync`; returns nothing when
   * the write is done already, as `write` does.
   */
  writev(pieces: readonly Uint8Array[], offsetBytes: number): Promise<void> | void;
  /**
   * Makes every earlier write to this file durable. `inline`: a file that can (a real one) makes
   * the call on the calling thread and returns nothing once it is done (the group commit's
   * fdatasync, walDatasync "inline": docs/decisions/0012); otherwise it returns a promise.
   */
  datasync(options?: { inline?: boolean }): Promise<void> | void;
  /** Reads up to `lengthBytes` at `offsetBytes` (fewer at the end of the file). */
  read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array>;
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

/** One directory of WAL files. */
export interface WalDirectory {
  /** A description for error messages (the directory's path). */
  readonly description: string;
  /** Creates the directory (and its parents) if missing, durably. */
  ensure(): Promise<void>;
  /** The names in the directory (empty when it does not exist). */
  list(): Promise<string[]>;
  /** Creates `name` exclusively and returns it open for writing; throws if it exists. */
  createFile(name: string): Promise<WalFile>;
  /** Opens an existing file for reading and writing; undefined when it does not exist. */
  openFile(name: string): Promise<WalFile | undefined>;
  /** Creates `name` with `bytes`, exclusively, and fsyncs it; false when the name was taken. */
  createSmall(name: string, bytes: Uint8Array): Promise<boolean>;
  /** Whether `name` exists (a boolean when known at once, as `write` returns nothing when done). */
  exists(name: string): Promise<boolean> | boolean;
  rename(from: string, to: string): Promise<void>;
  /** Removes `name`; no error when it is already gone. */
  unlink(name: string): Promise<void>;
  /** Makes the directory's entries (creates, renames, unlinks so far) durable. */
  syncDirectory(): Promise<void>;
  /** Calls `onChange` when files in the directory change (a cheap wake-up); returns a stop function. */
  watch?(onChange: () => void): () => void;
}

/** The real file layer, on node:fs/promises. */
export class NodeWalDirectory implements WalDirectory {
  readonly description: string;
  readonly #dir: string;
  #lastName = "";
  #lastPath = "";

  constructor(dir: string) {
    this.#dir = path.resolve(dir);
    this.description = this.#dir;
  }

  async ensure(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await fsyncDirectory(path.dirname(this.#dir));
    await fsyncDirectory(this.#dir);
  }

  async list(): Promise<string[]> {
    try {
      return await readdir(this.#dir);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return [];
      throw error;
    }
  }

  async createFile(name: string): Promise<WalFile> {
    return new NodeWalFile(await open(this.#path(name), "wx+"));
  }

  async openFile(name: string): Promise<WalFile | undefined> {
    try {
      return new NodeWalFile(await open(this.#path(name), fsConstants.O_RDWR | fsConstants.O_NOFOLLOW));
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return undefined;
      throw error;
    }
  }

  async createSmall(name: string, bytes: Uint8Array): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await open(this.#path(name), "wx");
    } catch (error) {
      if (errnoOf(error) === "EEXIST") return false;
      throw error;
    }
    await writeSyncedAndClose(handle, bytes);
    return true;
  }

  exists(name: string): boolean {
    // A synchronous stat of one name (microseconds): the seal check after every fdatasync would
    // otherwise add a thread-pool round trip to every group commit. No exception for a missing
    // name, the usual answer (building one cost more than the stat); any other error throws.
    return statSync(this.#path(name), { throwIfNoEntry: false }) !== undefined;
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(this.#path(from), this.#path(to));
  }

  async unlink(name: string): Promise<void> {
    await unlink(this.#path(name)).catch((error: unknown) => {
      if (errnoOf(error) !== "ENOENT") throw error;
    });
  }

  async syncDirectory(): Promise<void> {
    await fsyncDirectory(this.#dir);
  }

  watch(onChange: () => void): () => void {
    let watcher: FSWatcher;
    try {
      watcher = fsWatch(this.#dir, { persistent: false }, () => onChange());
    } catch {
      return () => {}; // no directory (yet): the follower's timer polls
    }
    watcher.on("error", () => watcher.close());
    return () => watcher.close();
  }

  #path(name: string): string {
    // The seal check asks for the same name after every group commit: keep the last path.
    if (name === this.#lastName) return this.#lastPath;
    if (name.length === 0 || name.includes("/") || name === "." || name === "..") throw new RangeError(`bad WAL file name ${JSON.stringify(name)}`);
    this.#lastPath = path.join(this.#dir, name);
    this.#lastName = name;
    return this.#lastPath;
  }
}

class NodeWalFile implements WalFile {
  constructor(readonly handle: FileHandle) {}

  write(bytes: Uint8Array, offsetBytes: number, options: { background?: boolean } = {}): Promise<void> | void {
    if (bytes.length > WAL_SYNC_WRITE_MAX_BYTES || options.background === true) return this.#writeOnPool(bytes, offsetBytes);
    for (let done = 0; done < bytes.length; ) {
      const bytesWritten = writeSync(this.handle.fd, bytes, done, bytes.length - done, offsetBytes + done); // page cache only: see the limit
      if (bytesWritten <= 0) throw new Error(`write of ${bytes.length} bytes at ${offsetBytes} made no progress`);
      done += bytesWritten;
    }
  }

  writev(pieces: readonly Uint8Array[], offsetBytes: number): Promise<void> | void {
    let totalBytes = 0;
    for (const piece of pieces) totalBytes += piece.length;
    if (totalBytes > WAL_SYNC_WRITE_MAX_BYTES) return this.#writevOnPool(pieces, offsetBytes, totalBytes);
    let rest = pieces;
    for (let done = 0; done < totalBytes; ) {
      const bytesWritten = writevSync(this.handle.fd, rest, offsetBytes + done); // page cache only: see the limit
      if (bytesWritten <= 0) throw new Error(`write of ${totalBytes} bytes at ${offsetBytes} made no progress`);
      done += bytesWritten;
      if (done < totalBytes) rest = piecesAfter(rest, bytesWritten);
    }
  }

  async #writevOnPool(pieces: readonly Uint8Array[], offsetBytes: number, totalBytes: number): Promise<void> {
    let rest = pieces;
    for (let done = 0; done < totalBytes; ) {
      const { bytesWritten } = await this.handle.writev(rest, offsetBytes + done);
      if (bytesWritten <= 0) throw new Error(`write of ${totalBytes} bytes at ${offsetBytes} made no progress`);
      done += bytesWritten;
      if (done < totalBytes) rest = piecesAfter(rest, bytesWritten);
    }
  }

  async #writeOnPool(bytes: Uint8Array, offsetBytes: number): Promise<void> {
    for (let done = 0; done < bytes.length; ) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, offsetBytes + done);
      if (bytesWritten <= 0) throw new Error(`write of ${bytes.length} bytes at ${offsetBytes} made no progress`);
      done += bytesWritten;
    }
  }

  datasync(options: { inline?: boolean } = {}): Promise<void> | void {
    // On the calling thread: no thread-pool round trip (60-150 us on the bench machine), but the
    // event loop waits for the disk (decision 0012). A failure throws, as the write's does.
    if (options.inline === true) return fdatasyncSync(this.handle.fd);
    // The callback API on the handle's fd: FileHandle.datasync() allocated about 1.4 KiB of
    // promises and closures per call, once per group commit (bench/README.md, serial).
    return new Promise((resolve, reject) => fdatasync(this.handle.fd, (error) => (error === null ? resolve() : reject(error))));
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(lengthBytes);
    let done = 0;
    while (done < lengthBytes) {
      const { bytesRead } = await this.handle.read(buffer, done, lengthBytes - done, offsetBytes + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  }

  async sizeBytes(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}


/** Where a stall hook may pause a WAL writer (tests of fencing races). */
export type WalStallPoint = "before-write" | "before-datasync" | "before-seal-check";

/**
 * A file layer that lets a test pause calls: `stall(point, name)` is awaited right before a
 * file's `write` ("before-write") and `datasync` ("before-datasync"), and before `exists`
 * ("before-seal-check": the writer's only use of `exists` is its seal check). Everything else
 * passes through.
 */
export class StallingWalDirectory implements WalDirectory {
  readonly description: string;

  constructor(
    readonly inner: WalDirectory,
    readonly stall: (point: WalStallPoint, name: string) => Promise<void>,
  ) {
    this.description = inner.description;
  }

  ensure(): Promise<void> {
    return this.inner.ensure();
  }
  list(): Promise<string[]> {
    return this.inner.list();
  }
  async createFile(name: string): Promise<WalFile> {
    return this.#wrap(name, await this.inner.createFile(name));
  }
  async openFile(name: string): Promise<WalFile | undefined> {
    const file = await this.inner.openFile(name);
    return file === undefined ? undefined : this.#wrap(name, file);
  }
  createSmall(name: string, bytes: Uint8Array): Promise<boolean> {
    return this.inner.createSmall(name, bytes);
  }
  async exists(name: string): Promise<boolean> {
    await this.stall("before-seal-check", name);
    return this.inner.exists(name);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  unlink(name: string): Promise<void> {
    return this.inner.unlink(name);
  }
  syncDirectory(): Promise<void> {
    return this.inner.syncDirectory();
  }

  #wrap(name: string, file: WalFile): WalFile {
    const stall = this.stall;
    return {
      write: async (bytes, offsetBytes, options) => {
        await stall("before-write", name);
        await file.write(bytes, offsetBytes, options);
      },
      writev: async (pieces, offsetBytes) => {
        await stall("before-write", name);
        await file.writev(pieces, offsetBytes);
      },
      datasync: async (options) => {
        await stall("before-datasync", name);
        await file.datasync(options);
      },
      read: (offsetBytes, lengthBytes) => file.read(offsetBytes, lengthBytes),
      sizeBytes: () => file.sizeBytes(),
      close: () => file.close(),
    };
  }
}

/** `pieces` without their first `skipBytes` bytes (after a write that wrote only those). */
export function piecesAfter(pieces: readonly Uint8Array[], skipBytes: number): Uint8Array[] {
  let index = 0;
  let skip = skipBytes;
  while (index < pieces.length && skip >= pieces[index]!.length) skip -= pieces[index++]!.length;
  const rest = pieces.slice(index);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}
