/**
 * LocalStore's per-key lock between processes, for the writes that are not create-only (ifMatch
 * puts, plain puts and deletes). The reasoning and the table of races are in
 * docs/decisions/0001-local-store.md. In short:
 *
 *   <root>/.durastream-locks/<xxh64(key)>.lock    JSON {pid, host, token, acquiredAtMs}
 *
 *   - in one process, a key's operations queue on an in-memory mutex (`runExclusive`), so the
 *     lock file is only contended between processes;
 *   - acquire: write the record to a unique draft and link() it to the lock name (atomic and
 *     exclusive like O_CREAT|O_EXCL, and a lock file is never seen empty); EEXIST means held;
 *   - a lock older than `staleMs`, or written on this host by a pid that no longer runs, or by
 *     this pid under a token this process does not hold (an earlier process with the same pid),
 *     is stale: it is broken under `<lock>.break` (rename it to a unique grave, check the grave
 *     held the token judged stale, else link it back so that its owner keeps it);
 *   - the holder checks its token is still there right before it commits (`assertHeld`): a
 *     holder whose lock was broken fails, retryable and not applied;
 *   - release: unlink the lock if it still carries the holder's token.
 *
 * Time and randomness are injected: the wall clock dates records and judges their age, the
 * monotonic clock bounds the wait, and tokens and poll jitter come from `random`.
 */
