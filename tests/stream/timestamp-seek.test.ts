/**
 * The read start by timestamp (read-session.ts `#seekTimestamp`, `Engine.floorKey`): it finds a
 * record before the timestamp from the memtables and the SST indexes' block keys, which hold each
 * record's timestamp, so its cost does not grow with the count of sorted runs and L0s (issue 15
 * item 5), and it starts at the first record at or after the timestamp in every layout: records
 * in runs, L0s and the memtable, runs of equal timestamps spanning blocks and SSTs, trims,
 * timestamps before the first record and after the last.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, MemoryStore, openLog, type Log, type LogOptions, type ReadFrom } from "../../src/index.js";
import { T0, collect, seqNums } from "../helpers/stream-helpers.js";

/** Small memtables and SSTs, so that a few thousand records of 1 KiB make many SSTs of a few 16 KiB blocks. */
const LAYOUT_OPTIONS: Partial<LogOptions> = { flushIntervalMs: 0, l0SstBytes: 48 * 1024, maxSstBytes: 64 * 1024 };

/** Record i's timestamp: mostly one per record, with one run of 400 equal timestamps (it spans blocks and SSTs). */
function timestampOf(i: number): number {
  const base = T0 - 1_000_000;
  if (i < 1000) return base + 2 * i;
  if (i < 1400) return base + 2000;
  return base + 2000 + 2 * (i - 1399);
}

/** The first seqNum at or after `timestamp` among records [from, count), by brute force. */
function firstAtOrAfter(timestamp: number, from: number, count: number): number {
  let seqNum = from;
  while (seqNum < count && timestampOf(seqNum) < timestamp) seqNum++;
  return seqNum;
}

async function appendRange(log: Log, from: number, to: number): Promise<void> {
  const stream = await log.openStream("s");
  for (let at = from; at < to; at += 50) {
    const end = Math.min(to, at + 50);
    await stream.append(Array.from({ length: end - at }, (_, k) => ({ body: `record ${at + k} `.padEnd(1000, "x"), timestamp: timestampOf(at + k) })));
  }
}

/**
 * A log whose stream "s" holds records [0, 3000) in sorted runs and L0s (compaction merges every
 * 4 L0s into a run, and runs of similar size), plus, when `open` is given, records [3000, open)
 * in the memtable of the writer it returns open. The stream's records sit in at least 4 sources.
 */
async function buildLayout(open?: number): Promise<{ store: MemoryStore; clock: ManualClock; writer: Log | undefined }> {
  const store = new MemoryStore();
  const clock = new ManualClock({ startMs: T0 });
  const log = await openLog({ ...LAYOUT_OPTIONS, store, clock });
  await log.createStream("s", {});
  await appendRange(log, 0, 3000);
  const { l0Count, sortedRunCount } = log.metrics().engine;
  assert.ok(l0Count + sortedRunCount >= 4, `the layout has ${l0Count} L0s and ${sortedRunCount} runs`);
  await log.close();
  if (open === undefined) return { store, clock, writer: undefined };
  const writer = await openLog({ store, clock, flushIntervalMs: 0 });
  await appendRange(writer, 3000, open);
  return { store, clock, writer };
}

/** GETs of a read-only reader's first read from `from` (after the log and stream open, as bench/suite/scale.ts counts). */
async function coldReadGets(store: MemoryStore, clock: ManualClock, from: ReadFrom, expected: number): Promise<number> {
  const log = await openLog({ store, clock, readOnly: true, pollIntervalMs: 60_000 });
  try {
    const stream = await log.openStream("s");
    const before = log.metrics().engine.storeRequests.get;
    const records = await collect(stream.read({ from, limit: { count: 1 } }));
    assert.deepEqual(seqNums(records), [expected], `from ${JSON.stringify(from)}`);
    return log.metrics().engine.storeRequests.get - before;
  } finally {
    await log.close();
  }
}

describe("read start by timestamp", () => {
  it("costs at most one SST index GET more than the read start by seqNum, however many runs and L0s hold the stream", async () => {
    const { store, clock } = await buildLayout();
    const figures: string[] = [];
    for (const seqNum of [100, 1500, 2100, 2950]) {
      const bySeq = await coldReadGets(store, clock, { seqNum }, seqNum);
      const byTimestamp = await coldReadGets(store, clock, { timestamp: timestampOf(seqNum) }, seqNum);
      figures.push(`${seqNum}: ${bySeq} / ${byTimestamp}`);
      assert.ok(byTimestamp <= bySeq + 1, `cold GETs by seqNum / by timestamp at ${figures.join(", ")}`);
    }
  });

  it("starts at the first record at or after the timestamp from runs, L0s and the memtable, before and after a trim", async () => {
    const count = 3300;
    const { writer } = await buildLayout(count);
    try {
      const stream = await writer!.openStream("s");
      const check = async (trimPoint: number, total: number) => {
        // Before the first record, after the last, around the run of equal timestamps, and a spread.
        const timestamps = [timestampOf(0) - 5, timestampOf(count - 1) + 1, timestampOf(999), timestampOf(1000), timestampOf(1000) + 1, timestampOf(1400)];
        for (let i = 0; i < count; i += 31) timestamps.push(timestampOf(i), timestampOf(i) + 1);
        for (const timestamp of timestamps) {
          const expected = Math.max(firstAtOrAfter(timestamp, 0, count), trimPoint);
          const got = seqNums(await collect(stream.read({ from: { timestamp }, clamp: true, limit: { count: 2 } })));
          const want = [expected, expected + 1].filter((seqNum) => seqNum < total);
          assert.deepEqual(got, want, `from timestamp ${timestamp}, trim point ${trimPoint}`);
        }
      };
      await check(0, count);
      await stream.trim(1200); // inside the run of equal timestamps
      await check(1200, count + 1); // the trim's command record is the stream's last
    } finally {
      await writer!.close();
    }
  });

  it("a timestamp past the last record is unwritten without clamp, and reads nothing with it", async () => {
    const { writer } = await buildLayout(3100);
    try {
      const stream = await writer!.openStream("s");
      const after = timestampOf(3099) + 1;
      assert.deepEqual(await collect(stream.read({ from: { timestamp: after }, clamp: true })), []);
      await assert.rejects(collect(stream.read({ from: { timestamp: after } })), (error: { code?: string }) => error.code === "unwritten");
      assert.deepEqual(seqNums(await collect(stream.read({ from: { timestamp: timestampOf(3099) } }))), [3099]);
    } finally {
      await writer!.close();
    }
  });
});
