/**
 * The slabs appended values are carved from (record-format.ts valueSlabs) are carved from again
 * once every memtable holding their values was flushed and no scan reads it (Memtable.drop,
 * util/slab.ts releaseSlabArrays). What a reader holds must never change when that happens: the
 * batches queued for a live follower, and a scan suspended in the middle of a flushed memtable.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { encodeRecordValue, valueSlabsReused } from "../../src/stream/record-format.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ReadRecord } from "../../src/index.js";
import { withStream } from "../helpers/stream-helpers.js";

const BODY_BYTES = 1000;

/** A body no other record has: its index in the first 4 bytes, then a pattern of it. */
function bodyOf(i: number): Uint8Array {
  const body = Buffer.alloc(BODY_BYTES, i % 251);
  body.writeUInt32BE(i, 0);
  return body;
}

describe("value slabs reused after their memtables were flushed", () => {
  it("never change the batches queued for a live follower that stopped reading for a while", () =>
    withStream(
      async (stream) => {
        const batch = 200;
        const session = stream.read({ from: { seqNum: 0 }, follow: true });
        const records = session[Symbol.asyncIterator]();
        const read: ReadRecord[] = [];
        const pull = async (count: number) => {
          for (let i = 0; i < count; i++) read.push((await records.next()).value as ReadRecord);
        };
        await stream.append(Array.from({ length: batch }, (_, k) => ({ body: bodyOf(k) })));
        await pull(batch); // caught up from storage
        // The session follows live batches from now: the next record comes from the first of them.
        const waiting = records.next();
        await stream.append(Array.from({ length: batch }, (_, k) => ({ body: bodyOf(batch + k) })));
        read.push((await waiting).value as ReadRecord);
        const reusedBefore = valueSlabsReused();
        // 20 batches of 200 KiB queue for the follower while it reads nothing (under
        // FOLLOWER_MAX_LAG_BATCHES): their memtables (256 KiB) are flushed meanwhile, and the slabs
        // of the first ones reused for the last ones.
        for (let b = 2; b <= 21; b++) await stream.append(Array.from({ length: batch }, (_, k) => ({ body: bodyOf(b * batch + k) })));
        assert.ok(valueSlabsReused() > reusedBefore, "precondition: value slabs were reused while the batches waited");
        await pull(21 * batch - 1);
        await session.close();
        read.forEach((record, i) => {
          assert.equal(record.seqNum, i);
          assert.ok(Buffer.from(record.body).equals(bodyOf(i)), `record ${i} kept its bytes`);
        });
      },
      { l0SstBytes: 256 * 1024, maxUnflushedBytes: 1024 * 1024 },
    ));

  it("never change what a scan suspended inside a memtable reads next, when that memtable is flushed and its slabs reused meanwhile", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0, l0SstBytes: 64 * 1024 * 1024, l0CompactionTrigger: 64 });
    const key = (i: number) => Buffer.from(`k${String(i).padStart(6, "0")}`);
    const count = 3000; // about 3 MiB of values: the first slabs are sealed and all their values in this memtable
    let last = 0;
    for (let i = 0; i < count; i++) last = engine.write([{ type: "put", key: key(i), value: encodeRecordValue({ headers: [], body: bodyOf(i) }) }]);
    await engine.whenDurable(last);
    const scan = engine.scanChunks({})[Symbol.asyncIterator]();
    const seen: Uint8Array[] = [];
    const first = await scan.next();
    for (const entry of first.value!) seen.push(Buffer.from(entry.value));
    const reusedBefore = valueSlabsReused();
    await engine.flushMemtables(); // the memtable leaves the read view while the scan is in it
    for (let i = 0; i < 3000; i++) encodeRecordValue({ headers: [], body: Buffer.alloc(BODY_BYTES, 0xee) }); // would overwrite a reused slab
    for (let step = await scan.next(); step.done !== true; step = await scan.next()) {
      for (const entry of step.value) seen.push(Buffer.from(entry.value));
    }
    assert.equal(seen.length, count);
    seen.forEach((value, i) => assert.ok(Buffer.from(value).equals(Buffer.from(encodeRecordValue({ headers: [], body: bodyOf(i) }))), `entry ${i} kept its value`));
    // Once the scan ended, the flushed memtable's slabs are reused.
    for (let i = 0; i < 3000; i++) encodeRecordValue({ headers: [], body: Buffer.alloc(BODY_BYTES, 0xee) });
    assert.ok(valueSlabsReused() > reusedBefore, "the slabs were reused once the scan ended");
    await engine.close();
  });

  it("a point read of a memtable's value returns a copy, not a view of its slab", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    const value = encodeRecordValue({ headers: [], body: bodyOf(7) });
    await engine.whenDurable(engine.write([{ type: "put", key: Buffer.from("k"), value }]));
    const got = await engine.get(Buffer.from("k"));
    assert.ok(got !== undefined && Buffer.from(got).equals(Buffer.from(value)));
    assert.notEqual(got.buffer, value.buffer, "the slab may be reused once the memtable is flushed");
    await engine.close();
  });
});
