import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NotFoundError, PreconditionFailedError, StorageError, hasCode } from "../../src/errors.js";
import { RetryingStore, type RetryPolicy } from "../../src/engine/retrying-store.js";
import { FaultyStore, type StoreCall } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { LocalStore } from "../../src/store/local-store.js";
import { InstrumentedStore } from "../../src/engine/instrumented-store.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ManualClock } from "../../src/util/clock.js";

const POLICY: RetryPolicy = { deadlineMs: 1_000, initialBackoffMs: 10, maxBackoffMs: 80 };
const bytes = (text: string) => new Uint8Array(Buffer.from(text));

/** A RetryingStore over a FaultyStore over memory, on a manual clock; `attemptsMs` logs when each call of a kind reached the store. */
function harness(policy = POLICY, signal?: AbortSignal) {
  const clock = new ManualClock();
  const memory = new MemoryStore();
  const faulty = new FaultyStore(memory, { clock });
  const store = new RetryingStore(faulty, clock, policy, signal);
  const attemptsMs: number[] = [];
  const logAttempts = (kind: StoreCall["kind"]) => (call: StoreCall) => {
    if (call.kind === kind) attemptsMs.push(clock.elapsedMs());
    return false;
  };
  faulty.addFault({ effect: "fail", when: logAttempts("put"), times: Infinity });
  return { clock, memory, faulty, store, attemptsMs };
}

async function collectKeys(store: RetryingStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list(prefix)) keys.push(entry.key);
  return keys;
}

/** Runs `work` while moving the manual clock forward in steps until it settles (bounded). */
async function drive<T>(clock: ManualClock, work: Promise<T>, stepMs = 5, maxSteps = 10_000): Promise<T> {
  let done = false;
  const watched = work.finally(() => (done = true));
  watched.catch(() => undefined);
  for (let step = 0; step < maxSteps && !done; step++) await clock.advance(stepMs);
  assert.ok(done, "the call did not settle within the bounded time");
  return watched;
}

