import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AbortedError, ClosedError, InternalError } from "../../src/errors.js";
import { ByteSemaphore, type Permit } from "../../src/stream/byte-semaphore.js";

/** Lets every settled promise run its callbacks (no timer involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Tracks a pending acquisition without awaiting it (methods, so that asserts do not narrow). */
function track(promise: Promise<Permit>) {
  let permit: Permit | undefined;
  let error: unknown;
  promise.then(
    (p) => (permit = p),
    (e: unknown) => (error = e),
  );
  return { permit: () => permit, error: () => error };
}

describe("ByteSemaphore", () => {
  it("grants at once while the bytes fit and counts them until released", async () => {
    const sem = new ByteSemaphore(10);
    const a = await sem.acquire(4);
    const b = await sem.acquire(6);
    assert.equal(sem.inUseBytes, 10);
    assert.equal(sem.waits, 0);
    a.release();
    assert.equal(sem.inUseBytes, 6);
    b.release();
    assert.equal(sem.inUseBytes, 0);
  });

  it("takes at least 1 byte and at most the whole capacity", async () => {
    const sem = new ByteSemaphore(10);
    const empty = await sem.acquire(0);
    assert.equal(empty.bytes, 1);
    const huge = track(sem.acquire(1_000));
    await settle();
    assert.equal(huge.permit(), undefined, "a clamped request still waits for the whole capacity");
    empty.release();
    await settle();
    assert.equal(huge.permit()?.bytes, 10);
    assert.equal(sem.inUseBytes, 10);
  });

  it("serves waiters in FIFO order: a small request waits behind a large one that does not fit", async () => {
    const sem = new ByteSemaphore(10);
    const held = await sem.acquire(6);
    const large = track(sem.acquire(10));
    const small = track(sem.acquire(1));
    await settle();
    assert.equal(small.permit(), undefined, "the small one would fit but must not overtake");
    assert.equal(sem.waiting, 2);
    assert.equal(sem.waits, 2);
    held.release();
    await settle();
    assert.ok(large.permit() !== undefined && small.permit() === undefined);
    large.permit()!.release();
    await settle();
    assert.equal(small.permit()?.bytes, 1);
    assert.equal(sem.waiting, 0);
  });

  it("grants several waiters at once when one release frees room for them", async () => {
    const sem = new ByteSemaphore(10);
    const held = await sem.acquire(10);
    const waiters = [3, 3, 3, 3].map((n) => track(sem.acquire(n)));
    held.release();
    await settle();
    assert.deepEqual(waiters.map((w) => w.permit() !== undefined), [true, true, true, false]);
    assert.equal(sem.inUseBytes, 9);
  });

  it("releases a permit only once, however often release() is called", async () => {
    const sem = new ByteSemaphore(10);
    const a = await sem.acquire(5);
    await sem.acquire(5);
    a.release();
    a.release();
    assert.equal(sem.inUseBytes, 5);
  });

  it("rejects at once, holding nothing, when the signal has already fired", async () => {
    const sem = new ByteSemaphore(10);
    const controller = new AbortController();
    controller.abort(new Error("user gave up"));
    await assert.rejects(sem.acquire(1, controller.signal), (e: unknown) => e instanceof AbortedError && e.outcome === "not_applied");
    assert.equal(sem.inUseBytes, 0);
  });

  it("removes an aborted waiter, and lets the ones behind it through if it blocked them", async () => {
    const sem = new ByteSemaphore(10);
    const held = await sem.acquire(5);
    const controller = new AbortController();
    const blocked = track(sem.acquire(10, controller.signal));
    const behind = track(sem.acquire(5));
    await settle();
    assert.equal(behind.permit(), undefined);
    controller.abort();
    await settle();
    assert.ok(blocked.error() instanceof AbortedError);
    assert.equal(behind.permit()?.bytes, 5);
    assert.equal(sem.waiting, 0);
    assert.equal(sem.inUseBytes, 10);
    held.release();
  });

  it("ignores an abort after the permit was granted", async () => {
    const sem = new ByteSemaphore(10);
    const controller = new AbortController();
    const permit = await sem.acquire(4, controller.signal);
    controller.abort();
    await settle();
    assert.equal(sem.inUseBytes, 4);
    permit.release();
    assert.equal(sem.inUseBytes, 0);
  });

  it("close() fails every waiter and every later acquire, and held permits can still be released", async () => {
    const sem = new ByteSemaphore(10);
    const held = await sem.acquire(10);
    const waiters = [track(sem.acquire(1)), track(sem.acquire(2))];
    const reason = new ClosedError("log", "failed");
    sem.close(reason);
    await settle();
    assert.deepEqual(waiters.map((w) => w.error()), [reason, reason]);
    assert.equal(sem.waiting, 0);
    await assert.rejects(sem.acquire(1), (e: unknown) => e === reason);
    held.release();
    assert.equal(sem.inUseBytes, 0);
  });

  it("reports a non-byte count as an internal error by rejecting, never by throwing", async () => {
    const sem = new ByteSemaphore(10);
    for (const bad of [-1, 1.5, Number.NaN]) {
      const promise = sem.acquire(bad);
      await assert.rejects(promise, InternalError);
    }
    assert.throws(() => new ByteSemaphore(0), InternalError);
  });

  it("keeps FIFO grants and never exceeds its capacity under random acquire, release and abort", async () => {
    type Op = { kind: "acquire"; bytes: number; abortable: boolean } | { kind: "release"; pick: number } | { kind: "abort"; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant("acquire" as const), bytes: fc.nat({ max: 12 }), abortable: fc.boolean() }),
      fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("abort" as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const sem = new ByteSemaphore(10);
        const granted: number[] = [];
        const held: Permit[] = [];
        const controllers: AbortController[] = [];
        const aborted = new Set<number>();
        let next = 0;
        for (const o of ops) {
          if (o.kind === "acquire") {
            const id = next++;
            const controller = new AbortController();
            controllers[id] = controller;
            sem.acquire(o.bytes, o.abortable ? controller.signal : undefined).then(
              (p) => (granted.push(id), held.push(p)),
              () => aborted.add(id),
            );
          } else if (o.kind === "release" && held.length > 0) {
            held.splice(o.pick % held.length, 1)[0]!.release();
          } else if (o.kind === "abort" && controllers.length > 0) {
            controllers[o.pick % controllers.length]!.abort();
          }
          await settle();
          assert.ok(sem.inUseBytes <= sem.capacityBytes);
          assert.equal(sem.inUseBytes, held.reduce((sum, p) => sum + p.bytes, 0));
        }
        // Grants happen in request order; only aborted requests may be skipped.
        assert.deepEqual(granted, [...granted].sort((x, y) => x - y));
        const firstWaiting = [...Array(next).keys()].find((id) => !granted.includes(id) && !aborted.has(id));
        if (firstWaiting !== undefined) assert.ok(granted.every((id) => id < firstWaiting));
      }),
      { numRuns: 100 },
    );
  });
});
