import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CorruptionError, InternalError } from "../../src/errors.js";
import {
  FIRST_STREAM_ID,
  KeyKind,
  STREAM_ID_COUNTER_KEY,
  allStreamKeys,
  allocateStreamId,
  decodeFencingTokenValue,
  decodeRecordKey,
  decodeStreamIdKey,
  decodeStreamMetaKey,
  decodeTailValue,
  decodeTimestampIndexKey,
  decodeU64Value,
  encodeFencingTokenValue,
  encodeTailValue,
  encodeU64Value,
  fencingTokenKey,
  listStreamsRange,
  prefixEnd,
  recordKey,
  recordRange,
  seqNumOfKey,
  streamIdOfKey,
  streamMetaKey,
  tailKey,
  timestampIndexKey,
  timestampIndexRange,
  trimPointKey,
  type KeyRange,
} from "../../src/stream/stream-keys.js";

const u64 = fc.oneof(
  fc.constantFrom(0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const cmp = (a: Uint8Array, b: Uint8Array) => Math.sign(Buffer.compare(a, b));
const inRange = (key: Uint8Array, r: KeyRange) =>
  Buffer.compare(key, r.start) >= 0 && (r.end === undefined || Buffer.compare(key, r.end) < 0);

describe("stream keys: round trips", () => {
  it("record and timestamp-index keys decode to what was encoded", () => {
    fc.assert(
      fc.property(u64, u64, u64, (streamId, seqNum, timestamp) => {
        const parts = { streamId, seqNum, timestamp };
        assert.deepEqual(decodeRecordKey(recordKey(parts)), parts);
        assert.deepEqual(decodeTimestampIndexKey(timestampIndexKey(parts)), parts);
      }),
    );
  });

  it("tail, fencing-token and trim-point keys decode to their stream id", () => {
    fc.assert(
      fc.property(u64, (id) => {
        assert.equal(decodeStreamIdKey(tailKey(id), KeyKind.tail), id);
        assert.equal(decodeStreamIdKey(fencingTokenKey(id), KeyKind.fencingToken), id);
        assert.equal(decodeStreamIdKey(trimPointKey(id), KeyKind.trimPoint), id);
      }),
    );
  });

  it("stream meta keys round-trip any well-formed name, including astral characters", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1 }), (name) => {
        const key = streamMetaKey(name);
        assert.equal(key[0], KeyKind.streamMeta);
        assert.equal(decodeStreamMetaKey(key), name);
      }),
    );
  });

  it("tail, u64 and fencing-token values round-trip", () => {
    fc.assert(
      fc.property(u64, u64, u64, (nextSeqNum, lastTimestamp, lastWriteMs) => {
        const tail = { nextSeqNum, lastTimestamp, lastWriteMs };
        const bytes = encodeTailValue(tail);
        assert.equal(bytes.length, 24);
        assert.deepEqual(decodeTailValue(bytes), tail);
        assert.equal(decodeU64Value(encodeU64Value(nextSeqNum)), nextSeqNum);
      }),
    );
    for (const token of ["", "a", "x".repeat(36), "é".repeat(18)]) {
      assert.equal(decodeFencingTokenValue(encodeFencingTokenValue(token)), token);
    }
  });

  it("writes u64 fields big-endian", () => {
    const key = recordKey({ streamId: 1, seqNum: 2 ** 32 + 2, timestamp: 3 });
    assert.equal(Buffer.from(key).toString("hex"), "05" + "0000000000000001" + "0000000100000002" + "0000000000000003");
  });
});

describe("stream keys: ordering", () => {
  it("orders record keys of one stream by seq, whatever the timestamps", () => {
    fc.assert(
      fc.property(u64, u64, u64, u64, u64, (id, s1, s2, t1, t2) => {
        fc.pre(s1 !== s2);
        const a = recordKey({ streamId: id, seqNum: s1, timestamp: t1 });
        const b = recordKey({ streamId: id, seqNum: s2, timestamp: t2 });
        assert.equal(cmp(a, b), Math.sign(s1 - s2));
      }),
    );
  });

  it("orders timestamp-index keys by (timestamp, seq)", () => {
    fc.assert(
      fc.property(u64, u64, u64, u64, u64, (id, s1, s2, t1, t2) => {
        const a = timestampIndexKey({ streamId: id, seqNum: s1, timestamp: t1 });
        const b = timestampIndexKey({ streamId: id, seqNum: s2, timestamp: t2 });
        assert.equal(cmp(a, b), Math.sign(t1 - t2) || Math.sign(s1 - s2));
      }),
    );
  });

  it("orders keys of different streams by stream id first", () => {
    fc.assert(
      fc.property(u64, u64, u64, u64, (id1, id2, s1, s2) => {
        fc.pre(id1 !== id2);
        const a = recordKey({ streamId: id1, seqNum: s1, timestamp: 0 });
        const b = recordKey({ streamId: id2, seqNum: s2, timestamp: 0 });
        assert.equal(cmp(a, b), Math.sign(id1 - id2));
      }),
    );
  });
});

