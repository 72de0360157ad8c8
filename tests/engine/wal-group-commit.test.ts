import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InternalError } from "../../src/errors.js";
import { GroupCommitWriter, WalBuffer, type GroupCommitHooks, type WalGroup } from "../../src/engine/wal-group-commit.js";
import type { WalFlush } from "../../src/engine/wal.js";
import { ManualClock } from "../../src/util/clock.js";

const batch = (bytes: number) => new Uint8Array(bytes);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A writer whose group writes wait for the test to finish them. */
class TestWriter extends GroupCommitWriter {
  readonly writes: { walId: number; group: WalGroup; finish: (error?: Error) => void }[] = [];
  append(seq: number, encodedBatch: Uint8Array): void {
    this.buffer.add(seq, encodedBatch);
    if (!this.buffer.cutting) this.buffer.flushSoon(); // even while a group is in flight: flushGroup must refuse a second one
  }
  get cutting(): boolean {
    return this.buffer.cutting;
  }
  protected writeGroup(walId: number, group: WalGroup): Promise<number> {
    return new Promise((resolve, reject) => {
      this.writes.push({ walId, group, finish: (error) => (error === undefined ? resolve(group.batches.length * 100) : reject(error)) });
    });
  }
  protected afterFlush(): void {
    if (!this.buffer.isEmpty) void this.flushGroup();
  }
}

function harness(beforeCut?: (writer: TestWriter) => void) {
  const flushed: WalFlush[] = [];
  const failed: unknown[] = [];
  const hooks: GroupCommitHooks = {
    clock: new ManualClock(),
    firstWalId: 7,
    onFlushed: (flush) => flushed.push(flush),
    onFailed: (error) => failed.push(error),
  };
  const writer: TestWriter = new TestWriter({ ...hooks, ...(beforeCut ? { beforeCut: () => beforeCut(writer) } : {}) });
  return { writer, flushed, failed };
}

describe("WAL group commit", () => {
  it("WalBuffer: refuses a seq that does not increase and an add after stop (broken invariants)", () => {
    const buffer = new WalBuffer(() => undefined);
    buffer.add(5, batch(3));
    assert.throws(() => buffer.add(5, batch(3)), InternalError);
    buffer.take();
    assert.throws(() => buffer.add(4, batch(3)), InternalError, "seqs keep increasing across groups");
    buffer.stop();
    assert.throws(() => buffer.add(9, batch(3)), InternalError);
  });

  it("WalBuffer: a take returns the group's batches, first and last seq, and empties the buffer", () => {
    const buffer = new WalBuffer(() => undefined);
    buffer.add(3, batch(10));
    buffer.add(4, batch(20));
    assert.equal(buffer.bytes, 30);
    const group = buffer.take();
    assert.deepEqual([group.batches.length, group.firstSeq, group.maxSeq], [2, 3, 4]);
    assert.equal(buffer.isEmpty, true);
    assert.equal(buffer.bytes, 0);
  });

  it("WalBuffer: flushSoon coalesces a turn's requests into one flush, and stop cancels it", async () => {
    let flushes = 0;
    const buffer = new WalBuffer(() => flushes++);
    buffer.flushSoon();
    buffer.flushSoon();
    await turn();
    assert.equal(flushes, 1);
    buffer.flushSoon();
    buffer.stop();
    await turn();
    assert.equal(flushes, 1);
  });

  it("groups the appends of one turn, writes one group at a time, and reports each once durable with consecutive ids", async () => {
    const { writer, flushed } = harness();
    writer.append(1, batch(8));
    writer.append(2, batch(8));
    await turn();
    assert.equal(writer.writes.length, 1);
    assert.equal(writer.inFlight, true);
    writer.append(3, batch(8)); // gathers while the first group is in flight
    await turn();
    assert.equal(writer.writes.length, 1, "one group in flight at a time");
    assert.equal(flushed.length, 0, "nothing is reported before its write returned");
    writer.writes[0]!.finish();
    await turn();
    assert.deepEqual(flushed.map((f) => [f.walId, f.maxSeq, f.batches]), [[7, 2, 2]]);
    assert.equal(writer.writes.length, 2);
    writer.writes[1]!.finish();
    await turn();
    assert.deepEqual(flushed.map((f) => [f.walId, f.maxSeq]), [[7, 2], [8, 3]]);
    assert.equal(writer.nextWalId, 9);
  });

  it("beforeCut adds its batches to the group being cut, not to the next one", async () => {
    let seq = 1;
    const cuttingSeen: boolean[] = [];
    const { writer, flushed } = harness((w) => {
      cuttingSeen.push(w.cutting);
      w.append(++seq, batch(4));
    });
    writer.append(seq, batch(4));
    assert.equal(writer.cutting, false);
    await turn();
    assert.deepEqual(cuttingSeen, [true], "an append from beforeCut knows it adds to the group being cut");
    writer.writes[0]!.finish();
    await turn();
    assert.deepEqual(flushed.map((f) => [f.maxSeq, f.batches]), [[2, 2]]);
  });

  it("a failed write stops the writer and reports once; nothing after it is written or reported", async () => {
    const { writer, flushed, failed } = harness();
    writer.append(1, batch(8));
    await turn();
    const error = new Error("disk gone");
    writer.writes[0]!.finish(error);
    await turn();
    assert.deepEqual(failed, [error]);
    assert.equal(flushed.length, 0);
    assert.throws(() => writer.append(2, batch(8)), InternalError, "a stopped writer takes nothing more");
    assert.equal(writer.bufferedBytes, 0);
  });

  it("a write that returns after the writer stopped is never reported durable", async () => {
    const { writer, flushed, failed } = harness();
    writer.append(1, batch(8));
    await turn();
    writer.stop();
    writer.writes[0]!.finish();
    await turn();
    assert.deepEqual([flushed.length, failed.length], [0, 0]);
  });
});