import { type Stats } from "node:fs";
import { link, lstat, open, readdir, rename, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { StorageError } from "../errors.js";
import { checksum32, checksum64 } from "../util/checksum.js";
import type { Clock } from "../util/clock.js";
import type { Random } from "../util/random.js";
import { LOCAL_LOCK_BREAK_ATTEMPTS, LOCAL_LOCK_POLL_MAX_MS, LOCAL_LOCK_POLL_MIN_MS } from "../limits.js";
import { errnoOf } from "../util/files.js";

export const HOST = hostname();
/** The host part of the names of temp files, drafts and graves ("<hostTag>-<pid>-<random>"). */
export const HOST_TAG = checksum32(new TextEncoder().encode(HOST)).toString(16).padStart(8, "0");

interface LockRecord {
  pid: number;
  host: string;
  token: string;
  acquiredAtMs: number;
}

type LockState =
  | { kind: "absent" }
  | { kind: "live"; record: LockRecord | undefined }
  | { kind: "stale"; record: LockRecord | undefined; reason: string };

/** Process-wide, so that two LocalStores on one root in one process still exclude each other. */
const heldLockTokens = new Set<string>();
const mutexTails = new Map<string, Promise<void>>();

export interface LocalKeyLocksOptions {
  /** The lock directory. */
  dir: string;
  /** Creates the lock directory if it is missing (called again after it vanished). */
  prepareDir: () => Promise<void>;
  /** A lock older than this is stale whoever holds it (LocalStoreOptions.lockStaleMs). */
  staleMs: number;
  /** How long to wait for a held lock before failing, retryable and not applied (lockWaitMs). */
  waitMs: number;
  /** Wall clock (ms since the epoch) for lock records and their age. */
  wallMs: () => number;
  /** Elapsed time and sleeps, for the wait. */
  timers: Pick<Clock, "elapsedMs" | "sleep">;
  /** Tokens and poll jitter. */
  random: Random;
}

export class LocalKeyLocks {
  readonly #dir: string;
  readonly #prepareDir: () => Promise<void>;
  readonly #staleMs: number;
  readonly #waitMs: number;
  readonly #wallMs: () => number;
  readonly #timers: Pick<Clock, "elapsedMs" | "sleep">;
  readonly #random: Random;
  #dirReady: Promise<void> | undefined;

  constructor(options: LocalKeyLocksOptions) {
    this.#dir = options.dir;
    this.#prepareDir = options.prepareDir;
    this.#staleMs = options.staleMs;
    this.#waitMs = options.waitMs;
    this.#wallMs = options.wallMs;
    this.#timers = options.timers;
    this.#random = options.random;
  }

  /** Runs `fn` holding the lock on `key`, with the lock's token (to check before a commit). */
  async withKeyLock<T>(key: string, fn: (token: string) => Promise<T>): Promise<T> {
    const lockPath = this.lockPathFor(key);
    return runExclusive(lockPath, async () => {
      const token = await this.#acquire(key, lockPath).catch((error: unknown) => {
        throw notApplied(key, error);
      });
      try {
        return await fn(token);
      } finally {
        await releaseLock(lockPath, token);
      }
    });
  }

  /** Path of the lock file guarding `key`. */
  lockPathFor(key: string): string {
    const hash = checksum64(new TextEncoder().encode(key)).toString(16).padStart(16, "0");
    return path.join(this.#dir, `${hash}.lock`);
  }

  async #acquire(key: string, lockPath: string): Promise<string> {
    const deadline = this.#timers.elapsedMs() + this.#waitMs;
    let pauseMs = LOCAL_LOCK_POLL_MIN_MS;
    for (;;) {
      const token = await this.#tryCreateLock(lockPath);
      if (token !== undefined) return token;
      const state = await this.#inspectLock(lockPath);
      if (this.#timers.elapsedMs() >= deadline) {
        throw lockTimeout(key, this.#waitMs, state.kind === "absent" ? undefined : state.record);
      }
      if (state.kind === "absent") continue; // released meanwhile: try again at once
      if (state.kind === "stale" && (await this.#breakStaleLock(lockPath))) continue;
      // Live, or stale while another process is breaking it.
      await this.#timers.sleep(pauseMs * (0.5 + this.#random.next()));
      pauseMs = Math.min(pauseMs * 2, LOCAL_LOCK_POLL_MAX_MS);
    }
  }

  /**
   * One attempt to take the lock. The record is written to a unique file first and then linked to
   * the lock name (atomic, EEXIST when held), so a lock file is never seen empty: a process killed
   * between creating and writing it would otherwise leave a lock nobody can judge for lockStaleMs.
   * Returns the token, or undefined when another lock file is there.
   */
  async #tryCreateLock(lockPath: string): Promise<string | undefined> {
    const token = Buffer.from(this.#random.bytes(12)).toString("hex");
    const record: LockRecord = { pid: process.pid, host: HOST, token, acquiredAtMs: this.#wallMs() };
    const draft = `${lockPath}.new-${HOST_TAG}-${process.pid}-${token}`;
    heldLockTokens.add(token); // before the file exists: our own pid must never look stale to us
    try {
      await this.#writeDraft(draft, JSON.stringify(record));
      await link(draft, lockPath);
      return token;
    } catch (error) {
      heldLockTokens.delete(token);
      if (errnoOf(error) === "EEXIST") return undefined;
      throw error;
    } finally {
      await unlink(draft).catch(() => undefined);
    }
  }

  async #writeDraft(draft: string, text: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.#dirReady ??= this.#prepareDir().catch((error: unknown) => {
        this.#dirReady = undefined;
        throw error;
      });
      await this.#dirReady;
      try {
        return await writeFile(draft, text, { flag: "wx" });
      } catch (error) {
        // The lock directory was removed behind our back: create it again, once.
        if (errnoOf(error) !== "ENOENT" || attempt >= 1) throw error;
        this.#dirReady = undefined;
      }
    }
  }

  async #inspectLock(lockPath: string): Promise<LockState> {
    const seen = await readLockFile(lockPath);
    if (seen === undefined) return { kind: "absent" };
    const reason = this.#staleReason(seen.record, seen.stats);
    return reason === undefined ? { kind: "live", record: seen.record } : { kind: "stale", record: seen.record, reason };
  }

  #staleReason(record: LockRecord | undefined, stats: Stats): string | undefined {
    const ageMs = this.#wallMs() - (record?.acquiredAtMs ?? stats.mtimeMs);
    if (ageMs > this.#staleMs) return `older than ${this.#staleMs} ms`;
    if (record === undefined || record.host !== HOST) return undefined; // its owner cannot be checked
    if (record.pid === process.pid) {
      return heldLockTokens.has(record.token) ? undefined : "left by an earlier process with this pid";
    }
    return isPidAlive(record.pid) ? undefined : `its owner pid ${record.pid} is not running`;
  }

  /** Breaks `lockPath` if it is still stale, holding `<lock>.break` meanwhile. True if broken. */
  async #breakStaleLock(lockPath: string): Promise<boolean> {
    const breakPath = `${lockPath}.break`;
    for (let attempt = 0; attempt < LOCAL_LOCK_BREAK_ATTEMPTS; attempt++) {
      const breakToken = await this.#tryCreateLock(breakPath);
      if (breakToken === undefined) {
        // Someone else is breaking it, or crashed while doing so: then clear the stale break
        // lock and try once more.
        const state = await this.#inspectLock(breakPath);
        if (state.kind === "stale" && (await this.#moveAside(breakPath, state.record?.token))) continue;
        return false;
      }
      try {
        const state = await this.#inspectLock(lockPath);
        return state.kind === "stale" && (await this.#moveAside(lockPath, state.record?.token));
      } finally {
        await releaseLock(breakPath, breakToken);
      }
    }
    return false;
  }

  /**
   * Renames the lock file to a grave and checks it held `staleToken`; if it held another token (a
   * fresh lock appeared meanwhile), links it back so that its owner keeps it. True if removed.
   */
  async #moveAside(lockPath: string, staleToken: string | undefined): Promise<boolean> {
    const grave = `${lockPath}.grave-${HOST_TAG}-${process.pid}-${Buffer.from(this.#random.bytes(6)).toString("hex")}`;
    try {
      await rename(lockPath, grave);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return false;
      throw error;
    }
    const moved = await readLockFile(grave);
    const wasStale = moved !== undefined && moved.record?.token === staleToken;
    if (!wasStale && moved !== undefined) {
      // EEXIST: a third lock was created meanwhile; the moved lock's owner then fails its check.
      await link(grave, lockPath).catch(() => undefined);
    }
    await unlink(grave).catch(() => undefined);
    return wasStale;
  }

  /** Fails (retryable, not applied) unless the lock on `key` still carries `token`. */
  async assertHeld(key: string, token: string): Promise<void> {
    const seen = await readLockFile(this.lockPathFor(key));
    if (seen?.record?.token !== token) {
      throw new StorageError(
        `the lock on ${JSON.stringify(key)} was broken as stale while this process held it; nothing was written, retry`,
        { retryable: true, outcome: "not_applied" },
      );
    }
  }

  /**
   * Breaks stale locks and removes the drafts and graves of killed processes. `isAbandoned` judges
   * a "<hostTag>-<pid>-<random>" owner name (the store's temp-file rule).
   */
  async sweep(isAbandoned: (ownerName: string, stats: Stats) => boolean): Promise<number> {
    let broken = 0;
    for (const name of await namesIn(this.#dir)) {
      const file = path.join(this.#dir, name);
      // Drafts and graves exist for a few syscalls; they are left only by a killed process.
      const owner = /\.(?:new|grave)-(.+)$/.exec(name);
      if (owner?.[1] !== undefined) {
        const stats = await lstat(file).catch(() => undefined);
        if (stats !== undefined && isAbandoned(owner[1], stats)) await unlink(file).catch(() => undefined);
        continue;
      }
      const state = name.endsWith(".lock") || name.endsWith(".lock.break") ? await this.#inspectLock(file) : undefined;
      if (state?.kind !== "stale") continue;
      const removed = name.endsWith(".lock")
        ? await this.#breakStaleLock(file)
        : await this.#moveAside(file, state.record?.token);
      if (removed) broken++;
    }
    return broken;
  }
}

async function readLockFile(file: string): Promise<{ record: LockRecord | undefined; stats: Stats } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return undefined;
    throw error;
  }
  try {
    const stats = await handle.stat();
    const text = await handle.readFile("utf8");
    return { record: parseLockRecord(text), stats };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Undefined for a foreign or damaged file (locks are linked in whole): its mtime gives its age. */
function parseLockRecord(text: string): LockRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null) return undefined;
    const { pid, host, token, acquiredAtMs } = value as Record<string, unknown>;
    if (!Number.isSafeInteger(pid) || typeof host !== "string" || typeof token !== "string") return undefined;
    if (typeof acquiredAtMs !== "number" || !Number.isFinite(acquiredAtMs)) return undefined;
    return { pid: pid as number, host, token, acquiredAtMs };
  } catch {
    return undefined;
  }
}

