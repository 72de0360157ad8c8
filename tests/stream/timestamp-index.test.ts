/**
 * The sparse timestamp index (stream-keys.ts, docs/decisions/0006): an append writes a `06` key
 * only for records whose seqNum is a multiple of TIMESTAMP_INDEX_INTERVAL_RECORDS, and a read by
 * timestamp still starts at the first record at or after its timestamp, wherever it falls
 * between index entries, after trims, from memtables and from SSTs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { ManualClock, MemoryStore } from "../../src/index.js";
import { TIMESTAMP_INDEX_INTERVAL_RECORDS } from "../../src/limits.js";
import { KeyKind, decodeTimestampIndexKey } from "../../src/stream/stream-keys.js";
import { T0, collect, seqNums, withStream } from "../helpers/stream-helpers.js";

/** Timestamps in runs of equal values with gaps: record i of `count`. */
function timestampOf(i: number): number {
  return 1_000 + Math.floor(i / 3) * 10;
}

describe("sparse timestamp index", () => {
  it("(golden) an append of 130 records writes index keys for seqNums 0, 64 and 128 only, in the v1 key layout", async () => {
    assert.equal(TIMESTAMP_INDEX_INTERVAL_RECORDS, 64);
    const store = new MemoryStore();
    await withStream(
      async (s) => {
        await s.append(Array.from({ length: 130 }, (_, i) => ({ body: `r${i}`, timestamp: timestampOf(i) })));
      },
      { store },
    );
    const engine = await Engine.open(store, { readOnly: true, clock: new ManualClock({ startMs: T0 }) });
    try {
      const keys: string[] = [];
      for await (const entry of engine.scan({ start: Uint8Array.of(KeyKind.timestampIndex), end: Uint8Array.of(KeyKind.timestampIndex + 1) })) {
        keys.push(Buffer.from(entry.key).toString("hex"));
        assert.equal(entry.value.length, 0);
      }
      assert.deepEqual(
        keys.map((hex) => decodeTimestampIndexKey(Buffer.from(hex, "hex")).seqNum),
        [0, 64, 128],
      );
      // `06` stream id 1, timestamp 1000 + 21 * 10 = 1210 (0x4ba), seqNum 64 (0x40).
      assert.equal(keys[1], "06" + "0000000000000001" + "00000000000004ba" + "0000000000000040");
    } finally {
      await engine.close();
    }
  });

  it("a read by timestamp starts at the first record at or after it, for every timestamp, before and after trims and from SSTs", () =>
    withStream(
      async (s, t) => {
        const count = 300;
        for (let at = 0; at < count; at += 50) {
          await s.append(Array.from({ length: 50 }, (_, k) => ({ body: `r${at + k}`, timestamp: timestampOf(at + k) })));
        }
        // After the trim, its command record (seqNum 300, timestamp T0) is the stream's last.
        const check = async (stream: typeof s, trimPoint: number) => {
          const total = trimPoint > 0 ? count + 1 : count;
          for (let ts = 990; ts <= timestampOf(count - 1) + 1; ts += 3) {
            let first = 0;
            while (first < count && timestampOf(first) < ts) first++;
            first = Math.max(first, trimPoint);
            const expected = Array.from({ length: total - first }, (_, k) => first + k);
            const got = seqNums(await collect(stream.read({ from: { timestamp: ts }, clamp: true })));
            assert.deepEqual(got, expected, `from timestamp ${ts}`);
          }
        };
        await check(s, 0);
        await s.trim(100);
        await check(s, 100);
        await t.reopen();
        await check(await t.log.openStream("s"), 100);
      },
      { l0SstBytes: 4096 },
    ));

  it("a read by timestamp skips at most one index interval of records after its seek", () =>
    withStream(async (s) => {
      const count = 1000;
      await s.append(Array.from({ length: count }, (_, i) => ({ body: "x", timestamp: T0 - count + i })));
      const session = s.read({ from: { timestamp: T0 - count + 700 } });
      const [first] = await collect(session);
      assert.equal(first?.seqNum, 700);
    }));
});
