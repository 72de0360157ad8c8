/**
 * Test helpers for the behaviour suites of the public stream API (tests/stream/api-*.test.ts).
 *
 * Everything goes through the public surface (src/index.ts) except where a test needs to hold a
 * store call (HoldingStore) or look at the store's objects. Logs run on a MemoryStore with a
 * ManualClock, so record timestamps, retention expiry and `waitMs` timers move only when a test
 * says so. `flushIntervalMs: 0` keeps WAL flushes off the clock: with a spacing above 0 and a
 * clock that never advances, the second flush would wait for a timer forever.
 */
import assert from "node:assert/strict";
import {
  AbortedError,
  ClosedError,
  DurastreamError,
  FencingTokenMismatchError,
  ManualClock,
  SeqNumMismatchError,
  StreamExistsError,
  StreamNotFoundError,
  UnwrittenError,
  ValidationError,
  MemoryStore,
  openLog,
  recordText,
  type ErrorCode,
  type Log,
  type LogOptions,
  type ObjectStore,
  type ReadRecord,
  type Stream,
} from "../../src/index.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, PutCondition, PutResult } from "../../src/store/object-store.js";
import { mayBeWalFence } from "../../src/engine/wal-format.js";

/** Wall-clock start of every test clock: a plausible epoch time, so timestamps look real. */
export const T0 = 1_700_000_000_000;

export interface TestLog {
  log: Log;
  store: ObjectStore;
  clock: ManualClock;
  /** Closes the log and opens a new one on the same store and clock (a restart). */
  reopen(options?: Partial<LogOptions>): Promise<Log>;
}

/** Opens a log on a fresh MemoryStore (or `store`) with a ManualClock at T0. */
export async function openTestLog(options: Partial<LogOptions> & { store?: ObjectStore } = {}): Promise<TestLog> {
  const store = options.store ?? new MemoryStore();
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock({ startMs: T0 });
  const base: LogOptions = { flushIntervalMs: 0, ...options, store, clock };
  const t: TestLog = {
    log: await openLog(base),
    store,
    clock,
    reopen: async (more = {}) => {
      await t.log.close();
      t.log = await openLog({ ...base, ...more });
      return t.log;
    },
  };
  return t;
}

/** Runs `fn` with a fresh test log and always closes it. */
export async function withLog<T>(fn: (t: TestLog) => Promise<T>, options: Partial<LogOptions> & { store?: ObjectStore } = {}): Promise<T> {
  const t = await openTestLog(options);
  try {
    return await fn(t);
  } finally {
    await t.log.close();
  }
}

/** Runs `fn` with a fresh test log and one created stream named "s" (or `name`). */
export async function withStream<T>(
  fn: (stream: Stream, t: TestLog) => Promise<T>,
  options: Partial<LogOptions> & { store?: ObjectStore; name?: string; config?: Parameters<Log["createStream"]>[1] } = {},
): Promise<T> {
  const { name = "s", config, ...logOptions } = options;
  return withLog(async (t) => {
    await t.log.createStream(name, config ?? {});
    return fn(await t.log.openStream(name), t);
  }, logOptions);
}

/** Reads a whole (non-following) session into an array. */
export async function collect(session: AsyncIterable<ReadRecord>): Promise<ReadRecord[]> {
  const out: ReadRecord[] = [];
  for await (const record of session) out.push(record);
  return out;
}

export function texts(records: readonly ReadRecord[]): string[] {
  return records.map((record) => recordText(record));
}

export function seqNums(records: readonly ReadRecord[]): number[] {
  return records.map((record) => record.seqNum);
}

/** Appends `count` single-record batches with bodies `${prefix}${i}`, one after another. */
export async function appendEach(stream: Stream, count: number, prefix = "r"): Promise<void> {
  for (let i = 0; i < count; i++) await stream.append([{ body: `${prefix}${i}` }]);
}

/** `count` records with bodies `${prefix}${i}`. */
export function bodies(count: number, prefix = "r"): { body: string }[] {
  return Array.from({ length: count }, (_, i) => ({ body: `${prefix}${i}` }));
}

/** A record whose metered size (8 + body bytes, no headers) is exactly `meteredBytes`. */
export function recordOfMeteredSize(meteredBytes: number, fill = 0x61): { body: Uint8Array } {
  assert.ok(meteredBytes >= 8, "a record meters at least 8 bytes");
  return { body: new Uint8Array(meteredBytes - 8).fill(fill) };
}

/** The error class behind each code the stream API raises (other codes map to the base class). */
interface ErrorClassByCode {
  validation: ValidationError;
  seq_num_mismatch: SeqNumMismatchError;
  fencing_token_mismatch: FencingTokenMismatchError;
  unwritten: UnwrittenError;
  stream_not_found: StreamNotFoundError;
  stream_exists: StreamExistsError;
  closed: ClosedError;
  aborted: AbortedError;
}

export type ErrorWithCode<C extends ErrorCode> = C extends keyof ErrorClassByCode ? ErrorClassByCode[C] : DurastreamError & { code: C };

/** Asserts that `promise` rejects with a DurastreamError of `code`, and returns that error. */
export async function rejectsWithCode<C extends ErrorCode>(promise: Promise<unknown>, code: C, message?: string): Promise<ErrorWithCode<C>> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `${message ?? "the call"} should have rejected with ${code}, but it resolved`);
  assert.ok(caught instanceof DurastreamError, `expected a DurastreamError with code ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`);
  return caught as ErrorWithCode<C>;
}

