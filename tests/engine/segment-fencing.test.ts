/**
 * Fencing on the segment WAL (decision 0005), on the simulated disk with stall hooks in the
 * file layer: a zombie writer paused before its write, between its write and its fdatasync, and
 * between its fdatasync and its seal check; three writers in a row; a new writer that loses
 * power at every step of its takeover. In every case: nothing the old writer acknowledged is
 * missing, the old writer acknowledges nothing after the new one replayed, and its late frames
 * never surface in a later recovery (also after a power cut).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { StallingWalDirectory, type WalStallPoint } from "../../src/engine/wal-files.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { killable, SimulatedDisk } from "../helpers/simulated-disk.js";

const options: EngineOptions = { walMode: "segments", walSegmentBytes: 64 * 1024, l0SstBytes: 1024 * 1024, gcIntervalMs: 0, gcGraceMs: 0, checkCreateOnly: false };
const put = (key: string, value: string) => [{ type: "put" as const, key: Buffer.from(key), value: Buffer.from(value) }];
const nothingKept = () => 0;

async function contents(engine: Engine): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of engine.scan({})) out.set(Buffer.from(entry.key).toString(), Buffer.from(entry.value).toString());
  return out;
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A directory whose next call at `point` stalls until released. */
function stallable(disk: SimulatedDisk) {
  let armed: WalStallPoint | undefined;
  let reached!: () => void;
  let release!: () => void;
  let reachedPromise = Promise.resolve();
  let releasePromise = Promise.resolve();
  const dir = new StallingWalDirectory(disk.directory("zombie"), async (point) => {
    if (point !== armed) return;
    armed = undefined;
    reached();
    await releasePromise;
  });
  return {
    dir,
    arm(point: WalStallPoint) {
      armed = point;
      reachedPromise = new Promise((resolve) => (reached = resolve));
      releasePromise = new Promise((resolve) => (release = resolve));
    },
    reached: () => reachedPromise,
    release: () => release(),
  };
}

async function openZombieWithAcks(disk: SimulatedDisk, store: MemoryStore, count: number) {
  const stall = stallable(disk);
  const zombie = await Engine.open(store, { ...options, walDirectory: stall.dir });
  for (let i = 1; i <= count; i++) await zombie.whenDurable(zombie.write(put(`a${i}`, `A${i}`)));
  await settle();
  const acked: number[] = [];
  zombie.onDurable((seq) => acked.push(seq));
  return { zombie, stall, acked };
}

describe("segment WAL fencing", () => {
  for (const point of ["before-write", "before-datasync", "before-seal-check"] as const) {
    for (const then of ["released", "cut off by a power loss"] as const) {
      it(`a zombie stalled ${point.replace(/-/g, " ")}, then ${then}: no ack after the takeover, nothing acked lost, no late frame`, async () => {
        const disk = new SimulatedDisk();
        const store = new MemoryStore();
        const { zombie, stall, acked } = await openZombieWithAcks(disk, store, 10);
        stall.arm(point);
        const pending = zombie.whenDurable(zombie.write(put("a11", "A11")));
        pending.catch(() => undefined);
        await stall.reached();
        const successor = await Engine.open(store, { ...options, walDirectory: disk.directory("successor") });
        const replayed = await contents(successor);
        for (let i = 1; i <= 10; i++) assert.equal(replayed.get(`a${i}`), `A${i}`);
        // Only a frame already written when the successor read the segment may be replayed.
        const lateFrameReplayed = point !== "before-write";
        assert.equal(replayed.has("a11"), lateFrameReplayed);
        await successor.whenDurable(successor.write(put("b1", "B1")));
        if (then === "released") {
          stall.release();
          await assert.rejects(pending, { code: "fenced" });
          assert.deepEqual(acked, [], "the zombie acked nothing after the takeover");
          assert.equal(zombie.state, "closed");
          await successor.close();
        }
        // Power cut: unsynced bytes are lost (the stalled zombie's frame among them), except what
        // the successor made durable.
        disk.powerCut(nothingKept);
        const recovered = await contents(await Engine.open(store, { ...options, walDirectory: disk.directory("after") }));
        assert.equal(recovered.get("b1"), "B1");
        for (let i = 1; i <= 10; i++) assert.equal(recovered.get(`a${i}`), `A${i}`);
        assert.equal(recovered.has("a11"), lateFrameReplayed, "the zombie's late frame never surfaces");
      });
    }
  }

  it("three writers in a row, each taking over a live one, keep every acknowledged write", async () => {
    const disk = new SimulatedDisk();
    const store = new MemoryStore();
    const ackedBy = new Map<string, string>();
    let stopAll = false;
    const run = async (name: string) => {
      const engine = await Engine.open(store, { ...options, walDirectory: disk.directory(name) });
      let takenOver = false;
      const loop = (async () => {
        for (let i = 1; !stopAll && !takenOver; i++) {
          const key = `${name}${i}`;
          let seq: number;
          try {
            seq = engine.write(put(key, `${name}-${i}`));
          } catch {
            return;
          }
          await engine.whenDurable(seq).then(
            () => {
              assert.ok(!takenOver, `${name} acked ${key} after it was taken over`);
              ackedBy.set(key, `${name}-${i}`);
            },
            () => undefined,
          );
        }
      })();
      return { engine, loop, markTakenOver: () => (takenOver = true) };
    };
    const a = await run("a");
    await settle();
    const b = await run("b");
    a.markTakenOver();
    await settle();
    const c = await run("c");
    b.markTakenOver();
    await settle();
    stopAll = true;
    await Promise.all([a.loop, b.loop, c.loop]);
    assert.equal(a.engine.state, "closed");
    assert.equal(b.engine.state, "closed");
    await c.engine.close();
    disk.powerCut(nothingKept);
    const recovered = await contents(await Engine.open(store, { ...options, walDirectory: disk.directory("d") }));
    assert.ok(ackedBy.size > 0);
    for (const [key, value] of ackedBy) assert.equal(recovered.get(key), value, `acked ${key}`);
  });

  it("a new writer that loses power at any step of its takeover leaves the old writer's acks intact", async () => {
    // Cut at the 1st, 2nd, ... disk operation from the start of the takeover, until one completes.
    let cutsDuringTakeover = 0;
    for (let cutAt = 1; cutAt < 1000; cutAt++) {
      const disk = new SimulatedDisk();
      const memory = new MemoryStore();
      const { zombie } = await openZombieWithAcks(disk, memory, 5);
      const pending = zombie.whenDurable(zombie.write(put("a6", "A6")));
      pending.catch(() => undefined);
      const doomed = killable(memory);
      let signal!: () => void;
      let didCut = false;
      const cut = new Promise<void>((resolve) => (signal = resolve));
      disk.armCut(cutAt, nothingKept, () => {
        didCut = true;
        doomed.kill();
        signal();
      });
      const opened = await Promise.race([Engine.open(doomed.store, { ...options, walDirectory: disk.directory() }), cut]);
      if (!didCut) {
        assert.ok(opened !== undefined);
        disk.cutAtOp = Number.POSITIVE_INFINITY;
        await opened.close();
        await zombie.close().catch(() => undefined);
        break;
      }
      cutsDuringTakeover++;
      const recovered = await contents(await Engine.open(memory, { ...options, walDirectory: disk.directory() }));
      for (let i = 1; i <= 5; i++) assert.equal(recovered.get(`a${i}`), `A${i}`, `cut at op ${cutAt}`);
    }
    assert.ok(cutsDuringTakeover >= 5, `${cutsDuringTakeover} cut points inside a takeover`);
  });
});
