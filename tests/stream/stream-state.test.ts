/**
 * Loading a stream's durable state (stream-state.ts) while the durable state moves on between
 * its reads, as it does in a read-only log that applies its writer's new WAL objects meanwhile.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { CorruptionError, MemoryStore } from "../../src/index.js";
import { encodeTailValue, recordKey, tailKey } from "../../src/stream/stream-keys.js";
import { loadStreamState } from "../../src/stream/stream-state.js";
import { SstCompactedAwayError } from "../../src/errors.js";

const STREAM = 1;

/** Writes records [from, to) of the stream and its tail `to`, durably. */
async function writeRecords(engine: Engine, from: number, to: number): Promise<void> {
  const ops = [];
  for (let seqNum = from; seqNum < to; seqNum++) ops.push({ type: "put" as const, key: recordKey({ streamId: STREAM, seqNum, timestamp: seqNum }), value: Uint8Array.of(1, 0) });
  ops.push({ type: "put" as const, key: tailKey(STREAM), value: encodeTailValue({ nextSeqNum: to, lastTimestamp: to - 1, lastWriteMs: 0 }) });
  await engine.whenDurable(engine.write(ops));
}

/** The engine, with `get` and `scan` replaced where `overrides` gives them (the rest bound to it). */
function withOverrides(engine: Engine, overrides: { get?: Engine["get"]; scan?: Engine["scan"] }): Engine {
  return new Proxy(engine, {
    get(target, property) {
      const override = property === "get" || property === "scan" ? overrides[property] : undefined;
      if (override !== undefined) return override;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe("stream state load", () => {
  it("regression: new durable records between the tail read and the record scan used to be reported as corruption; the load reads again", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    try {
      await writeRecords(engine, 0, 74);
      let raced = false;
      // The first tail read resolves only after the next records and tail became durable.
      const racing = withOverrides(engine, {
        get: async (key) => {
          const value = await engine.get(key);
          if (!raced && Buffer.compare(key, tailKey(STREAM)) === 0) {
            raced = true;
            await writeRecords(engine, 74, 80);
          }
          return value;
        },
      });
      const state = await loadStreamState(racing, STREAM);
      assert.ok(raced);
      assert.deepEqual(state.tail, { seqNum: 80, timestamp: 79 });
    } finally {
      await engine.close();
    }
  });

  it("loads again when a read-only log's SST was compacted away under a point read or the scan (the engine reloaded its manifest)", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    try {
      await writeRecords(engine, 0, 12);
      let getFailures = 1;
      let scanFailures = 1;
      const collected = () => new SstCompactedAwayError("sst/00000000000000000007", new Error("not found"));
      const racing = withOverrides(engine, {
        get: async (key) => {
          if (getFailures > 0 && Buffer.compare(key, tailKey(STREAM)) === 0) {
            getFailures--;
            throw collected();
          }
          return engine.get(key);
        },
        scan: (...args) => {
          if (scanFailures === 0) return engine.scan(...args);
          scanFailures--;
          return (async function* () {
            throw collected();
          })();
        },
      });
      // Before, the retryable error reached openStream (and a read-only follower's reload) as is.
      const state = await loadStreamState(racing, STREAM);
      assert.equal(getFailures + scanFailures, 0);
      assert.deepEqual(state.tail, { seqNum: 12, timestamp: 11 });
    } finally {
      await engine.close();
    }
  });

  it("a reader's load (checkPastTail: false) reads the three keys and scans nothing: the past-tail check costs a block of every run", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    try {
      await writeRecords(engine, 0, 10);
      await engine.whenDurable(engine.write([{ type: "put", key: recordKey({ streamId: STREAM, seqNum: 10, timestamp: 10 }), value: Uint8Array.of(1, 0) }]));
      let scans = 0;
      const counting = withOverrides(engine, {
        scan: (...args) => {
          scans++;
          return engine.scan(...args);
        },
      });
      const state = await loadStreamState(counting, STREAM, { checkPastTail: false });
      assert.deepEqual(state.tail, { seqNum: 10, timestamp: 9 });
      assert.equal(scans, 0);
      await assert.rejects(loadStreamState(counting, STREAM), (error: unknown) => error instanceof CorruptionError);
      assert.equal(scans, 1, "a writer's load (the default) still checks");
    } finally {
      await engine.close();
    }
  });

  it("still reports a record past the tail as corruption when nothing moved between the reads", async () => {
    const engine = await Engine.open(new MemoryStore(), { flushIntervalMs: 0 });
    try {
      await writeRecords(engine, 0, 10);
      await engine.whenDurable(engine.write([{ type: "put", key: recordKey({ streamId: STREAM, seqNum: 10, timestamp: 10 }), value: Uint8Array.of(1, 0) }]));
      await assert.rejects(loadStreamState(engine, STREAM), (error: unknown) => error instanceof CorruptionError && /record 10 exists at or after the stream's tail 10/.test(error.message));
    } finally {
      await engine.close();
    }
  });
});
