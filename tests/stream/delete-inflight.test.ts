/**
 * Issue 16, defect 3: appends already written when deleteStream() is called are answered by the
 * WAL's verdict, and the delete is ordered after them. Before the fix the streamer was closed
 * first: those appends were rejected with stream_not_found and no outcome, although their
 * records became durable.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openLog } from "../../src/log.js";
import { isDurastreamError } from "../../src/errors.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { GatedStore } from "../helpers/gated-store.js";

/** Lets the delete run as far as it can while the WAL write is held (it used to close the stream within a few turns). */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

test("issue 16 defect 3: appends in flight during deleteStream are acknowledged, then the stream is gone", async () => {
  const gated = new GatedStore(new MemoryStore());
  const log = await openLog({ store: gated, flushIntervalMs: 0 });
  const stream = await log.openStream("orders", { createIfMissing: true });
  await stream.append([{ body: "before" }]);
  const walPut = gated.hold((call) => call.kind === "put" && call.key.startsWith("wal/"));
  const inflight = [0, 1, 2].map((i) => stream.append([{ body: `in flight ${i}` }]));
  await walPut.reached; // the three batches are written and their WAL object is on its way
  const deleted = log.deleteStream("orders");
  await turns(200);
  const late = stream.append([{ body: "after the delete began" }]);
  await walPut.release();
  const acks = await Promise.all(inflight);
  assert.deepEqual(
    acks.map((ack) => ack.start.seqNum),
    [1, 2, 3],
  );
  await deleted;
  await assert.rejects(late, (error: unknown) => isDurastreamError(error) && error.code === "stream_not_found" && error.outcome === "not_applied");
  assert.deepEqual(await log.listStreams(), []);
  await log.close();
});

test("issue 16 defect 3: when the WAL write of in-flight appends fails, they fail with outcome unknown, not stream_not_found", async () => {
  const faulty = new FaultyStore(new MemoryStore());
  const gated = new GatedStore(faulty);
  const log = await openLog({ store: gated, flushIntervalMs: 0, storeRetryDeadlineMs: 0 });
  const stream = await log.openStream("orders", { createIfMissing: true });
  const walPut = gated.hold((call) => call.kind === "put" && call.key.startsWith("wal/"));
  const inflight = stream.append([{ body: "in flight" }]);
  await walPut.reached;
  faulty.failNth("put", 1);
  const deleted = log.deleteStream("orders").catch((error: unknown) => error);
  await turns(200);
  await walPut.release();
  await assert.rejects(inflight, (error: unknown) => isDurastreamError(error) && error.code === "storage" && error.outcome === "unknown");
  await deleted;
  await log.close();
});
