/**
 * Model-based randomized test of the engine (fast-check): random batches, scans, time jumps,
 * reopenings (clean and abandoned), memtable flushes and compactions, and store faults
 * (refused PUTs, lost responses, outages past the retry deadline), checked against a simple
 * in-memory model.
 *
 * Invariants:
 *   - every write whose durability was confirmed is present (until overwritten or expired);
 *   - a write that failed with outcome "unknown" is either wholly present or wholly absent;
 *   - a write refused up front (known not applied) is never present;
 *   - scans are ordered, in both directions, and never show non-durable or expired entries.
 * Reproduce a failure with DURASTREAM_SEED=<seed printed by fast-check>.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { Engine, type EngineOptions, type WriteOp } from "../../src/engine/engine.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { ManualClock } from "../../src/util/clock.js";

type Command =
  | { t: "write"; batches: { keys: number[]; deletes: number[]; ttlMs: number | null }[] }
  | { t: "scan"; reverse: boolean }
  | { t: "get"; key: number }
  | { t: "time"; ms: number }
  | { t: "reopen"; clean: boolean }
  | { t: "fault"; kind: "refuse" | "lose" }
  | { t: "outage" }
  | { t: "flush" };

const KEYS = 40;
const keyName = (k: number) => `key${String(k).padStart(3, "0")}`;

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("write" as const),
      batches: fc.array(
        fc.record({
          keys: fc.array(fc.nat(KEYS - 1), { minLength: 1, maxLength: 4 }),
          deletes: fc.array(fc.nat(KEYS - 1), { maxLength: 2 }),
          ttlMs: fc.option(fc.integer({ min: 1, max: 5_000 }), { freq: 4 }),
        }),
        { minLength: 1, maxLength: 5 },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("scan" as const), reverse: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("get" as const), key: fc.nat(KEYS - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("time" as const), ms: fc.integer({ min: 1, max: 3_000 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reopen" as const), clean: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("fault" as const), kind: fc.constantFrom("refuse" as const, "lose" as const) }) },
  { weight: 1, arbitrary: fc.constant({ t: "outage" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "flush" as const }) },
);

interface ModelValue {
  value: string;
  expireAtMs: number;
}

/** Keys whose state is uncertain after an "unknown" failure, grouped by the batch that wrote them. */
interface UncertainBatch {
  tag: string;
  keys: string[];
}

class Harness {
  readonly memory = new MemoryStore();
  readonly clock = new ManualClock({ startMs: 1_000_000 });
  readonly model = new Map<string, ModelValue>();
  readonly uncertain: UncertainBatch[] = [];
  readonly refusedTags: string[] = [];
  faulty!: FaultyStore;
  engine!: Engine;
  #tagCounter = 0;
  readonly options: EngineOptions = {
    clock: this.clock,
    flushIntervalMs: 0,
    l0SstBytes: 2048,
    sstBlockBytes: 256,
    maxSstBytes: 8192,
    gcIntervalMs: 0,
    gcGraceMs: 0,
    storeRetryDeadlineMs: 1_000,
    checkCreateOnly: false,
  };

  async open(): Promise<void> {
    this.faulty = new FaultyStore(this.memory, { clock: this.clock });
    this.engine = await Engine.open(this.faulty, this.options);
  }

  nextTag(): string {
    return `t${++this.#tagCounter}`;
  }

  /** Advances simulated time in steps until `done()` or the budget runs out. */
  async until(done: () => boolean, budgetMs = 20_000): Promise<void> {
    for (let spent = 0; !done() && spent < budgetMs; spent += 50) await this.clock.advance(50);
  }

  async write(batches: Extract<Command, { t: "write" }>["batches"]): Promise<void> {
    const nowMs = this.clock.nowMs();
    const pending: { seq: number; apply: () => void }[] = [];
    for (const batch of batches) {
      const tag = this.nextTag();
      const ops: WriteOp[] = [];
      const effects = new Map<string, ModelValue | null>();
      for (const k of batch.deletes) effects.set(keyName(k), null);
      for (const k of batch.keys) {
        const expireAtMs = batch.ttlMs === null ? 0 : nowMs + batch.ttlMs;
        effects.set(keyName(k), { value: `${tag}:${k}`, expireAtMs });
      }
      for (const [key, effect] of effects) {
        ops.push(effect === null ? { type: "delete", key: Buffer.from(key) } : { type: "put", key: Buffer.from(key), value: Buffer.from(effect.value), expireAtMs: effect.expireAtMs });
      }
      const seq = this.engine.write(ops);
      pending.push({
        seq,
        apply: () => {
          for (const [key, effect] of effects) {
            if (effect === null) this.model.delete(key);
            else this.model.set(key, effect);
          }
        },
      });
    }
    let settled = false;
    const all = Promise.all(pending.map((p) => this.engine.whenDurable(p.seq))).finally(() => (settled = true));
    await this.until(() => settled);
    await all;
    for (const p of pending) p.apply();
  }

