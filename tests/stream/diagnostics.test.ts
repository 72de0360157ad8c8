/**
 * Issue 13 (friction): background events reach a `logger` option (pino's method shape) and their
 * `node:diagnostics_channel` channels: a store outage and the recovery, a failed garbage-collection
 * pass, a fence by another writer, a close. A logger that throws does not break the log.
 */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { DIAGNOSTICS_CHANNELS, FaultyStore, ManualClock, MemoryStore, StorageError, openLog, type DiagnosticEvent, type DurastreamLogger } from "../../src/index.js";
import { T0 } from "../helpers/stream-helpers.js";

/** A logger that keeps `level event` lines. */
function recordingLogger(): { logger: DurastreamLogger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (fields: DiagnosticEvent, message: string) => {
    assert.ok(message.startsWith("durastream: "), message);
    lines.push(`${level} ${fields.event}`);
  };
  return { logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

async function advanceUntil(clock: ManualClock, done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await clock.advance(100);
}

describe("diagnostics: logger option and diagnostics_channel", () => {
  it("reports a store outage, the recovery and the close, on the logger and the channels", async () => {
    const store = new FaultyStore(new MemoryStore());
    const clock = new ManualClock({ startMs: T0 });
    const { logger, lines } = recordingLogger();
    const published: string[] = [];
    const onFailing = (message: unknown) => published.push(`failing ${(message as DiagnosticEvent).store}`);
    const onRecovered = (message: unknown) => published.push(`recovered ${(message as DiagnosticEvent).store}`);
    subscribe(DIAGNOSTICS_CHANNELS.storeFailing, onFailing);
    subscribe(DIAGNOSTICS_CHANNELS.storeRecovered, onRecovered);
    try {
      const log = await openLog({ store, clock, logger, flushIntervalMs: 0, storeRetryDeadlineMs: 1000 });
      const stream = await log.openStream("s", { createIfMissing: true });
      store.cut();
      const failed = stream.append([{ body: "x" }]).then(() => false, () => true);
      await advanceUntil(clock, () => log.health().status === "recovering");
      assert.equal(await failed, true);
      store.heal();
      await advanceUntil(clock, () => log.health().status === "ok");
      await log.close();
      assert.deepEqual(lines, ["warn storeFailing", "info storeRecovered", "info closed"]);
      assert.deepEqual(published, ["failing memory", "recovered memory"].map((line) => line.replace("memory", store.description)));
    } finally {
      unsubscribe(DIAGNOSTICS_CHANNELS.storeFailing, onFailing);
      unsubscribe(DIAGNOSTICS_CHANNELS.storeRecovered, onRecovered);
    }
  });

  it("reports a fence by another writer as an error; a throwing logger does not break the log", async () => {
    const store = new MemoryStore();
    const first = recordingLogger();
    const log = await openLog({ store, logger: first.logger });
    const stream = await log.openStream("s", { createIfMissing: true });
    const throwing = await openLog({ store, takeover: true, logger: { info: () => { throw new Error("logger down"); } } });
    await stream.append([{ body: "x" }]).catch(() => undefined); // the first writer finds out it was fenced
    for (let i = 0; i < 100 && log.health().status !== "closed"; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(first.lines.includes("error fenced"), first.lines.join(", "));
    await log.close();
    await throwing.close(); // its logger threw on "closed": close still resolves
  });

  it("reports a failed garbage-collection pass as a background error (warn), and the log goes on", async () => {
    const store = new FaultyStore(new MemoryStore());
    for (let i = 0; i < 8; i++) await (await openLog({ store })).close(); // manifests for the collector to delete
    const { logger, lines } = recordingLogger();
    const published: DiagnosticEvent[] = [];
    const onError = (message: unknown) => published.push(message as DiagnosticEvent);
    subscribe(DIAGNOSTICS_CHANNELS.backgroundError, onError);
    try {
      store.failWhen((call) => call.kind === "delete", { times: Infinity, error: new StorageError("delete refused", { retryable: false }) });
      const log = await openLog({ store, logger });
      const stream = await log.openStream("s", { createIfMissing: true });
      await stream.append([{ body: "x" }]);
      await log.close(); // a clean close waits for the collection pass its open started: its deletes fail
      assert.ok(lines.includes("warn backgroundError"), lines.join(", "));
      assert.ok(published.some((event) => event.task === "garbage collection" && event.error instanceof StorageError), JSON.stringify(published));
      assert.equal(lines.at(-1), "info closed");
    } finally {
      unsubscribe(DIAGNOSTICS_CHANNELS.backgroundError, onError);
      store.clearFaults();
    }
  });

  it("refuses a logger whose methods are not functions", async () => {
    await assert.rejects(openLog({ store: new MemoryStore(), logger: { warn: "loud" } as never }), /`logger` must be/);
  });
});
