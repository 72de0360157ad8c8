/**
 * Turns on the disk between the segment WAL's group commits and LocalStore's large direct writes
 * (store/device-turns.ts): a piece of a large write never starts while a group commit is in
 * flight, goes as soon as it ended, and waits at most DEVICE_TURN_MAX_WAIT_MS for it; the bytes
 * written are the same; an engine on a LocalStore with the segment WAL tells the turns about every
 * group commit, and its SSTs read back whole.
 */
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { DeviceTurns } from "../../src/store/device-turns.js";
import { DIRECT_WRITE_ALIGN_BYTES, directWritableBuffer, writeDirect } from "../../src/store/direct-write.js";
import { LocalStore } from "../../src/store/local-store.js";
import { CPU_TURN_MAX_WAIT_MS, DEVICE_TURN_CHUNK_BYTES, DEVICE_TURN_MAX_WAIT_MS } from "../../src/limits.js";
import { ManualClock } from "../../src/util/clock.js";
import { Engine } from "../../src/engine/engine.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const MiB = 1024 * 1024;
const linux = process.platform === "linux";

/** Lets the thread pool and the event loop run (a direct write's piece is a thread-pool request). */
const turnsOfTheLoop = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Waits (bounded) until a piece waits for its turn: the one before it was written. */
async function untilWaiting(turns: DeviceTurns): Promise<void> {
  for (let i = 0; i < 2000 && turns.waitingCount === 0; i++) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.equal(turns.waitingCount, 1, "a piece waits for its turn");
}

describe("DeviceTurns", () => {
  it("lets a piece go at once when no group commit is in flight, else when it ends", async () => {
    const turns = new DeviceTurns(new ManualClock());
    assert.equal(turns.turn(), undefined);
    turns.flushStarted();
    let went = 0;
    const waits = [turns.turn(), turns.turn()];
    for (const wait of waits) void wait!.then(() => went++);
    await turnsOfTheLoop(3);
    assert.equal(went, 0, "nothing goes during the group commit");
    turns.flushEnded();
    await turnsOfTheLoop(1);
    assert.equal(went, 2);
    assert.equal(turns.turn(), undefined);
  });

  it("lets pieces wait while any group commit is in flight: a stopped writer's may end after its successor's started", async () => {
    const turns = new DeviceTurns(new ManualClock());
    turns.flushStarted(); // the old writer's
    turns.flushStarted(); // its successor's
    let went = false;
    void turns.turn()!.then(() => (went = true));
    turns.flushEnded(); // the old one's
    await turnsOfTheLoop(2);
    assert.equal(went, false, "the successor's group commit is still in flight");
    assert.equal(turns.flushing, true);
    turns.flushEnded();
    await turnsOfTheLoop(1);
    assert.equal(went, true);
    assert.throws(() => turns.flushEnded(), /never started/);
  });

  it("waits at most DEVICE_TURN_MAX_WAIT_MS for a group commit that does not end", async () => {
    const clock = new ManualClock();
    const turns = new DeviceTurns(clock);
    turns.flushStarted();
    let went = false;
    void turns.turn()!.then(() => (went = true));
    await clock.advance(DEVICE_TURN_MAX_WAIT_MS - 0.5);
    assert.equal(went, false);
    await clock.advance(0.5);
    assert.equal(went, true);
    assert.equal(clock.pendingTimerCount, 0);
    turns.flushEnded(); // the piece that timed out is not woken twice
    assert.equal(turns.turn(), undefined);
  });
});

describe("DeviceTurns: the log thread's CPU turns", () => {
  it("lets a slice go during a group commit, makes it wait for the next one between two, and lets it go on an idle WAL", async () => {
    const clock = new ManualClock();
    const turns = new DeviceTurns(clock);
    assert.equal(turns.cpuTurn(), undefined, "no group commit yet: an idle WAL");
    turns.flushStarted();
    assert.equal(turns.cpuTurn(), undefined, "the fdatasync in flight leaves the thread idle");
    turns.flushEnded();
    let went = 0;
    const waits = [turns.cpuTurn(), turns.cpuTurn()];
    for (const wait of waits) void wait!.then(() => went++);
    await turnsOfTheLoop(3);
    assert.equal(went, 0, "nothing goes while the next group is formed");
    turns.flushStarted();
    await turnsOfTheLoop(1);
    assert.equal(went, 2, "the next group commit started: both slices go");
    assert.equal(clock.pendingTimerCount, 0);
    turns.flushEnded();
    await clock.advance(CPU_TURN_MAX_WAIT_MS);
    assert.equal(turns.cpuTurn(), undefined, "no group commit for CPU_TURN_MAX_WAIT_MS: the WAL is idle, slices go at once");
  });

  it("waits at most CPU_TURN_MAX_WAIT_MS for the next group commit", async () => {
    const clock = new ManualClock();
    const turns = new DeviceTurns(clock);
    turns.flushStarted();
    turns.flushEnded();
    let went = false;
    void turns.cpuTurn()!.then(() => (went = true));
    await clock.advance(CPU_TURN_MAX_WAIT_MS - 0.5);
    assert.equal(went, false);
    await clock.advance(0.5);
    assert.equal(went, true);
    turns.flushStarted(); // the slice that timed out is not woken twice
    assert.equal(clock.pendingTimerCount, 0);
  });
});

