/**
 * Golden files for the WAL object and manifest formats (version 1), as
 * tests/engine/sst.test.ts keeps one for SSTs: the encoders must still produce exactly the
 * committed bytes, and the decoders must still read them. A format change must bump its version
 * (and keep reading version 1); `UPDATE_GOLDEN=1` rewrites the files after such a deliberate change.
 *
 *   golden/wal-v1.wal (+ .hex)            two batches: puts with and without expiry, a delete,
 *                                         an empty value, a seq above 2^32
 *   golden/manifest-v1.manifest (+ .hex)  an L0 SST and a sorted run, ids and watermarks set
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { decodeManifest, encodeManifest, type Manifest } from "../../src/engine/manifest-format.js";
import { sstInfoFromJson } from "../../src/engine/sst-format.js";
import { decodeWalObject, encodeBatch, encodeWalObject, type WalBatch } from "../../src/engine/wal-format.js";
import { hexDump } from "../helpers/hex-dump.js";

const GOLDEN_DIR = new URL("./golden/", import.meta.url);
const utf8 = (text: string) => new TextEncoder().encode(text);

const WAL_EPOCH = 3;
const WAL_ID = 42;

function goldenBatches(): WalBatch[] {
  return [
    {
      seq: 7,
      ops: [
        { type: "put", key: utf8("apple"), value: utf8("red"), expireAtMs: 0 },
        { type: "put", key: utf8("apricot"), value: utf8("orange"), expireAtMs: 1_700_000_000_000 },
        { type: "delete", key: utf8("banana") },
      ],
    },
    { seq: 2 ** 33 + 5, ops: [{ type: "put", key: new Uint8Array([0, 1, 255]), value: new Uint8Array(0), expireAtMs: 0 }] },
  ];
}

function goldenManifest(): Manifest {
  const info = sstInfoFromJson(JSON.parse(readFileSync(new URL("sst-v1.info.json", GOLDEN_DIR), "utf8")));
  return {
    writerEpoch: 3,
    nextWalId: 43,
    nextSstId: 12,
    nextRunId: 3,
    replayAfterWalId: 40,
    lastL0Seq: 2 ** 41,
    l0: [{ id: 11, info }],
    runs: [{ id: 2, ssts: [{ id: 8, info }] }],
  };
}

/** Batches with keys and values as hex, so that Buffer and Uint8Array views compare equal. */
function printable(batches: WalBatch[]): unknown {
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
  return batches.map(({ seq, ops }) => ({
    seq,
    ops: ops.map((op) => (op.type === "put" ? { ...op, key: hex(op.key), value: hex(op.value) } : { ...op, key: hex(op.key) })),
  }));
}

/** Compares `bytes` with golden/<name> and its .hex dump (rewriting them first under UPDATE_GOLDEN=1). */
function assertGolden(name: string, bytes: Uint8Array): Uint8Array {
  if (process.env.UPDATE_GOLDEN === "1") {
    writeFileSync(new URL(name, GOLDEN_DIR), bytes);
    writeFileSync(new URL(`${name}.hex`, GOLDEN_DIR), hexDump(bytes));
  }
  const golden = new Uint8Array(readFileSync(new URL(name, GOLDEN_DIR)));
  assert.equal(hexDump(bytes), readFileSync(new URL(`${name}.hex`, GOLDEN_DIR), "utf8"), `${name}: the encoder's bytes changed`);
  assert.ok(Buffer.from(bytes).equals(golden), `${name}: the encoder's bytes differ from the committed file`);
  return golden;
}

describe("WAL object golden file (format version 1)", () => {
  const bytes = encodeWalObject(WAL_EPOCH, WAL_ID, goldenBatches().map((batch) => encodeBatch(batch.seq, batch.ops)));

  it("the encoder still produces exactly the committed bytes, and the decoder reads them", () => {
    const golden = assertGolden("wal-v1.wal", bytes);
    const decoded = decodeWalObject("wal/golden", WAL_ID, golden);
    assert.deepEqual({ ...decoded, batches: printable(decoded.batches) }, { writerEpoch: WAL_EPOCH, walId: WAL_ID, batches: printable(goldenBatches()), fence: false });
  });
});

describe("manifest golden file (format version 1)", () => {
  const bytes = encodeManifest(goldenManifest());

  it("the encoder still produces exactly the committed bytes, and the decoder reads them", () => {
    const golden = assertGolden("manifest-v1.manifest", bytes);
    assert.deepEqual(decodeManifest("manifest/golden", golden), goldenManifest());
  });
});