describe("RetryingStore", () => {
  it("retries a retryable failure with doubling backoff, capped, until the call succeeds", async () => {
    const { clock, faulty, store, attemptsMs, memory } = harness();
    faulty.failWhen((call) => call.kind === "put", { times: 5 });
    await drive(clock, store.put("a", bytes("one")), 1);
    // Attempts at 0, then after 10, 20, 40, 80 and 80 (capped) ms of backoff.
    assert.deepEqual(attemptsMs, [0, 10, 30, 70, 150, 230]);
    assert.deepEqual(Buffer.from(await memory.get("a")).toString(), "one");
  });

  it("passes answers through at once: a missing key or a failed condition is not retried", async () => {
    const { faulty, store } = harness();
    await assert.rejects(store.get("missing"), NotFoundError);
    await store.put("a", bytes("one"));
    await assert.rejects(store.put("a", bytes("two"), { ifNoneMatch: "*" }), PreconditionFailedError);
    assert.equal(faulty.counters().calls.get, 1);
    assert.equal(faulty.counters().calls.put, 2);
  });

  it("gives up with a StorageError (outcome unknown) once the next backoff would pass the deadline", async () => {
    const { clock, faulty, store, attemptsMs } = harness({ deadlineMs: 100, initialBackoffMs: 10, maxBackoffMs: 1_000 });
    faulty.failWhen((call) => call.kind === "put", { times: Infinity });
    const error = await drive(clock, store.put("a", bytes("one")).then(() => undefined, (e: unknown) => e), 1);
    assert.ok(error instanceof StorageError);
    assert.equal(error.outcome, "unknown");
    assert.match(error.message, /storeRetryDeadlineMs is 100/);
    // 0, 10, 30, 70: the next wait (80 ms) would end at 150 ms, past the 100 ms deadline.
    assert.deepEqual(attemptsMs, [0, 10, 30, 70]);
  });

  it("says how long the store kept failing in whole milliseconds (issue 13.7: not 29195.063312000002 ms)", async () => {
    // Backoffs of 0.7, 1.4, 2.8, ... ms: the store has been failing for 88.9 ms (in floating point) when it gives up.
    const { clock, faulty, store } = harness({ deadlineMs: 100, initialBackoffMs: 0.7, maxBackoffMs: 1_000 });
    faulty.failWhen((call) => call.kind === "put", { times: Infinity });
    const error = await drive(clock, store.put("a", bytes("one")).then(() => undefined, (e: unknown) => e), 0.1);
    assert.ok(error instanceof StorageError);
    assert.match(error.message, /^the store kept failing for 89 ms \(storeRetryDeadlineMs is 100\): /);
  });

  it("stops retrying when its signal fires, with the store's own error", async () => {
    const controller = new AbortController();
    const { clock, faulty, store } = harness(POLICY, controller.signal);
    faulty.failWhen((call) => call.kind === "get", { times: Infinity });
    const failed = store.get("a").then(() => undefined, (e: unknown) => e);
    await clock.advance(15);
    controller.abort();
    const error = await drive(clock, failed);
    assert.ok(hasCode(error, "storage"));
    assert.match((error as Error).message, /injected fault/);
    assert.equal(faulty.counters().calls.get, 2);
  });

  it("an ambiguous create-only put whose bytes landed succeeds: the retry finds the key taken by the same bytes", async () => {
    const { clock, faulty, store, memory } = harness();
    faulty.loseResponse("put", 1);
    const result = await drive(clock, store.put("wal/1", bytes("batch"), { ifNoneMatch: "*" }));
    assert.equal(result.etag, (await memory.head("wal/1")).etag);
  });

  it("an ambiguous create-only put that meets someone else's bytes fails with the precondition", async () => {
    const { clock, faulty, store, memory } = harness();
    // The first attempt is refused (not applied); meanwhile another writer takes the key.
    faulty.failWhen((call) => call.kind === "put" && call.attempt === 1, {
      error: new StorageError("lost", { retryable: true, outcome: "unknown" }),
    });
    const put = store.put("wal/1", bytes("mine"), { ifNoneMatch: "*" });
    await memory.put("wal/1", bytes("theirs"));
    await assert.rejects(drive(clock, put), PreconditionFailedError);
  });

  it("a non-conditional write that fails its condition on the first attempt is never read back", async () => {
    const { faulty, store } = harness();
    await store.put("a", bytes("one"));
    await assert.rejects(store.put("a", bytes("one"), { ifNoneMatch: "*" }), PreconditionFailedError);
    assert.equal(faulty.counters().calls.head, 0, "a precondition failure without an earlier ambiguous attempt is an answer");
  });

  it("retries a listing that failed before its first page", async () => {
    const { clock, faulty, store } = harness();
    for (const key of ["k/1", "k/2", "k/3"]) await store.put(key, bytes(key));
    faulty.failWhen((call) => call.kind === "list", { times: 2 });
    assert.deepEqual(await drive(clock, collectKeys(store, "k/")), ["k/1", "k/2", "k/3"]);
    assert.equal(faulty.counters().calls.list, 3);
  });

  it("resumes a listing that failed midway after the last key it yielded, without repeating or losing entries", async () => {
    const clock = new ManualClock();
    const memory = new MemoryStore();
    for (const key of ["k/1", "k/2", "k/3", "k/4"]) await memory.put(key, bytes(key));
    const startsAfter: (string | undefined)[] = [];
    // A store whose first listing breaks after two entries, as a connection that drops between pages.
    const breaking = Object.assign(Object.create(memory) as MemoryStore, {
      async *list(prefix: string, options: { startAfter?: string } = {}) {
        startsAfter.push(options.startAfter);
        let yielded = 0;
        for await (const entry of memory.list(prefix, options)) {
          if (startsAfter.length === 1 && yielded === 2) throw new StorageError("connection reset", { retryable: true });
          yielded++;
          yield entry;
        }
      },
    });
    const store = new RetryingStore(breaking, clock, POLICY);
    assert.deepEqual(await drive(clock, collectKeys(store, "k/")), ["k/1", "k/2", "k/3", "k/4"]);
    assert.deepEqual(startsAfter, [undefined, "k/2"]);
  });
});

describe("getInto through the engine's store wrappers", () => {
  it("reaches a LocalStore's getInto through the instrumented and retrying stores (counted as a GET), and falls back to get elsewhere", async () => {
    const root = await mkdtemp(path.join(tmpdir(), "durastream-getinto-"));
    try {
      const clock = new ManualClock();
      for (const inner of [new LocalStore(root), new MemoryStore()]) {
        const instrumented = new InstrumentedStore(inner);
        const store = new RetryingStore(instrumented, clock, POLICY);
        await store.put("k", bytes("0123456789"));
        const into = new Uint8Array(16);
        const got = await store.getInto("k", { offset: 2, length: 5 }, into);
        assert.equal(Buffer.from(got).toString(), "23456");
        assert.equal(got.buffer === into.buffer, inner instanceof LocalStore, "a view of `into` exactly when the store reads into it");
        assert.equal(instrumented.counts.get, 1);
        assert.equal(instrumented.counts.getBytes, 5);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