describe("stream keys: ranges", () => {
  it("computes a prefix end by incrementing the last byte below 0xFF and truncating", () => {
    assert.deepEqual(prefixEnd(Uint8Array.of(1, 2, 3)), Uint8Array.of(1, 2, 4));
    assert.deepEqual(prefixEnd(Uint8Array.of(1, 0xff, 0xff)), Uint8Array.of(2));
    assert.deepEqual(prefixEnd(Uint8Array.of(5, 0, 0xfe)), Uint8Array.of(5, 0, 0xff));
    assert.equal(prefixEnd(Uint8Array.of(0xff, 0xff)), undefined);
    assert.equal(prefixEnd(new Uint8Array(0)), undefined);
  });

  it("keeps a stream's record and index ranges free of every other stream's keys", () => {
    const ids = [0, 1, 2, 255, 256, 257, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
    const seqs = [0, 1, 255, Number.MAX_SAFE_INTEGER];
    for (const id of ids) {
      const records = recordRange(id, { startSeqNum: 0 });
      const index = timestampIndexRange(id, 0);
      for (const other of ids) {
        for (const seqNum of seqs) {
          for (const timestamp of seqs) {
            const parts = { streamId: other, seqNum, timestamp };
            assert.equal(inRange(recordKey(parts), records), other === id, `record of ${other} vs range of ${id}`);
            assert.equal(inRange(timestampIndexKey(parts), index), other === id, `index of ${other} vs ${id}`);
            assert.ok(!inRange(timestampIndexKey(parts), records) && !inRange(recordKey(parts), index));
          }
        }
      }
    }
  });

  it("bounds a record range by seq: start inclusive, end exclusive, any timestamp", () => {
    fc.assert(
      fc.property(u64, u64, u64, u64, u64, (id, a, b, seqNum, timestamp) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const range = recordRange(id, { startSeqNum: lo, endSeqNum: hi });
        const key = recordKey({ streamId: id, seqNum, timestamp });
        assert.equal(inRange(key, range), lo <= seqNum && seqNum < hi);
      }),
    );
  });

  it("seeks the timestamp index from (ts, 0): every entry at or after ts, none before", () => {
    fc.assert(
      fc.property(u64, u64, u64, u64, (id, from, timestamp, seqNum) => {
        const key = timestampIndexKey({ streamId: id, seqNum, timestamp });
        assert.equal(inRange(key, timestampIndexRange(id, from)), timestamp >= from);
      }),
    );
  });

  it("lists every key a stream owns for deletion, and no key of its neighbours", () => {
    const all = allStreamKeys({ streamId: 256, name: "orders" });
    const owned = [streamMetaKey("orders"), tailKey(256), fencingTokenKey(256), trimPointKey(256)];
    assert.deepEqual(all.keys, owned);
    const covered = (key: Uint8Array) => all.ranges.some((r) => inRange(key, r));
    assert.ok(covered(recordKey({ streamId: 256, seqNum: 7, timestamp: 9 })));
    assert.ok(covered(timestampIndexKey({ streamId: 256, seqNum: 7, timestamp: 9 })));
    for (const other of [255, 257, 1]) {
      assert.ok(!covered(recordKey({ streamId: other, seqNum: 0, timestamp: 0 })));
      assert.ok(!covered(timestampIndexKey({ streamId: other, seqNum: 0, timestamp: 0 })));
    }
  });
});

describe("stream keys: listStreams range", () => {
  const names = ["", "a", "a\u0000", "ab", "abc", "b", "orders", "orders-1", "orders/x", "ordersz", "p", "\u00ff", "\u{1f600}"]
    .filter((n) => n !== "")
    .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  const list = (options: { prefix?: string; startAfter?: string }) => {
    const r = listStreamsRange(options);
    return names.filter((n) => inRange(streamMetaKey(n), r));
  };

  it("selects names by prefix, in byte order", () => {
    assert.deepEqual(list({}), names);
    assert.deepEqual(list({ prefix: "orders" }), ["orders", "orders-1", "orders/x", "ordersz"]);
    assert.deepEqual(list({ prefix: "a" }), ["a", "a\u0000", "ab", "abc"]);
    assert.deepEqual(list({ prefix: "zz" }), []);
  });

  it("starts strictly after startAfter, whether it is inside, before or after the prefix", () => {
    assert.deepEqual(list({ prefix: "orders", startAfter: "orders" }), ["orders-1", "orders/x", "ordersz"]);
    assert.deepEqual(list({ prefix: "orders", startAfter: "orders-1" }), ["orders/x", "ordersz"]);
    assert.deepEqual(list({ startAfter: "a" }), names.slice(1));
    assert.deepEqual(list({ prefix: "orders", startAfter: "a" }), ["orders", "orders-1", "orders/x", "ordersz"]);
    assert.deepEqual(list({ prefix: "orders", startAfter: "p" }), []);
    const empty = listStreamsRange({ prefix: "orders", startAfter: "p" });
    assert.deepEqual(empty.start, empty.end);
  });

  it("never selects a key of another kind", () => {
    const r = listStreamsRange({});
    assert.ok(!inRange(tailKey(0), r));
    assert.ok(!inRange(STREAM_ID_COUNTER_KEY, r));
  });
});

