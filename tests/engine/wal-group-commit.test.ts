import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InternalError } from "../../src/errors.js";
import { GroupCommitWriter, WalBuffer, type GroupCommitHooks, type WalGroup } from "../../src/engine/wal-group-commit.js";
import type { WalFlush } from "../../src/engine/wal.js";
import { ManualClock } from "../../src/util/clock.js";
import { WalWriter } from "../../src/engine/wal-writer.js";
import { decodeWalObject, encodeBatch, encodeWalObject, type WriteOp } from "../../src/engine/wal-format.js";
import { walKey } from "../../src/engine/paths.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { PutCondition } from "../../src/store/object-store.js";

const batch = (bytes: number) => new Uint8Array(bytes);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A writer whose group writes wait for the test to finish them. */
class TestWriter extends GroupCommitWriter {
  readonly writes: { walId: number; group: WalGroup; finish: (error?: Error) => void }[] = [];
  encodeBatch(seq: number, ops: readonly WriteOp[]): Uint8Array {
    return encodeBatch(seq, ops);
  }
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

function harness(beforeCut?: (writer: TestWriter) => void, whileWriting?: (maxSeq: number) => void) {
  const flushed: WalFlush[] = [];
  const failed: unknown[] = [];
  const hooks: GroupCommitHooks = {
    clock: new ManualClock(),
    firstWalId: 7,
    onFlushed: (flush) => flushed.push(flush),
    onFailed: (error) => failed.push(error),
    ...(whileWriting ? { whileWriting } : {}),
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

  it("whileWriting runs once per group, after its write started and before its report", async () => {
    const calls: { maxSeq: number; writesStarted: number; reported: number }[] = [];
    const { writer, flushed } = harness(undefined, (maxSeq) => calls.push({ maxSeq, writesStarted: writer.writes.length, reported: flushed.length }));
    writer.append(1, batch(5));
    writer.append(2, batch(5));
    await turn();
    assert.deepEqual(calls, [{ maxSeq: 2, writesStarted: 1, reported: 0 }]);
    writer.append(3, batch(5)); // arrives during the write: the next group's
    writer.writes[0]!.finish();
    await turn();
    assert.deepEqual(calls.map((c) => c.maxSeq), [2, 3]);
    assert.deepEqual(calls[1], { maxSeq: 3, writesStarted: 2, reported: 1 });
  });

  it("a throw in whileWriting fails the writer: its group is never reported durable", async () => {
    const { writer, flushed, failed } = harness(undefined, () => {
      throw new InternalError("memtable broke");
    });
    writer.append(1, batch(5));
    await turn();
    assert.equal(writer.writes.length, 1, "the write had started");
    writer.writes[0]!.finish();
    await turn();
    assert.equal(flushed.length, 0);
    assert.equal(failed.length, 1);
    assert.ok(failed[0] instanceof InternalError);
    assert.throws(() => writer.append(2, batch(5)), InternalError, "the writer stopped");
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

/** A MemoryStore that remembers the body of every put. */
class RecordingMemoryStore extends MemoryStore {
  readonly bodies = new Map<string, Uint8Array>();
  override put(key: string, body: Uint8Array, condition?: PutCondition) {
    this.bodies.set(key, body);
    return super.put(key, body, condition);
  }
}

describe("WalWriter: objects built where their batches are encoded", () => {
  const EPOCH = 3;
  const put = (key: string, valueBytes: number): WriteOp => ({ type: "put", key: Buffer.from(key), value: new Uint8Array(valueBytes).fill(key.charCodeAt(0)) });

  function objectWriter() {
    const store = new RecordingMemoryStore();
    const flushed: WalFlush[] = [];
    const writer = new WalWriter({ store, writerEpoch: EPOCH, flushIntervalMs: 0, clock: new ManualClock(), firstWalId: 1, onFlushed: (f) => flushed.push(f), onFailed: (e) => assert.fail(String(e)) });
    /** Encodes through the writer and appends; returns the encoded batch. */
    const write = (seq: number, ops: WriteOp[]) => {
      const encoded = writer.encodeBatch(seq, ops);
      writer.append(seq, encoded);
      return encoded;
    };
    /** Waits for the flush of what was appended, and checks the object against encodeWalObject of the same batches. */
    const flushedObject = async (walId: number, batches: Uint8Array[]) => {
      while (flushed.length < walId) await turn();
      const body = store.bodies.get(walKey(walId))!;
      assert.deepEqual(Buffer.from(body), Buffer.from(encodeWalObject(EPOCH, walId, batches)));
      assert.equal(decodeWalObject(walKey(walId), walId, await store.get(walKey(walId))).batches.length, batches.length);
      return body;
    };
    return { writer, write, flushedObject };
  }

  it("writes the batches of a group where they were encoded (no copy), byte for byte what encodeWalObject makes, and never reuses that buffer", async () => {
    const { write, flushedObject } = objectWriter();
    const batches = [write(1, [put("a", 100)]), write(2, [put("b", 2000), { type: "delete", key: Buffer.from("c") }]), write(3, [put("d", 0)])];
    const body = await flushedObject(1, batches);
    for (const batch of batches) assert.equal(batch.buffer, body.buffer, "encoded in the object's own buffer");
    const next = write(4, [put("e", 10)]);
    assert.notEqual(next.buffer, body.buffer, "the next object gets a buffer of its own: the store keeps the last one");
    await flushedObject(2, [next]);
  });

  it("concatenates a group that does not fit its buffer, holds a batch encoded elsewhere, or misses one encoded in its buffer", async () => {
    const { writer, write, flushedObject } = objectWriter();
    const spilled = [write(1, [put("a", 10)]), write(2, [put("b", 200 * 1024)]), write(3, [put("c", 10)])];
    const first = await flushedObject(1, spilled);
    assert.notEqual(spilled[0]!.buffer, first.buffer, "the first batch's buffer could not hold the group: it was copied");
    const elsewhere = [write(4, [put("d", 10)]), encodeBatch(5, [put("e", 10)])];
    writer.append(5, elsewhere[1]!);
    await flushedObject(2, elsewhere);
    writer.encodeBatch(6, [put("f", 10)]); // encoded, never appended (the engine failed the write in between)
    const gap = [write(7, [put("g", 10)])];
    const third = await flushedObject(3, gap);
    assert.notEqual(gap[0]!.buffer, third.buffer, "a group with a hole in its buffer is concatenated");
    const before = [write(8, [put("h", 10)])];
    writer.encodeBatch(9, [put("i", 10)]); // encoded after the group's last batch, never appended
    await flushedObject(4, before);
  });
});
