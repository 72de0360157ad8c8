/**
 * The server's byte formats on their own: the hand-written protobuf codec (round trips, unknown
 * fields skipped, malformed input refused with bad_proto) and s2s framing (frames split
 * anywhere, several in one chunk, terminal frames, the size limit).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiError } from "../../src/server/index.js";
import { headerList } from "../../src/stream/record-format.js";
import { MAX_S2S_FRAME_BYTES } from "../../src/server/limits.js";
import { decodeAppendAck, decodeAppendInput, decodeReadBatch, encodeAppendAck, encodeAppendInput, encodeReadBatch } from "../../src/server/protobuf.js";
import { encodeFrame, encodeTerminalFrame, FrameDecoder } from "../../src/server/s2s-framing.js";

const bytes = (...values: number[]) => new Uint8Array(values);

describe("protobuf codec", () => {
  it("round-trips AppendInput with headers, timestamps, an empty command header name, a token and a match", () => {
    const input = {
      records: [
        { body: bytes(1, 2, 3), headers: [[new TextEncoder().encode("k"), bytes(9)]] as [Uint8Array, Uint8Array][], timestamp: 2 ** 40 },
        { body: new TextEncoder().encode("tok"), headers: [[bytes(), new TextEncoder().encode("fence")]] as [Uint8Array, Uint8Array][] },
        { body: bytes() },
      ],
      matchSeqNum: 300,
      fencingToken: "t-1",
    };
    const decoded = decodeAppendInput(encodeAppendInput(input));
    assert.equal(decoded.matchSeqNum, 300);
    assert.equal(decoded.fencingToken, "t-1");
    assert.equal(decoded.records.length, 3);
    assert.deepEqual([...(decoded.records[0]!.body as Uint8Array)], [1, 2, 3]);
    assert.equal(decoded.records[0]!.timestamp, 2 ** 40);
    assert.deepEqual(headerList(decoded.records[1]!.headers).map(([n, v]) => [[...(n as Uint8Array)], new TextDecoder().decode(v as Uint8Array)]), [[[], "fence"]]);
    assert.equal(decoded.records[2]!.timestamp, undefined);
  });

  it("round-trips AppendAck and ReadBatch, zero values included", () => {
    const ack = { start: { seqNum: 0, timestamp: 0 }, end: { seqNum: 5, timestamp: 1_700_000_000_000 }, tail: { seqNum: 2 ** 52, timestamp: 1 } };
    assert.deepEqual(decodeAppendAck(encodeAppendAck(ack)), ack);
    const records = [
      { seqNum: 0, timestamp: 0, headers: [] as [Uint8Array, Uint8Array][], body: bytes() },
      { seqNum: 1, timestamp: 7, headers: [[bytes(1), bytes(2, 3)]] as [Uint8Array, Uint8Array][], body: bytes(4) },
    ];
    const batch = decodeReadBatch(encodeReadBatch({ records, tail: { seqNum: 2, timestamp: 7 } }));
    assert.deepEqual(batch.tail, { seqNum: 2, timestamp: 7 });
    assert.deepEqual(batch.records.map((r) => [r.seqNum, r.timestamp, r.headers.map(([n, v]) => [[...n], [...v]]), [...r.body]]), [
      [0, 0, [], []],
      [1, 7, [[[1], [2, 3]]], [4]],
    ]);
    assert.deepEqual(decodeReadBatch(encodeReadBatch({ records: [], tail: undefined })), { records: [], tail: undefined });
  });

  it("skips unknown fields and refuses truncated input, wrong wire types and integers past 2^53 with bad_proto", () => {
    const known = encodeAppendInput({ records: [{ body: bytes(1) }] });
    const withUnknown = new Uint8Array([...known, (9 << 3) | 0, 5, (10 << 3) | 2, 1, 0xff]);
    assert.equal(decodeAppendInput(withUnknown).records.length, 1);
    const isBadProto = (error: unknown) => error instanceof ApiError && error.status === 400 && error.code === "bad_proto";
    assert.throws(() => decodeAppendInput(known.subarray(0, known.length - 1)), isBadProto);
    assert.throws(() => decodeAppendInput(bytes((1 << 3) | 0, 1)), isBadProto);
    assert.throws(() => decodeAppendInput(bytes((2 << 3) | 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), isBadProto);
  });
});

describe("s2s framing", () => {
  it("decodes frames split at every byte and several frames in one chunk", () => {
    const a = encodeFrame(bytes(1, 2, 3));
    const b = encodeFrame(new Uint8Array(70_000).fill(5));
    const t = encodeTerminalFrame(412, { seq_num_mismatch: 3 });
    const all = new Uint8Array([...a, ...b, ...t]);
    const byByte = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < all.length; i++) frames.push(...byByte.push(all.subarray(i, i + 1)));
    const together = new FrameDecoder().push(all);
    for (const decoded of [frames, together]) {
      assert.equal(decoded.length, 3);
      assert.deepEqual([...decoded[0]!.body], [1, 2, 3]);
      assert.equal(decoded[1]!.body.length, 70_000);
      assert.equal(decoded[2]!.terminal, true);
      assert.equal(Buffer.from(decoded[2]!.body).readUInt16BE(0), 412);
      assert.deepEqual(JSON.parse(Buffer.from(decoded[2]!.body.subarray(2)).toString()), { seq_num_mismatch: 3 });
    }
    assert.equal(byByte.pendingBytes, 0);
  });

  it("refuses a zero length, a length over the limit and an unknown compression with bad_frame", () => {
    const isBadFrame = (error: unknown) => error instanceof ApiError && error.code === "bad_frame";
    assert.throws(() => new FrameDecoder().push(bytes(0, 0, 0, 0)), isBadFrame);
    const over = MAX_S2S_FRAME_BYTES + 1;
    assert.throws(() => new FrameDecoder().push(bytes(over >> 16, (over >> 8) & 0xff, over & 0xff, 0)), isBadFrame);
    assert.throws(() => new FrameDecoder().push(bytes(0, 0, 2, 0x60, 1)), isBadFrame);
  });
});
