import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InternalError, StorageError } from "../../src/errors.js";
import { DurableWatermark } from "../../src/engine/durable-watermark.js";

/** Settles every promise in `waits` and says which resolved ("ok") and which rejected (the error). */
async function outcomes(waits: Promise<void>[]): Promise<unknown[]> {
  const settled = await Promise.allSettled(waits);
  return settled.map((s) => (s.status === "fulfilled" ? "ok" : s.reason));
}

/** Whether `promise` settled by now (after the microtasks queued so far ran). */
async function isSettled(promise: Promise<void>): Promise<boolean> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await new Promise<void>((resolve) => setImmediate(resolve));
  return settled;
}

describe("DurableWatermark", () => {
  it("resolves a wait for a seq that is already durable at once", async () => {
    const watermark = new DurableWatermark(5);
    assert.equal(await isSettled(watermark.whenDurable(5)), true);
    assert.equal(await isSettled(watermark.whenDurable(3)), true);
    assert.equal(watermark.waiting, 0);
  });

  it("releases exactly the waiters at or below the new watermark, in seq order", async () => {
    const watermark = new DurableWatermark(0);
    const released: number[] = [];
    const waits = [3, 1, 2, 5].map((seq) => watermark.whenDurable(seq).then(() => released.push(seq)));
    watermark.advance(2);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(released, [1, 2]);
    assert.equal(watermark.waiting, 2);
    watermark.advance(5);
    await Promise.all(waits);
    assert.deepEqual(released, [1, 2, 3, 5]);
    assert.equal(watermark.seq, 5);
  });

  it("keeps waiters that arrive out of order sorted, so an advance never skips one", async () => {
    const watermark = new DurableWatermark(0);
    const late = watermark.whenDurable(10);
    const early = watermark.whenDurable(4); // inserted before the waiter for 10
    watermark.advance(4);
    assert.equal(await isSettled(early), true);
    assert.equal(await isSettled(late), false);
  });

  it("never goes back: a lower seq is a broken invariant (InternalError)", () => {
    const watermark = new DurableWatermark(7);
    assert.throws(() => watermark.advance(6), InternalError);
    assert.equal(watermark.seq, 7);
  });

  it("tells listeners of each advance, not of an advance to the same seq, and stops after unsubscribing", () => {
    const watermark = new DurableWatermark(0);
    const heard: number[] = [];
    const unsubscribe = watermark.onAdvance((seq) => heard.push(seq));
    watermark.advance(1);
    watermark.advance(1);
    watermark.advance(3);
    unsubscribe();
    watermark.advance(4);
    assert.deepEqual(heard, [1, 3]);
  });

  it("fail() rejects every waiter and every later wait for a seq that is not durable", async () => {
    const watermark = new DurableWatermark(2);
    const error = new StorageError("gone", { outcome: "unknown" });
    const pending = [watermark.whenDurable(3), watermark.whenDurable(4)];
    watermark.fail(error);
    assert.deepEqual(await outcomes(pending), [error, error]);
    assert.deepEqual(await outcomes([watermark.whenDurable(9), watermark.whenDurable(2)]), [error, "ok"]);
  });

  it("failPending() rejects the current waiters but accepts new ones (a reset, then a reopen)", async () => {
    const watermark = new DurableWatermark(0);
    const error = new StorageError("reset", { outcome: "unknown" });
    const before = watermark.whenDurable(1);
    watermark.failPending(error);
    const after = watermark.whenDurable(1);
    watermark.advance(1);
    assert.deepEqual(await outcomes([before, after]), [error, "ok"]);
  });
});
