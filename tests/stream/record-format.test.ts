import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CorruptionError, ValidationError } from "../../src/errors.js";
import {
  RECORD_FORMAT_V1,
  RecordDecoder,
  decodeRecordValue,
  decodeTrimPayload,
  encodeRecordValue,
  fenceRecord,
  hasCommandHeader,
  meteredBytes,
  toBytes,
  trimRecord,
  type RecordBytes,
} from "../../src/stream/record-format.js";

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const recordArb: fc.Arbitrary<RecordBytes> = fc.record({
  headers: fc.array(fc.tuple(bytes(300), bytes(300)), { maxLength: 20 }),
  body: bytes(2000),
});
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("record format: metered size", () => {
  it("is 8 + 2 per header + name, value and body bytes, strings as UTF-8", () => {
    assert.equal(meteredBytes({ body: "" }), 8);
    assert.equal(meteredBytes({ body: new Uint8Array(10) }), 18);
    assert.equal(meteredBytes({ body: "hello", headers: [["type", "greeting"]] }), 8 + 5 + 2 + 4 + 8);
    assert.equal(meteredBytes({ body: "é€😀" }), 8 + 2 + 3 + 4);
    assert.equal(meteredBytes({ body: "", headers: [["a", ""], ["", ""]] }), 8 + 3 + 2);
  });

  it("counts a command record like its wire form (S2: 8 + 2 + op + payload)", () => {
    assert.equal(meteredBytes(fenceRecord("tok")), 8 + 2 + 5 + 3);
    assert.equal(meteredBytes(trimRecord(5)), 8 + 2 + 4 + 8);
  });

  it("is the same for a record and its decoded form", () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        assert.equal(meteredBytes(decodeRecordValue(encodeRecordValue(record))), meteredBytes(record));
      }),
    );
  });
});

describe("record format: encoding", () => {
  it("round-trips any headers and body", () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const decoded = decodeRecordValue(encodeRecordValue(record));
        assert.deepEqual(decoded.headers.map(([n, v]) => [hex(n), hex(v)]), record.headers.map(([n, v]) => [hex(n), hex(v)]));
        assert.equal(hex(decoded.body), hex(record.body));
      }),
    );
  });

  it("round-trips lengths that need multi-byte varints (127, 128, 16383, 16384, 1 MiB)", () => {
    for (const n of [127, 128, 16383, 16384, 1024 * 1024]) {
      const record = { headers: [[new Uint8Array(n).fill(1), new Uint8Array(n).fill(2)]] as [Uint8Array, Uint8Array][], body: new Uint8Array(n) };
      const decoded = decodeRecordValue(encodeRecordValue(record));
      assert.equal(decoded.headers[0]![0].length, n);
      assert.equal(decoded.headers[0]![1].length, n);
      assert.equal(decoded.body.length, n);
    }
  });

  it("has a pinned byte layout (golden bytes for format version 1)", () => {
    assert.equal(hex(encodeRecordValue({ headers: [], body: new Uint8Array(0) })), "0100");
    const value = encodeRecordValue({ headers: [[toBytes("ty"), toBytes("g")]], body: toBytes("hi") });
    assert.equal(hex(value), "01" + "01" + "02" + "7479" + "01" + "67" + "6869");
    const long = encodeRecordValue({ headers: [[new Uint8Array(0), new Uint8Array(200)]], body: new Uint8Array(0) });
    assert.equal(hex(long.subarray(0, 5)), "010100c801"); // 200 = 0xC8 0x01 in LEB128
  });

  it("returns a private copy: changing the stored bytes or the result does not touch the other", () => {
    const stored = encodeRecordValue({ headers: [[toBytes("k"), toBytes("v")]], body: toBytes("body") });
    const decoded = decodeRecordValue(stored);
    decoded.body[0] = 0;
    decoded.headers[0]![1][0] = 0;
    assert.deepEqual(decodeRecordValue(stored).body, toBytes("body"));
    stored[stored.length - 1] = 0x21;
    assert.deepEqual(decoded.body, Uint8Array.of(0, ...toBytes("ody")));
  });
});