  /** An outage longer than the retry deadline: a write to fresh keys fails with outcome unknown. */
  async outage(): Promise<void> {
    const tag = this.nextTag();
    const keys = [`fresh-${tag}-a`, `fresh-${tag}-b`];
    this.faulty.cut();
    const seq = this.engine.write(keys.map((key) => ({ type: "put", key: Buffer.from(key), value: Buffer.from(tag) })));
    let result: string | undefined;
    this.engine.whenDurable(seq).then(
      () => (result = "durable"),
      (error: { code?: string; outcome?: string }) => (result = `${error.code}/${error.outcome}`),
    );
    await this.until(() => result !== undefined);
    assert.equal(result, "storage/unknown");
    this.uncertain.push({ tag, keys });
    const refusedKey = `refused-${tag}`;
    assert.throws(() => this.engine.write([{ type: "put", key: Buffer.from(refusedKey), value: Buffer.from("x") }]), { code: "storage" });
    this.refusedTags.push(refusedKey);
    this.faulty.heal();
    await this.until(() => this.engine.state === "open");
    assert.equal(this.engine.state, "open");
  }

  async reopen(clean: boolean): Promise<void> {
    if (clean) {
      await this.engine.close();
    } else {
      this.faulty.cut(); // the abandoned engine can no longer reach the store: a crash
    }
    await this.open();
  }

  /** Compares a full scan with the model (plus the rules for uncertain and refused writes). */
  async check(reverse: boolean): Promise<void> {
    const nowMs = this.clock.nowMs();
    const seen: [string, string][] = [];
    for await (const entry of this.engine.scan({}, { reverse })) seen.push([Buffer.from(entry.key).toString(), Buffer.from(entry.value).toString()]);
    const keys = seen.map(([key]) => key);
    const sorted = [...keys].sort();
    assert.deepEqual(keys, reverse ? sorted.reverse() : sorted, "scan order");
    const got = new Map(seen);
    for (const [key, { value, expireAtMs }] of this.model) {
      const live = expireAtMs === 0 || expireAtMs > nowMs;
      assert.equal(got.get(key), live ? value : undefined, `model key ${key}`);
    }
    for (const batch of this.uncertain) {
      const present = batch.keys.filter((key) => got.has(key));
      assert.ok(present.length === 0 || present.length === batch.keys.length, `batch ${batch.tag} is partly visible`);
    }
    for (const key of this.refusedTags) assert.equal(got.has(key), false, `refused write ${key} is present`);
    for (const key of got.keys()) {
      const known = this.model.has(key) || this.uncertain.some((batch) => batch.keys.includes(key));
      assert.ok(known, `unexpected key ${key}`);
    }
  }

  async run(command: Command): Promise<void> {
    switch (command.t) {
      case "write":
        return this.write(command.batches);
      case "scan":
        return this.check(command.reverse);
      case "get": {
        const key = keyName(command.key);
        const expected = this.model.get(key);
        const live = expected !== undefined && (expected.expireAtMs === 0 || expected.expireAtMs > this.clock.nowMs());
        const got = await this.engine.get(Buffer.from(key));
        assert.equal(got === undefined ? undefined : Buffer.from(got).toString(), live ? expected.value : undefined);
        return;
      }
      case "time":
        return this.clock.advance(command.ms);
      case "reopen":
        return this.reopen(command.clean);
      case "fault":
        if (command.kind === "refuse") this.faulty.failWhen((call) => call.kind === "put" && call.key.startsWith("wal/"));
        else this.faulty.loseResponse("put", (call) => call.key.startsWith("wal/"));
        return;
      case "outage":
        return this.outage();
      case "flush": {
        let done = false;
        const flushing = this.engine.flushMemtables().finally(() => (done = true));
        await this.until(() => done);
        await flushing;
        await this.engine.compactor.idle();
        return;
      }
    }
  }
}

it("engine agrees with a simple model under random writes, reopenings and store faults", async () => {
  const seed = process.env.DURASTREAM_SEED === undefined ? 20261126 : Number(process.env.DURASTREAM_SEED);
  await fc.assert(
    fc.asyncProperty(fc.array(commandArb, { minLength: 5, maxLength: 40 }), async (commands) => {
      const harness = new Harness();
      await harness.open();
      for (const command of commands) await harness.run(command);
      await harness.check(false);
      await harness.reopen(true);
      await harness.check(true);
      await harness.engine.close();
    }),
    { seed, numRuns: Number(process.env.DURASTREAM_RUNS ?? 60), endOnFailure: true },
  );
});