async function releaseLock(lockPath: string, token: string): Promise<void> {
  try {
    const seen = await readLockFile(lockPath);
    if (seen?.record?.token === token) await unlink(lockPath);
  } catch {
    // Left behind, the lock is stale (our pid, a token we no longer hold) and is broken at once.
  } finally {
    heldLockTokens.delete(token);
  }
}

/** Whether a process with this pid runs on this host (EPERM: it runs under another user). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) !== "ESRCH"; // EPERM: it runs under another user
  }
}

/** Runs `fn` after every earlier call for the same name has finished (an in-process mutex). */
async function runExclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const previous = mutexTails.get(name) ?? Promise.resolve();
  let release = () => {};
  const current = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => current);
  mutexTails.set(name, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (mutexTails.get(name) === tail) mutexTails.delete(name);
  }
}

function lockTimeout(key: string, waitMs: number, owner: LockRecord | undefined): StorageError {
  const holder = owner === undefined ? "another process" : `pid ${owner.pid} on ${owner.host}`;
  return new StorageError(
    `timed out after ${waitMs} ms waiting for the lock on ${JSON.stringify(key)} held by ${holder}; ` +
      `nothing was written; retry, or raise lockWaitMs`,
    { retryable: true, outcome: "not_applied" },
  );
}

/** The names in `dir`; none when it does not exist. */
export async function namesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** A failure to take the lock: nothing was written, whatever the error says. */
function notApplied(key: string, error: unknown): StorageError {
  if (error instanceof StorageError && error.outcome === "not_applied") return error;
  const code = errnoOf(error) ?? "an unexpected error";
  return new StorageError(`LocalStore could not take the lock on ${JSON.stringify(key)} (${code}); nothing was written`, {
    retryable: code !== "EACCES" && code !== "EPERM" && code !== "EROFS",
    outcome: "not_applied",
    cause: error,
  });
}
