/**
 * A fresh segment's zeros take turns with the WAL's group commits (segment-set.ts zeroFill,
 * store/device-turns.ts): they go in DEVICE_TURN_CHUNK_BYTES pieces, each made durable before the
 * next is written, and no piece starts while a group commit is in flight. The segment comes out
 * whole, as without turns.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SegmentSet } from "../../src/engine/segment-set.js";
import type { WalDirectory, WalFile } from "../../src/engine/wal-files.js";
import { DeviceTurns } from "../../src/store/device-turns.js";
import { DEVICE_TURN_CHUNK_BYTES, FIRST_WAL_SEGMENT_BYTES } from "../../src/limits.js";
import { ManualClock } from "../../src/util/clock.js";
import { SimulatedDisk } from "../helpers/simulated-disk.js";

const MiB = 1024 * 1024;

/** `dir` whose files log their writes and datasyncs into `log`, and call `onWrite` after each write. */
function logged(dir: WalDirectory, log: string[], onWrite: (offsetBytes: number) => void): WalDirectory {
  const wrap = (file: WalFile): WalFile => ({
    async write(bytes, offsetBytes) {
      await file.write(bytes, offsetBytes);
      log.push(`write ${offsetBytes}+${bytes.length}`);
      onWrite(offsetBytes);
    },
    async datasync() {
      await file.datasync();
      log.push("datasync");
    },
    read: (offsetBytes, lengthBytes) => file.read(offsetBytes, lengthBytes),
    sizeBytes: () => file.sizeBytes(),
    close: () => file.close(),
  });
  return {
    description: dir.description,
    ensure: () => dir.ensure(),
    list: () => dir.list(),
    createFile: async (name) => wrap(await dir.createFile(name)),
    openFile: async (name) => {
      const file = await dir.openFile(name);
      return file === undefined ? undefined : wrap(file);
    },
    createSmall: (name, bytes) => dir.createSmall(name, bytes),
    exists: (name) => dir.exists(name),
    rename: (from, to) => dir.rename(from, to),
    unlink: (name) => dir.unlink(name),
    syncDirectory: () => dir.syncDirectory(),
  };
}

const settle = async () => {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe("a segment's zeros", () => {
  it("go in pieces, each made durable before the next, none while a group commit is in flight", async () => {
    const disk = new SimulatedDisk();
    const turns = new DeviceTurns(new ManualClock()); // no timer fires: only a group commit's end lets a piece go
    const log: string[] = [];
    // The WAL starts a group commit right after the first piece is written.
    let started = false;
    const dir = logged(disk.directory(), log, () => {
      if (!started) turns.flushStarted();
      started = true;
    });
    const set = new SegmentSet({ dir, writerEpoch: 1, segmentBytes: 16 * MiB, l0SstBytes: 64 * MiB, turns });
    const pieces = FIRST_WAL_SEGMENT_BYTES / DEVICE_TURN_CHUNK_BYTES;
    assert.ok(pieces >= 3);
    const ready = set.nextSegment(0);
    await settle();
    assert.deepEqual(log, [`write 0+${DEVICE_TURN_CHUNK_BYTES}`, "datasync"], "the second piece waits for the group commit");
    turns.flushEnded();
    const segment = await ready;
    const expected = Array.from({ length: pieces }, (_, i) => [`write ${i * DEVICE_TURN_CHUNK_BYTES}+${DEVICE_TURN_CHUNK_BYTES}`, "datasync"]).flat();
    assert.deepEqual(log.slice(0, expected.length), expected, "piece by piece, each made durable");
    assert.equal(segment.sizeBytes, FIRST_WAL_SEGMENT_BYTES);
    assert.equal(await segment.file.sizeBytes(), FIRST_WAL_SEGMENT_BYTES, "the whole segment has its blocks");
    const bytes = await segment.file.read(0, FIRST_WAL_SEGMENT_BYTES);
    assert.ok(bytes.every((b) => b === 0));
    await set.close();
  });

  it("without turns go in WAL_SEGMENT_ZERO_FILL_BYTES writes and one datasync, as before", async () => {
    const disk = new SimulatedDisk();
    const log: string[] = [];
    const set = new SegmentSet({ dir: logged(disk.directory(), log, () => undefined), writerEpoch: 1, segmentBytes: 16 * MiB, l0SstBytes: 64 * MiB });
    const segment = await set.nextSegment(0);
    assert.equal(log.filter((entry) => entry === "datasync").length, 1);
    assert.equal(await segment.file.sizeBytes(), FIRST_WAL_SEGMENT_BYTES);
    await set.close();
  });
});
