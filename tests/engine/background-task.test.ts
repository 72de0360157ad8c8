/**
 * background-task.ts on its own: EpochTask's loop and failure route, and CpuSlicer's pacing
 * (docs/decisions/0008-compaction-scheduling.md). Time is a variable the test moves; "other work"
 * is a setImmediate queued before the slicer's own, so it runs while the slicer has yielded.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CpuSlicer, EpochTask, type EpochTaskHost } from "../../src/engine/background-task.js";
import type { WriterEpoch } from "../../src/engine/writer-epoch.js";
import { CPU_SLICE_CHECK_ENTRIES, L0_BUILD_SLICE_MS } from "../../src/limits.js";

/** Runs `due()` until it asks to yield, with `ranMs` of work on the fake clock; then other work takes `othersMs`. */
async function oneSlice(slicer: CpuSlicer, clock: { nowMs: number }, ranMs: number, othersMs: number): Promise<void> {
  clock.nowMs += ranMs;
  setImmediate(() => (clock.nowMs += othersMs)); // queued before the slicer's own: runs while it yields
  let due: Promise<void> | undefined;
  for (let i = 0; i < 100_000 && due === undefined; i++) due = slicer.due();
  assert.ok(due !== undefined, "the slicer yields once its slice is used up");
  await due;
}

function pacedSlicer(share: number) {
  const clock = { nowMs: 0 };
  const pauses: number[] = [];
  const slicer = new CpuSlicer(() => clock.nowMs, {
    sliceMs: 0.5,
    busyShare: () => share,
    pause: async (ms) => void pauses.push(ms),
  });
  return { clock, pauses, slicer };
}

describe("CpuSlicer", () => {
  it("asks for its turn after each yield and waits for it before the next slice", async () => {
    const clock = { nowMs: 0 };
    let release: (() => void) | undefined;
    let turnsAsked = 0;
    const slicer = new CpuSlicer(() => clock.nowMs, {
      sliceMs: 0.5,
      turn: () => {
        turnsAsked++;
        return turnsAsked === 1 ? undefined : new Promise<void>((resolve) => (release = resolve));
      },
    });
    await oneSlice(slicer, clock, 1, 0); // the first turn is free
    let resumed = false;
    clock.nowMs += 1;
    let due: Promise<void> | undefined;
    for (let i = 0; i < 100_000 && due === undefined; i++) due = slicer.due();
    void due!.then(() => (resumed = true));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(turnsAsked, 2);
    assert.equal(resumed, false, "the second slice waits for its turn");
    release!();
    await due;
    assert.equal(resumed, true);
  });

  it("yields one turn and never pauses when the loop is idle while it yields", async () => {
    const { clock, pauses, slicer } = pacedSlicer(0.25);
    for (let i = 0; i < 5; i++) await oneSlice(slicer, clock, 2, 0);
    assert.deepEqual(pauses, []);
  });

  it("pauses a busy loop until its share of the time is at most busyShare", async () => {
    const { clock, pauses, slicer } = pacedSlicer(0.25);
    await oneSlice(slicer, clock, 2, 1); // ran 2 ms, others 1 ms: 25% needs 6 ms of others, 5 more
    assert.deepEqual(pauses, [5]);
  });

  it("caps one pause at 20 ms, and takes none below 1 ms", async () => {
    const { clock, pauses, slicer } = pacedSlicer(0.1);
    await oneSlice(slicer, clock, 10, 1); // 90 ms owed
    await oneSlice(slicer, clock, 0.6, 5); // 5.4 - 5 = 0.4 ms owed: not worth a timer
    assert.deepEqual(pauses, [20]);
  });

  it("reads the clock often enough to end a 0.1 ms slice (an L0 build's) within CPU_SLICE_CHECK_ENTRIES entries of its end", async () => {
    const clock = { nowMs: 0 };
    const slicer = new CpuSlicer(() => clock.nowMs, { sliceMs: L0_BUILD_SLICE_MS });
    // Entries of 3 us each: the slice is used up after 34 entries (a check every 64 entries would overrun it by half).
    const entriesPerSlice = Math.ceil(L0_BUILD_SLICE_MS / 0.003);
    for (let slice = 0; slice < 3; slice++) {
      let entries = 0;
      let due: Promise<void> | undefined;
      while (due === undefined) {
        clock.nowMs += 0.003;
        entries++;
        due = slicer.due();
      }
      assert.ok(entries >= entriesPerSlice - 1 && entries <= entriesPerSlice + CPU_SLICE_CHECK_ENTRIES, `slice ${slice} yielded after ${entries} entries`);
      await due;
    }
  });

  it("never pauses at busyShare 1 (the flusher)", async () => {
    const { clock, pauses, slicer } = pacedSlicer(1);
    for (let i = 0; i < 5; i++) await oneSlice(slicer, clock, 2, 3);
    assert.deepEqual(pauses, []);
  });
});

describe("EpochTask", () => {
  const epoch = { stopped: false } as WriterEpoch;

  it("runs jobs until there is none, and a second kick while running starts no second loop", async () => {
    const host: EpochTaskHost = { epoch, closing: false, reportFailure: () => assert.fail("no failure expected") };
    let jobs = 3;
    let running = 0;
    let maxRunning = 0;
    const task = new EpochTask(host, () =>
      jobs === 0
        ? undefined
        : async () => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            await new Promise((resolve) => setImmediate(resolve));
            jobs--;
            running--;
          },
    );
    task.kick();
    task.kick();
    await task.idle();
    assert.equal(jobs, 0);
    assert.equal(maxRunning, 1);
  });

  it("reports a failed job with its epoch to the failure route and stops", async () => {
    const failures: [WriterEpoch, unknown][] = [];
    const host: EpochTaskHost = { epoch, closing: false, reportFailure: (e, error) => failures.push([e, error]) };
    let calls = 0;
    const boom = new Error("boom");
    const task = new EpochTask(host, () => {
      calls++;
      return async () => {
        throw boom;
      };
    });
    task.kick();
    await task.idle();
    assert.equal(calls, 1, "no job after a failure");
    assert.deepEqual(failures, [[epoch, boom]]);
  });

  it("starts nothing for a stopped epoch, a closing engine or no epoch", async () => {
    for (const host of [
      { epoch: { stopped: true } as WriterEpoch, closing: false },
      { epoch, closing: true },
      { epoch: undefined, closing: false },
    ]) {
      const task = new EpochTask({ ...host, reportFailure: () => undefined }, () => assert.fail("no job expected"));
      task.kick();
      await task.idle();
    }
  });
});
