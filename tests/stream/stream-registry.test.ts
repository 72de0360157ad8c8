/**
 * StreamRegistry's stream ids: reserved STREAM_IDS_PER_COUNTER_WRITE at a time (the counter key
 * is written once per reservation, not per creation), never reused across a reopen, and a
 * creation the engine refuses to write reserves nothing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine, type WriteOp } from "../../src/engine/engine.js";
import { StorageError } from "../../src/errors.js";
import { STREAM_IDS_PER_COUNTER_WRITE } from "../../src/limits.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { resolveStreamConfig } from "../../src/stream/stream-config.js";
import { STREAM_ID_COUNTER_KEY, decodeU64Value } from "../../src/stream/stream-keys.js";
import { StreamRegistry } from "../../src/stream/stream-registry.js";
import { systemClock } from "../../src/util/clock.js";

const writesCounter = (ops: readonly WriteOp[]) => ops.some((op) => Buffer.compare(op.key, STREAM_ID_COUNTER_KEY) === 0);

/** The engine with `write` replaced by `write` (the rest bound to it). */
function withWrite(engine: Engine, write: Engine["write"]): Engine {
  return new Proxy(engine, {
    get(target, property) {
      if (property === "write") return write;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function durableCounter(engine: Engine): Promise<number | undefined> {
  const value = await engine.get(STREAM_ID_COUNTER_KEY);
  return value === undefined ? undefined : decodeU64Value(value);
}

describe("stream ids", () => {
  it("are reserved in blocks: one counter write per STREAM_IDS_PER_COUNTER_WRITE creations; a reopen skips the unused ones and reuses none", async () => {
    const store = new MemoryStore();
    let engine = await Engine.open(store, { flushIntervalMs: 0 });
    let counterWrites = 0;
    const counting = withWrite(engine, (ops) => {
      if (writesCounter(ops)) counterWrites++;
      return engine.write(ops);
    });
    const registry = new StreamRegistry(() => counting, systemClock);
    const count = STREAM_IDS_PER_COUNTER_WRITE + 2;
    const metas = await Promise.all(Array.from({ length: count }, (_, i) => registry.create(`s${i}`, {})));
    assert.deepEqual(
      metas.map((meta) => meta.id),
      Array.from({ length: count }, (_, i) => i + 1),
    );
    assert.equal(counterWrites, 2);
    assert.equal(await durableCounter(engine), 1 + 2 * STREAM_IDS_PER_COUNTER_WRITE);
    await engine.close();

    engine = await Engine.open(store, { flushIntervalMs: 0 });
    try {
      const reopened = new StreamRegistry(() => engine, systemClock);
      const next = await reopened.create("after-reopen", resolveStreamConfig());
      assert.equal(next.id, 1 + 2 * STREAM_IDS_PER_COUNTER_WRITE, "the first id above every reserved one");
      assert.equal(await durableCounter(engine), 1 + 3 * STREAM_IDS_PER_COUNTER_WRITE);
    } finally {
      await engine.close();
    }
  });

  it("regression: a creation whose write the engine refuses reserves nothing (the next one writes the counter and takes its id)", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    try {
      let refuse = true;
      const counterWrites: number[] = [];
      const flaky = withWrite(engine, (ops) => {
        if (refuse) {
          refuse = false;
          throw new StorageError("the store failed and the log is reopening; retry the write shortly", { retryable: true, outcome: "not_applied" });
        }
        if (writesCounter(ops)) counterWrites.push(counterWrites.length);
        return engine.write(ops);
      });
      const registry = new StreamRegistry(() => flaky, systemClock);
      await assert.rejects(registry.create("refused", {}), StorageError);
      const created = await registry.create("next", {});
      assert.equal(created.id, 1);
      assert.equal(counterWrites.length, 1, "the next creation must write the counter: the refused one wrote nothing");
      assert.equal(await durableCounter(engine), 1 + STREAM_IDS_PER_COUNTER_WRITE);
      assert.equal(await registry.getMeta("refused"), undefined);
    } finally {
      await engine.close();
    }
  });
});