describe("record format: RecordDecoder (read sessions)", () => {
  // Bodies up to 5000 bytes: on both sides of the size past which a value gets its own buffer.
  const sessionRecords = fc.array(fc.record({ headers: fc.array(fc.tuple(bytes(20), bytes(20)), { maxLength: 2 }), body: bytes(5000) }), {
    minLength: 1,
    maxLength: 40,
  });

  it("decodes what decodeRecordValue decodes, with the seqNum and timestamp given", () => {
    fc.assert(
      fc.property(sessionRecords, (records) => {
        const decoder = new RecordDecoder();
        records.forEach((record, i) => {
          const decoded = decoder.decode(i, 1000 + i, encodeRecordValue(record), "s");
          assert.equal(decoded.seqNum, i);
          assert.equal(decoded.timestamp, 1000 + i);
          assert.deepEqual(decoded.headers.map(([n, v]) => [hex(n), hex(v)]), record.headers.map(([n, v]) => [hex(n), hex(v)]));
          assert.equal(hex(decoded.body), hex(record.body));
        });
      }),
    );
  });

  it("gives every record bytes of its own: changing one record, or a stored value, changes no other", () => {
    fc.assert(
      fc.property(sessionRecords, (records) => {
        const decoder = new RecordDecoder();
        const stored = records.map((record) => encodeRecordValue(record));
        const decoded = stored.map((value, i) => decoder.decode(i, 0, value, "s"));
        for (const value of stored) value.fill(0xee);
        decoded.forEach((record, i) => {
          record.body.fill(0xff);
          for (const [name, value] of record.headers) {
            name.fill(0xff);
            value.fill(0xff);
          }
          for (let j = i + 1; j < decoded.length; j++) {
            assert.equal(hex(decoded[j]!.body), hex(records[j]!.body), `record ${j} after changing record ${i}`);
          }
        });
      }),
    );
  });

  it("fails a damaged value with corruption naming the stream and the record", () => {
    const decoder = new RecordDecoder();
    assert.throws(
      () => decoder.decode(42, 0, Uint8Array.of(1, 1, 5, 0x61), "orders"),
      (error: unknown) => error instanceof CorruptionError && error.key === 'stream "orders" record 42' && /runs past the end/.test(error.message),
    );
    assert.throws(() => decoder.decode(43, 0, new Uint8Array(0), "orders"), /empty value/);
    assert.throws(() => decoder.decode(44, 0, Uint8Array.of(2, 0), "orders"), /unknown record format version 2/);
    assert.throws(() => decoder.decode(45, 0, new Uint8Array(5000).fill(2), "orders"), /unknown record format version 2/);
  });
});

describe("record format: corrupt values", () => {
  const good = encodeRecordValue({ headers: [[toBytes("name"), toBytes("value")]], body: toBytes("body") });

  it("rejects an empty value, an unknown version and every truncation before the body", () => {
    assert.throws(() => decodeRecordValue(new Uint8Array(0)), CorruptionError);
    const v2 = Uint8Array.from(good);
    v2[0] = RECORD_FORMAT_V1 + 1;
    assert.throws(() => decodeRecordValue(v2), /unknown record format version 2/);
    // Bytes 1..13 hold the count and the header; any cut inside them is detected.
    for (let cut = 1; cut < 1 + 1 + 1 + 4 + 1 + 5; cut++) {
      assert.throws(() => decodeRecordValue(good.subarray(0, cut)), CorruptionError, `cut at ${cut}`);
    }
  });

  it("rejects lengths that run past the end, absurd header counts and bad varints", () => {
    assert.throws(() => decodeRecordValue(Uint8Array.of(1, 1, 5, 0x61)), /runs past the end/);
    assert.throws(() => decodeRecordValue(Uint8Array.of(1, 0xff, 0xff, 0x03)), /cannot fit/);
    assert.throws(() => decodeRecordValue(Uint8Array.of(1, 0x80, 0x00)), /non-canonical/);
    assert.throws(() => decodeRecordValue(Uint8Array.of(1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), /longer than 5 bytes/);
    assert.throws(() => decodeRecordValue(Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff, 0x7f)), /too large/);
    assert.throws(() => decodeRecordValue(Uint8Array.of(1, 0x80)), /header count is truncated/);
  });

  it("names the value in the error", () => {
    assert.throws(() => decodeRecordValue(new Uint8Array(0), "stream 7 record 42"), /stream 7 record 42/);
  });

  it("never throws anything but CorruptionError on random bytes", () => {
    fc.assert(
      fc.property(bytes(64), (garbage) => {
        try {
          decodeRecordValue(garbage);
        } catch (error) {
          assert.ok(error instanceof CorruptionError, String(error));
        }
      }),
    );
  });
});

describe("record format: command records", () => {
  it("builds a fence record with the empty-name header and the token as body", () => {
    assert.deepEqual(fenceRecord("t-1"), { headers: [["", "fence"]], body: "t-1" });
    assert.ok(hasCommandHeader(fenceRecord("t-1")));
  });

  it("builds a trim record with an 8-byte big-endian seq num that decodes back", () => {
    const record = trimRecord(2 ** 40 + 3);
    assert.ok(record.body instanceof Uint8Array);
    assert.equal(hex(record.body), "0000010000000003");
    assert.equal(decodeTrimPayload(record.body), 2 ** 40 + 3);
    assert.throws(() => trimRecord(-1), ValidationError);
    assert.throws(() => trimRecord(1.5), ValidationError);
  });

  it("lowers a trim payload past the safe-integer range to MAX_SAFE_INTEGER", () => {
    assert.equal(decodeTrimPayload(new Uint8Array(8).fill(0xff)), Number.MAX_SAFE_INTEGER);
  });

  it("recognises the command header only as the single header, with an empty name", () => {
    assert.ok(hasCommandHeader({ body: "", headers: [[new Uint8Array(0), "x"]] }));
    assert.ok(!hasCommandHeader({ body: "" }));
    assert.ok(!hasCommandHeader({ body: "", headers: [["a", "fence"]] }));
    assert.ok(!hasCommandHeader({ body: "", headers: [["", "fence"], ["", "trim"]] }));
  });
});
