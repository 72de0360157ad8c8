/**
 * Issue 14, item 1: a broken invariant anywhere takes one route. A failure injected at each kind
 * of site (named failpoints, src/util/failpoints.ts) must close the log with reason "failed";
 * every pending append settles with an error that carries the cause, health() says so, later
 * calls fail with a ClosedError (reason "failed"), no rejection goes unhandled, and every append
 * acknowledged before the failure is durable.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClosedError, InternalError, isDurastreamError } from "../../src/errors.js";
import { openLog, type Log } from "../../src/log.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import type { AppendAck } from "../../src/stream/types.js";
import { armFailpoint, type FailpointName } from "../../src/util/failpoints.js";

const OPTIONS = { flushIntervalMs: 0, l0SstBytes: 1024 } as const;
const APPENDS = 120;
const SETTLE_LIMIT_MS = 10_000;

interface Outcome {
  acked: AppendAck[];
  errors: unknown[];
}

async function settleAll(appends: Promise<AppendAck>[]): Promise<Outcome> {
  const limit = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`appends did not settle within ${SETTLE_LIMIT_MS} ms`)), SETTLE_LIMIT_MS).unref());
  const settled = await Promise.race([Promise.allSettled(appends), limit]);
  const outcome: Outcome = { acked: [], errors: [] };
  for (const result of settled) {
    if (result.status === "fulfilled") outcome.acked.push(result.value);
    else outcome.errors.push(result.reason);
  }
  return outcome;
}

async function failAt(site: FailpointName, store: ObjectStore = new MemoryStore()): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  let log: Log | undefined;
  let fired = 0;
  const disarm = armFailpoint(site, () => {
    // The first few passes go through, so that the failure lands in the middle of the work.
    if (++fired === 3) throw new InternalError(`injected at ${site}`);
  });
  try {
    log = await openLog({ store, ...OPTIONS });
    const stream = await log.openStream("s", { createIfMissing: true });
    const appends: Promise<AppendAck>[] = [];
    for (let i = 0; i < APPENDS; i++) {
      const append = stream.append([{ body: `record ${i} ${"x".repeat(100)}` }]);
      append.catch(() => undefined); // judged below, all at once
      appends.push(append);
      if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
    }
    const { acked, errors } = await settleAll(appends);
    assert.ok(fired >= 3, `the failpoint ${site} was reached (${fired} times)`);
    assert.ok(errors.length > 0, "appends pending at the failure failed");
    for (const error of errors) {
      assert.ok(isDurastreamError(error), String(error));
      const cause = error instanceof ClosedError ? error.cause : error;
      assert.ok(cause instanceof InternalError && cause.message.includes(`injected at ${site}`), `the error carries the cause: ${String(error)}`);
      if (error instanceof InternalError) assert.equal(error.outcome, "unknown");
    }
    const health = log.health();
    assert.equal(health.status, "closed");
    assert.equal(health.closeReason, "failed");
    assert.match(health.reason ?? "", /injected at/);
    const later = await stream.append([{ body: "after the failure" }]).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(later instanceof ClosedError && later.reason === "failed" && later.outcome === "not_applied", `a later append fails closed: ${String(later)}`);
    assert.deepEqual(unhandled, [], "no rejection went unhandled");
    disarm();
    await log.close();

    // Acknowledged means durable: every acked record is there after reopening.
    const reopened = await openLog({ store, ...OPTIONS });
    const tail = await (await reopened.openStream("s")).checkTail();
    for (const ack of acked) assert.ok(ack.end.seqNum <= tail.seqNum, `acked ${ack.end.seqNum} is within the durable tail ${tail.seqNum}`);
    await reopened.close();
  } finally {
    disarm();
    process.off("unhandledRejection", onUnhandled);
  }
}

for (const site of ["stream.validate", "streamer.commit", "engine.write", "wal.flushed", "flusher.publish", "compactor.merge"] as const) {
  test(`issue 14.1: a broken invariant at ${site} closes the log as failed and settles every pending append with its cause`, () => failAt(site));
}

test("issue 14.1: a broken invariant after a segment WAL frame was acknowledged by the disk closes the log as failed too", async () =>
  failAt("wal.flushed", new LocalStore(await makeTempDir("failure-route"))));

test("issue 14.1: a broken invariant met by an append session's submit closes the log as failed too", async () => {
  const log = await openLog({ store: new MemoryStore(), ...OPTIONS });
  const stream = await log.openStream("s", { createIfMissing: true });
  const session = stream.appendSession();
  const first = await session.submit([{ body: "before" }]);
  await first.ack();
  const disarm = armFailpoint("stream.validate", () => {
    throw new InternalError("injected at stream.validate");
  });
  try {
    await assert.rejects(session.submit([{ body: "broken" }]), (error: unknown) => error instanceof InternalError && /injected at/.test(error.message));
  } finally {
    disarm();
  }
  const health = log.health();
  assert.equal(health.status, "closed");
  assert.equal(health.closeReason, "failed");
  const later = await stream.append([{ body: "after" }]).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(later instanceof ClosedError && later.reason === "failed", `a later append fails closed: ${String(later)}`);
  await session.close().catch(() => undefined);
  await log.close();
});
