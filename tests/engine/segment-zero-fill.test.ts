/**
 * A fresh segment's zeros take turns with the WAL's group commits (segment-set.ts zeroFill,
 * store/device-turns.ts): they go in WAL_SEGMENT_ZERO_FILL_BYTES pieces, each made durable before
 * the next is written, and no piece starts while a group commit is in flight. The segment comes
 * out whole, as without turns.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SegmentSet } from "../../src/engine/segment-set.js";
import type { WalDirectory, WalFile } from "../../src/engine/wal-files.js";
import { DeviceTurns } from "../../src/store/device-turns.js";
import { FIRST_WAL_SEGMENT_BYTES, WAL_SEGMENT_ZERO_FILL_BYTES } from "../../src/limits.js";
import { ManualClock } from "../../src/util/clock.js";
import { SimulatedDisk } from "../helpers/simulated-disk.js";
import path from "node:path";
import { Engine, SEGMENT_WAL_DIR } from "../../src/engine/engine.js";
import { NodeWalDirectory } from "../../src/engine/wal-files.js";
import { LocalStore } from "../../src/store/local-store.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const MiB = 1024 * 1024;

/** `dir` whose files log their writes and datasyncs into `log`, and call `onWrite` after each write. */
function logged(dir: WalDirectory, log: string[], onWrite: (offsetBytes: number) => void): WalDirectory {
  const wrap = (file: WalFile): WalFile => ({
    async write(bytes, offsetBytes) {
      await file.write(bytes, offsetBytes);
      log.push(`write ${offsetBytes}+${bytes.length}`);
      onWrite(offsetBytes);
    },
    async writev(pieces, offsetBytes) {
      await file.writev(pieces, offsetBytes);
      log.push(`write ${offsetBytes}+${pieces.reduce((sum, piece) => sum + piece.length, 0)}`);
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
    // Pieces smaller than the default so that a 1 MiB first segment takes several.
    const pieceBytes = 256 * 1024;
    const set = new SegmentSet({ dir, writerEpoch: 1, segmentBytes: 16 * MiB, l0SstBytes: 64 * MiB, turns, zeroFillPieceBytes: pieceBytes });
    const pieces = FIRST_WAL_SEGMENT_BYTES / pieceBytes;
    assert.ok(pieces >= 3);
    const ready = set.nextSegment(0);
    await settle();
    assert.deepEqual(log, [`write 0+${pieceBytes}`, "datasync"], "the second piece waits for the group commit");
    turns.flushEnded();
    const segment = await ready;
    const expected = Array.from({ length: pieces }, (_, i) => [`write ${i * pieceBytes}+${pieceBytes}`, "datasync"]).flat();
    assert.deepEqual(log.slice(0, expected.length), expected, "piece by piece, each made durable");
    assert.equal(segment.sizeBytes, FIRST_WAL_SEGMENT_BYTES);
    assert.equal(await segment.file.sizeBytes(), FIRST_WAL_SEGMENT_BYTES, "the whole segment has its blocks");
    const bytes = await segment.file.read(0, FIRST_WAL_SEGMENT_BYTES);
    assert.ok(bytes.every((b) => b === 0));
    await set.close();
  });

  it("by default go in WAL_SEGMENT_ZERO_FILL_BYTES pieces", async () => {
    const disk = new SimulatedDisk();
    const turns = new DeviceTurns(new ManualClock());
    const log: string[] = [];
    const set = new SegmentSet({ dir: logged(disk.directory(), log, () => undefined), writerEpoch: 1, segmentBytes: 16 * MiB, l0SstBytes: 64 * MiB, turns });
    // The first three segments (1, 2 and 4 MiB): the second and third take several pieces each.
    for (let i = 0; i < 3; i++) await set.nextSegment(0);
    const writes = log.filter((entry) => entry.startsWith("write "));
    assert.ok(writes.length >= 1 + 2 + 4, `writes: ${writes.join(", ")}`);
    for (const write of writes) assert.match(write, new RegExp(`^write \\d+\\+${WAL_SEGMENT_ZERO_FILL_BYTES}$`), "every piece is WAL_SEGMENT_ZERO_FILL_BYTES");
    assert.ok(WAL_SEGMENT_ZERO_FILL_BYTES > 256 * 1024, "larger than the 256 KiB pieces that made many more fdatasyncs (limits.ts)");
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

describe("closing while a segment is prepared", () => {
  it("a clean close resolves only once no file of the segment WAL is written any more: the next segment's zeros stop", async () => {
    const dir = await makeTempDir("zero-fill-close");
    const store = new LocalStore(dir);
    let closed = false;
    const late: string[] = [];
    let spares = 0;
    // Each write of the second spare file (the segment prepared ahead at open) takes 20 ms: its
    // zeros are still being written when the close starts.
    const slow = (name: string) => name.startsWith("spare-") && ++spares === 2;
    const inner = new NodeWalDirectory(path.join(dir, SEGMENT_WAL_DIR));
    const note = (what: string) => {
      if (closed) late.push(what);
    };
    const wrap = (file: WalFile, delayed: boolean): WalFile => ({
      async write(bytes, offsetBytes, options) {
        if (delayed) await new Promise((resolve) => setTimeout(resolve, 20));
        note(`write ${offsetBytes}`);
        await file.write(bytes, offsetBytes, options);
      },
      async writev(pieces, offsetBytes) {
        if (delayed) await new Promise((resolve) => setTimeout(resolve, 20));
        note(`write ${offsetBytes}`);
        await file.writev(pieces, offsetBytes);
      },
      async datasync() {
        note("datasync");
        await file.datasync();
      },
      read: (offsetBytes, lengthBytes) => file.read(offsetBytes, lengthBytes),
      sizeBytes: () => file.sizeBytes(),
      close: () => file.close(),
    });
    const walDirectory: WalDirectory = {
      description: inner.description,
      ensure: () => inner.ensure(),
      list: () => inner.list(),
      createFile: async (name) => {
        note(`create ${name}`);
        return wrap(await inner.createFile(name), slow(name));
      },
      openFile: async (name) => {
        const file = await inner.openFile(name);
        return file === undefined ? undefined : wrap(file, false);
      },
      createSmall: (name, bytes) => inner.createSmall(name, bytes),
      exists: (name) => inner.exists(name),
      rename: async (from, to) => {
        note(`rename ${from}`);
        await inner.rename(from, to);
      },
      unlink: async (name) => {
        note(`unlink ${name}`);
        await inner.unlink(name);
      },
      syncDirectory: async () => {
        note("syncDirectory");
        await inner.syncDirectory();
      },
    };
    const engine = await Engine.open(store, { walMode: "segments", walDirectory, gcIntervalMs: 0 });
    assert.equal(spares, 2, "precondition: the second segment is being prepared");
    await engine.close();
    closed = true;
    await new Promise((resolve) => setTimeout(resolve, 300)); // longer than the rest of the slow zeros would take
    assert.deepEqual(late, [], "file operations after close resolved");
    await store.close();
  });
});