/** Asserts that iterating `session` fails with `code` before or at its first record. */
export function readRejectsWithCode<C extends ErrorCode>(session: AsyncIterable<ReadRecord>, code: C): Promise<ErrorWithCode<C>> {
  return rejectsWithCode(collect(session), code, "the read");
}

/**
 * A consumer of a following read that runs in the background: it records what arrives so the
 * test can wait for the n-th record, and `done` settles when the session ends.
 */
export interface Consumer {
  readonly records: ReadRecord[];
  /** Resolves with the records once at least `n` arrived; rejects if the session ends first. */
  waitFor(n: number): Promise<ReadRecord[]>;
  /** Resolves when the iteration ends (rejects with its error). */
  readonly done: Promise<ReadRecord[]>;
  /** True once the iteration ended. */
  readonly ended: boolean;
}

/**
 * Starts consuming `session` in the background. With `gate`, the consumer awaits `gate()`
 * before pulling each record after the first: a slow reader that the test paces.
 */
export function consume(session: AsyncIterable<ReadRecord>, gate?: () => Promise<void>): Consumer {
  const records: ReadRecord[] = [];
  const waiters: { n: number; resolve: (r: ReadRecord[]) => void; reject: (e: unknown) => void }[] = [];
  let ended = false;
  let endError: unknown;
  const settleWaiters = () => {
    for (const waiter of [...waiters]) {
      if (records.length >= waiter.n) waiter.resolve(records);
      else if (ended) waiter.reject(endError ?? new Error(`the session ended after ${records.length} records, before ${waiter.n}`));
      else continue;
      waiters.splice(waiters.indexOf(waiter), 1);
    }
  };
  const done = (async () => {
    try {
      for await (const record of session) {
        records.push(record);
        settleWaiters();
        if (gate !== undefined) await gate();
      }
      return records;
    } catch (error) {
      endError = error;
      throw error;
    } finally {
      ended = true;
      settleWaiters();
    }
  })();
  done.catch(() => undefined);
  return {
    records,
    done,
    get ended() {
      return ended;
    },
    waitFor: (n) =>
      new Promise<ReadRecord[]>((resolve, reject) => {
        waiters.push({ n, resolve, reject });
        settleWaiters();
      }),
  };
}

/** Lets pending promise chains and immediates run (one macrotask turn), `turns` times. */
export async function settle(turns = 1): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A promise the test resolves by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Sum of the sizes of the objects under `prefix` in `store`. */
export async function storedBytes(store: ObjectStore, prefix: string): Promise<number> {
  let total = 0;
  for await (const entry of store.list(prefix)) total += entry.size;
  return total;
}

/**
 * Checks that every method of a closed log, and of a stream handle from it, fails with code
 * `closed` (reads fail when iterated); `close()` itself stays harmless.
 */
export async function assertEverythingClosed(log: Log, stream: Stream): Promise<void> {
  const calls: [string, () => Promise<unknown>][] = [
    ["log.openStream", () => log.openStream(stream.name)],
    ["log.openStream(createIfMissing)", () => log.openStream("another", { createIfMissing: true })],
    ["log.createStream", () => log.createStream("another")],
    ["log.reconfigureStream", () => log.reconfigureStream(stream.name, { retention: "infinite" })],
    ["log.deleteStream", () => log.deleteStream(stream.name)],
    ["log.listStreams", () => log.listStreams()],
    ["stream.append", () => stream.append([{ body: "x" }])],
    ["stream.checkTail", () => stream.checkTail()],
    ["stream.fence", () => stream.fence("t")],
    ["stream.trim", () => stream.trim(1)],
    ["stream.read", () => collect(stream.read({ from: { seqNum: 0 } }))],
    ["stream.read(follow)", () => collect(stream.read({ follow: true }))],
    ["appendSession.submit", () => stream.appendSession().submit([{ body: "x" }])],
  ];
  for (const [what, call] of calls) await rejectsWithCode(call(), "closed", what);
  await log.close(); // idempotent
  assert.equal(log.health().status, "closed");
}

/**
 * An ObjectStore wrapper that can hold WAL PUTs before they reach the inner store, so a test can
 * look at the log while an append is written but not yet durable.
 */
export class HoldingStore implements ObjectStore {
  readonly description = "holding(memory)";
  readonly inner: ObjectStore;
  #holding = false;
  #held: (() => void)[] = [];
  #heldWaiters: (() => void)[] = [];

  constructor(inner: ObjectStore = new MemoryStore()) {
    this.inner = inner;
  }

  /** From now on, WAL PUTs wait until `release()`. */
  holdWal(): void {
    this.#holding = true;
  }

  /** Lets every held WAL PUT through and stops holding. */
  release(): void {
    this.#holding = false;
    const held = this.#held;
    this.#held = [];
    for (const go of held) go();
  }

  /** Resolves once at least one WAL PUT is being held. */
  async whenHeld(): Promise<void> {
    if (this.#held.length > 0) return;
    await new Promise<void>((resolve) => this.#heldWaiters.push(resolve));
  }

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.inner.get(key, range);
  }
  head(key: string): Promise<ObjectInfo> {
    return this.inner.head(key);
  }
  async put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    if (this.#holding && key.startsWith("wal/") && !mayBeWalFence(body.length)) {
      await new Promise<void>((resolve) => {
        this.#held.push(resolve);
        for (const wake of this.#heldWaiters.splice(0)) wake();
      });
    }
    return this.inner.put(key, body, condition);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    return this.inner.list(prefix, options);
  }
}

