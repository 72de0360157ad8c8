/**
 * stream.readBatches(): the same records as stream.read(), in ReadBatch arrays bounded by
 * maxBatchRecords and maxBatchBytes, from memtables and SSTs, with every start and limit, while
 * following, and its option checks.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { READ_BATCH_MAX_BYTES, READ_BATCH_MAX_RECORDS, meteredBytes, type ReadBatch, type ReadBatchSession, type ReadRecord } from "../../src/index.js";
import { bodies, collect, recordOfMeteredSize, rejectsWithCode, seqNums, settle, texts, withStream } from "../helpers/stream-helpers.js";

async function batchesOf(session: ReadBatchSession): Promise<ReadBatch[]> {
  const out: ReadBatch[] = [];
  for await (const batch of session) out.push(batch);
  return out;
}

const flat = (batches: readonly ReadBatch[]): ReadRecord[] => batches.flatMap((batch) => batch.records);

describe("readBatches", () => {
  it("returns the records read() returns, from SSTs and the memtable, in batches within the bounds; the last one carries the tail", () =>
    withStream(
      async (s, t) => {
        for (let i = 0; i < 6; i++) await s.append(bodies(500, `a${i}-`));
        const log = await t.reopen(); // the records before the reopen are read back from SSTs
        const stream = await log.openStream("s");
        await stream.append(bodies(300, "b-"));
        const expected = await collect(stream.read({ from: { seqNum: 0 } }));
        assert.equal(expected.length, 3300);
        for (const maxBatchRecords of [1, 7, 256, READ_BATCH_MAX_RECORDS]) {
          const batches = await batchesOf(stream.readBatches({ from: { seqNum: 0 }, maxBatchRecords }));
          assert.deepEqual(flat(batches), expected, `maxBatchRecords ${maxBatchRecords}`);
          assert.ok(batches.every((batch) => batch.records.length >= 1 && batch.records.length <= maxBatchRecords));
          assert.ok(batches.every((batch) => batch.records.reduce((sum, r) => sum + meteredBytes(r), 0) <= READ_BATCH_MAX_BYTES));
          assert.deepEqual(batches.at(-1)!.tail, await stream.checkTail());
          assert.ok(batches.slice(0, -1).every((batch) => batch.tail === undefined), "only the batch that reaches the tail carries it");
        }
      },
      { l0SstBytes: 16 * 1024 },
    ));

  it("cuts a batch before the record that would cross maxBatchBytes, and gives a record larger than it a batch of its own", () =>
    withStream(async (s) => {
      await s.append([recordOfMeteredSize(100), recordOfMeteredSize(100), recordOfMeteredSize(100), recordOfMeteredSize(400), recordOfMeteredSize(100)]);
      const batches = await batchesOf(s.readBatches({ from: { seqNum: 0 }, maxBatchBytes: 250 }));
      assert.deepEqual(
        batches.map((batch) => seqNums(batch.records)),
        [[0, 1], [2], [3], [4]],
      );
    }));

  it("honours every start and limit as read() does: seqNum, timestamp, tailOffset, count, bytes, until", () =>
    withStream(async (s) => {
      await s.append(Array.from({ length: 200 }, (_, i) => ({ body: `r${i}`, timestamp: 1000 + i })));
      const cases = [
        { from: { seqNum: 17 } },
        { from: { timestamp: 1100 } },
        { from: { tailOffset: 30 } },
        { from: { seqNum: 5 }, limit: { count: 33 } },
        { from: { seqNum: 5 }, limit: { bytes: 12 * 20 } },
        { from: { seqNum: 0 }, until: 1150 },
      ];
      for (const options of cases) {
        const expected = texts(await collect(s.read(options)));
        assert.ok(expected.length > 0);
        const got = texts(flat(await batchesOf(s.readBatches({ ...options, maxBatchRecords: 16 }))));
        assert.deepEqual(got, expected, JSON.stringify(options));
      }
    }));

  it("follows: a batch per durable append arrives while waiting, and close() ends the session", () =>
    withStream(async (s) => {
      await s.append(bodies(3));
      const session = s.readBatches({ from: { seqNum: 0 }, follow: true });
      const iterator = session[Symbol.asyncIterator]();
      const caughtUp: ReadBatch[] = [];
      while (flat(caughtUp).length < 3) caughtUp.push((await iterator.next()).value!);
      assert.deepEqual(texts(flat(caughtUp)), ["r0", "r1", "r2"]);
      assert.deepEqual(caughtUp.at(-1)!.tail, await s.checkTail());
      const pending = iterator.next();
      await settle(3);
      await s.append(bodies(2, "n"));
      const second = await pending;
      assert.deepEqual(texts(second.value!.records), ["n0", "n1"]);
      const third = iterator.next();
      await session.close();
      assert.equal((await third).done, true);
    }));

  it("rejects bad batch bounds, and read() rejects them as unknown options", () =>
    withStream(async (s) => {
      for (const bad of [{ maxBatchRecords: 0 }, { maxBatchRecords: READ_BATCH_MAX_RECORDS + 1 }, { maxBatchBytes: 0 }, { maxBatchBytes: 1.5 }]) {
        await rejectsWithCode(batchesOf(s.readBatches({ from: { seqNum: 0 }, ...bad })), "validation");
      }
      await rejectsWithCode(collect(s.read({ from: { seqNum: 0 }, maxBatchRecords: 10 } as never)), "validation");
    }));
});