describe("a direct write that takes turns", () => {
  it("starts no piece while a group commit is in flight, then writes every byte", { skip: !linux }, async () => {
    const dir = await makeTempDir("device-turns");
    const size = 3 * DEVICE_TURN_CHUNK_BYTES + 5000; // three pieces and a tail through the page cache
    const buffer = directWritableBuffer(path.join(dir, "probe"), size);
    if (buffer === undefined) return; // a filesystem without O_DIRECT: nothing to take turns for
    for (let i = 0; i < size; i++) buffer[i] = (i * 7 + 3) & 255;
    const turns = new DeviceTurns(new ManualClock()); // no timer fires: only the flush's end lets a piece go
    const file = path.join(dir, "sst");
    turns.flushStarted();
    let done = false;
    const writing = writeDirect(file, buffer, () => assert.fail("O_DIRECT refused"), turns).then((direct) => {
      done = true;
      return direct;
    });
    try {
      await untilWaiting(turns);
      assert.equal((await stat(file)).size, 0, "no piece was written during the group commit");
      turns.flushEnded();
      turns.flushStarted(); // the next group commit: the piece that got its turn is written, the next one waits
      await turnsOfTheLoop(1);
      await untilWaiting(turns);
      assert.equal((await stat(file)).size, DEVICE_TURN_CHUNK_BYTES, "one piece between two group commits");
      assert.equal(done, false);
    } finally {
      turns.flushEnded();
    }
    assert.equal(await writing, true);
    const back = await readFile(file);
    assert.equal(back.length, size);
    assert.ok(back.equals(Buffer.from(buffer.buffer, buffer.byteOffset, size)), "the file holds the body, byte for byte");
    assert.ok(size % DIRECT_WRITE_ALIGN_BYTES !== 0);
  });

  it("an engine on a LocalStore with the segment WAL brackets every group commit, and its L0s read back whole", { skip: !linux }, async () => {
    const dir = await makeTempDir("device-turns-engine");
    const store = new LocalStore(dir);
    const started = DeviceTurns.prototype.flushStarted;
    const ended = DeviceTurns.prototype.flushEnded;
    let starts = 0;
    let ends = 0;
    let nested = false;
    DeviceTurns.prototype.flushStarted = function (this: DeviceTurns) {
      if (this.flushing) nested = true;
      starts++;
      started.call(this);
    };
    DeviceTurns.prototype.flushEnded = function (this: DeviceTurns) {
      ends++;
      ended.call(this);
    };
    try {
      const engine = await Engine.open(store, { walMode: "segments", l0SstBytes: 2 * MiB, gcIntervalMs: 0 });
      const value = (i: number) => Buffer.from(`${i}:`.padEnd(3000, String.fromCharCode(97 + (i % 26))));
      const key = (i: number) => Buffer.from(`k${String(i).padStart(6, "0")}`);
      for (let round = 0; round < 20; round++) {
        let seq = 0;
        for (let i = round * 100; i < (round + 1) * 100; i++) seq = engine.write([{ type: "put", key: key(i), value: value(i) }]);
        await engine.whenDurable(seq); // a group commit per round: the memtable fills over several, and freezes
      }
      await engine.flushMemtables();
      const walFlushes = engine.metrics().walFlushes;
      assert.ok(walFlushes >= 20, `${walFlushes} group commits`);
      assert.equal(starts, walFlushes, "every group commit started its turn");
      assert.equal(ends, starts, "and ended it");
      assert.equal(nested, false, "one group commit at a time");
      assert.ok(engine.metrics().l0Flushes >= 2, `${engine.metrics().l0Flushes} L0s`);
      let n = 0;
      for await (const entry of engine.scan({})) {
        assert.ok(Buffer.from(entry.key).equals(key(n)) && Buffer.from(entry.value!).equals(value(n)), `entry ${n}`);
        n++;
      }
      assert.equal(n, 2000);
      await engine.close();
    } finally {
      DeviceTurns.prototype.flushStarted = started;
      DeviceTurns.prototype.flushEnded = ended;
    }
  });
});
