/**
 * SegmentTail (a read-only reader's view of the segment WAL): polls of a reader that caught up
 * with an idle writer read at the cursor and do not walk every segment again; a frame written
 * later at the newest segment's end, or acknowledged in an older segment through a newer
 * epoch's ack file, is still found. Reads are counted through a WalDirectory wrapper.
 */
import assert from "node:assert/strict";
import { appendFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { ackName, encodeAck, encodeFrame, generationOf, segmentName } from "../../src/engine/segment-format.js";
import { SegmentTail } from "../../src/engine/segment-tail.js";
import { encodeBatch } from "../../src/engine/wal-format.js";
import { NodeWalDirectory, type WalDirectory, type WalFile } from "../../src/engine/wal-files.js";
import { makeTempDir } from "../helpers/temp-dir.js";

/** Counts the reads (and bytes read) through the directory's files, and how many files were opened. */
function counting(inner: WalDirectory): { dir: WalDirectory; counts: { reads: number; readBytes: number; opens: number } } {
  const counts = { reads: 0, readBytes: 0, opens: 0 };
  const wrap = (file: WalFile): WalFile =>
    new Proxy(file, {
      get(target, name) {
        if (name === "read") {
          return async (offsetBytes: number, lengthBytes: number) => {
            const bytes = await target.read(offsetBytes, lengthBytes);
            counts.reads++;
            counts.readBytes += bytes.length;
            return bytes;
          };
        }
        const value = Reflect.get(target, name) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const dir = new Proxy(inner, {
    get(target, name) {
      if (name === "openFile") {
        return async (fileName: string) => {
          counts.opens++;
          const file = await target.openFile(fileName);
          return file === undefined ? undefined : wrap(file);
        };
      }
      const value = Reflect.get(target, name) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { dir, counts };
}

function frame(epoch: number, index: number, walId: number): Uint8Array {
  const body = Buffer.alloc(4096, walId);
  return encodeFrame({ generation: generationOf(epoch, index), writerEpoch: epoch, walId, firstSeq: walId }, [
    encodeBatch(walId, [{ type: "put", key: Buffer.from(`k${walId}`), value: body }]),
  ]);
}

async function writeSegment(dirPath: string, epoch: number, index: number, walIds: number[]): Promise<void> {
  await writeFile(path.join(dirPath, segmentName(generationOf(epoch, index))), Buffer.concat(walIds.map((walId) => frame(epoch, index, walId))));
}

async function writeAck(dirPath: string, epoch: number, startWalId: number, ackedWalId: number): Promise<void> {
  await writeFile(path.join(dirPath, ackName(epoch)), encodeAck({ startWalId, ackedWalId }));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("SegmentTail", () => {
  it("after a poll that finds nothing past the newest segment's frames, idle polls read at its end, not every segment", async () => {
    const dirPath = await makeTempDir("segment-tail");
    await writeSegment(dirPath, 1, 0, range(1, 40));
    await writeSegment(dirPath, 1, 1, range(41, 80));
    await writeAck(dirPath, 1, 1, 80);
    const { dir, counts } = counting(new NodeWalDirectory(dirPath));
    const tail = new SegmentTail(dir);
    try {
      // Caught up: the first poll steps over the newest segment's frames by their headers only,
      // and does not open the older segment.
      assert.equal(await tail.batchesOf(81), undefined);
      assert.equal(counts.opens, 1, "segments opened");
      assert.ok(counts.readBytes <= 41 * 64, `the first poll read ${counts.readBytes} bytes of ${80 * 4096} in frames`);
      const walk = { ...counts };
      for (let poll = 0; poll < 5; poll++) assert.equal(await tail.batchesOf(81), undefined);
      assert.equal(counts.opens, walk.opens, "idle polls open no segment");
      assert.ok(counts.reads - walk.reads <= 5, `5 idle polls made ${counts.reads - walk.reads} reads (the walk ${walk.reads})`);

      // The writer's next frame lands at the cursor; it is returned once acknowledged, and not before.
      await appendFile(path.join(dirPath, segmentName(generationOf(1, 1))), frame(1, 1, 81));
      assert.equal(await tail.batchesOf(81), undefined, "not acknowledged yet");
      await writeAck(dirPath, 1, 1, 81);
      const batches = await tail.batchesOf(81);
      assert.equal(batches?.[0]?.seq, 81);
    } finally {
      await tail.close();
    }
  });

  it("still finds a frame in an older segment that a newer epoch acknowledged, and a frame in a newer segment", async () => {
    const dirPath = await makeTempDir("segment-tail");
    await writeSegment(dirPath, 1, 0, range(1, 10));
    await writeAck(dirPath, 1, 1, 9); // frame 10 not acknowledged by its own writer
    const { dir } = counting(new NodeWalDirectory(dirPath));
    const tail = new SegmentTail(dir);
    try {
      assert.equal(await tail.batchesOf(10), undefined, "pending");
      // Epoch 2 replays frame 10 and starts at 11: its ack file acknowledges 10; its segment holds 11.
      await writeSegment(dirPath, 2, 0, []);
      await writeAck(dirPath, 2, 11, 10);
      assert.equal((await tail.batchesOf(10))?.[0]?.seq, 10);
      assert.equal(await tail.batchesOf(11), undefined);
      await writeSegment(dirPath, 2, 0, [11]);
      await writeAck(dirPath, 2, 11, 11);
      assert.equal((await tail.batchesOf(11))?.[0]?.seq, 11);
    } finally {
      await tail.close();
    }
  });
});
