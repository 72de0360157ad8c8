/**
 * StreamRegistry's stream ids: reserved STREAM_IDS_PER_COUNTER_WRITE at a time (the counter key
 * is written once per reservation, not per creation), never reused across a reopen, and a
 * creation the engine refuses to write reserves nothing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine, type WriteOp } from "../../src/engine/engine.js";
import { SstCompactedAwayError, StorageError } from "../../src/errors.js";
import { MAX_FRUITLESS_SCAN_RESTARTS, STREAM_IDS_PER_COUNTER_WRITE } from "../../src/limits.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { resolveStreamConfig } from "../../src/stream/stream-config.js";
import { STREAM_ID_COUNTER_KEY, decodeU64Value, encodeU64Value, trimPointKey } from "../../src/stream/stream-keys.js";
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

describe("a read-only log's reads when an SST was compacted away under them (the engine reloaded its manifest)", () => {
  const collected = () => new SstCompactedAwayError("sst/00000000000000000004", new Error("not found"));

  it("Engine.get reads again, and openStream's meta read with it", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    try {
      const registry = new StreamRegistry(() => engine, systemClock);
      await registry.create("orders", {});
      const version = engine.version;
      const getNewest = version.getNewest.bind(version);
      let failures = 2;
      version.getNewest = async (...args: Parameters<typeof getNewest>) => {
        if (failures > 0) {
          failures--;
          throw collected();
        }
        return getNewest(...args);
      };
      const meta = await registry.getMeta("orders"); // before, the retryable error reached openStream
      assert.equal(failures, 0);
      assert.ok(meta !== undefined);
      failures = MAX_FRUITLESS_SCAN_RESTARTS; // a read that never gets through still fails, retryable
      await assert.rejects(registry.getMeta("orders"), (error: unknown) => error instanceof SstCompactedAwayError);
    } finally {
      await engine.close();
    }
  });

  it("the trim points' load scans again from the start", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    try {
      await engine.whenDurable(engine.write([{ type: "put", key: trimPointKey(7), value: encodeU64Value(42) }]));
      let failures = 1;
      const racing = new Proxy(engine, {
        get(target, property) {
          if (property === "scan") {
            return (...args: Parameters<Engine["scan"]>) => {
              if (failures === 0) return target.scan(...args);
              failures--;
              return (async function* () {
                throw collected();
              })();
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const registry = new StreamRegistry(() => engine, systemClock);
      await registry.loadTrimPoints(racing); // before, openLog of a reader failed with the retryable error
      assert.equal(failures, 0);
      assert.equal(registry.trimPoints.get(7), 42);
    } finally {
      await engine.close();
    }
  });
});