describe("stream keys: stream id counter", () => {
  it("hands out 1 first, then whatever the counter holds, and bumps it", () => {
    const first = allocateStreamId(undefined);
    assert.equal(first.streamId, FIRST_STREAM_ID);
    const second = allocateStreamId(first.counterValue);
    assert.equal(second.streamId, 2);
    assert.equal(decodeU64Value(second.counterValue), 3);
    assert.deepEqual(STREAM_ID_COUNTER_KEY, Uint8Array.of(0x00, 0x01));
  });

  it("treats a counter of 0 as corruption", () => {
    assert.throws(() => allocateStreamId(encodeU64Value(0)), CorruptionError);
  });
});

describe("stream keys: bad input", () => {
  const rec = recordKey({ streamId: 1, seqNum: 2, timestamp: 3 });

  it("rejects keys of the wrong length or kind with CorruptionError", () => {
    assert.throws(() => decodeRecordKey(rec.subarray(0, 24)), CorruptionError);
    assert.throws(() => decodeRecordKey(Uint8Array.of(...rec, 0)), CorruptionError);
    assert.throws(() => decodeRecordKey(timestampIndexKey({ streamId: 1, seqNum: 2, timestamp: 3 })), CorruptionError);
    assert.throws(() => decodeTimestampIndexKey(rec), CorruptionError);
    assert.throws(() => decodeStreamIdKey(tailKey(1), KeyKind.trimPoint), CorruptionError);
    assert.throws(() => decodeStreamIdKey(new Uint8Array(0), KeyKind.tail), CorruptionError);
    assert.throws(() => decodeStreamMetaKey(Uint8Array.of(KeyKind.streamMeta)), CorruptionError);
    assert.throws(() => decodeStreamMetaKey(Uint8Array.of(KeyKind.tail, 0x61)), CorruptionError);
    assert.throws(() => decodeStreamMetaKey(Uint8Array.of(KeyKind.streamMeta, 0xff)), /not valid UTF-8/);
  });

  it("rejects u64 fields beyond the safe-integer range as corruption", () => {
    const big = Uint8Array.from(rec);
    big.fill(0xff, 9, 17);
    assert.throws(() => decodeRecordKey(big), /not a safe integer/);
    const twoTo53 = Uint8Array.of(0x00, 0x20, 0, 0, 0, 0, 0, 0);
    assert.throws(() => decodeU64Value(twoTo53), CorruptionError);
    assert.equal(decodeU64Value(Uint8Array.of(0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), Number.MAX_SAFE_INTEGER);
  });

  it("rejects values of the wrong size with CorruptionError", () => {
    assert.throws(() => decodeTailValue(new Uint8Array(16)), /expected 24 bytes, got 16/);
    assert.throws(() => decodeTailValue(new Uint8Array(25)), CorruptionError);
    assert.throws(() => decodeU64Value(new Uint8Array(7)), CorruptionError);
    assert.throws(() => decodeFencingTokenValue(new Uint8Array(37).fill(0x61)), /at most 36/);
    assert.throws(() => decodeFencingTokenValue(Uint8Array.of(0xc3)), /not valid UTF-8/);
  });

  it("refuses to encode negative, fractional or unsafe numbers (a bug, not user input)", () => {
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
      assert.throws(() => recordKey({ streamId: 1, seqNum: bad, timestamp: 0 }), InternalError);
      assert.throws(() => tailKey(bad), InternalError);
      assert.throws(() => encodeU64Value(bad), InternalError);
    }
    assert.throws(() => encodeFencingTokenValue("x".repeat(37)), InternalError);
  });

  it("streamIdOfKey and seqNumOfKey read the fields of per-stream keys and nothing else", () => {
    const id = 2 ** 40 + 7;
    for (const key of [tailKey(id), fencingTokenKey(id), trimPointKey(id)]) {
      assert.equal(streamIdOfKey(key), id);
      assert.equal(seqNumOfKey(key), undefined);
    }
    const parts = { streamId: id, seqNum: 2 ** 50 + 1, timestamp: 99 };
    for (const key of [recordKey(parts), timestampIndexKey(parts)]) {
      assert.equal(streamIdOfKey(key), id);
      assert.equal(seqNumOfKey(key), parts.seqNum);
    }
    assert.equal(streamIdOfKey(streamMetaKey("abcdefghijk")), undefined);
    assert.equal(streamIdOfKey(STREAM_ID_COUNTER_KEY), undefined);
    assert.equal(streamIdOfKey(tailKey(id).subarray(0, 8)), undefined);
    assert.equal(seqNumOfKey(recordKey(parts).subarray(0, 24)), undefined);
    const unsafe = recordKey(parts);
    unsafe.fill(0xff, 9, 17);
    assert.equal(seqNumOfKey(unsafe), undefined);
  });
});
