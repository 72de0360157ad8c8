/**
 * Issue 13.1: what a caller awaits keeps the process alive, as an open socket does. Each case
 * runs a child (fixtures/keep-alive.ts) whose only pending work is the durastream call; Node
 * must not end it early (exit code 13, lines missing) and must let it exit once the work ends.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { spawnTsx } from "../helpers/child-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { MemoryStore, openLog } from "../../src/index.js";
import { eventLoopHolds, holdEventLoop } from "../../src/util/keep-alive.js";

const FIXTURE = "tests/stream/fixtures/keep-alive.ts";

const EXPECTED: Record<string, string[]> = {
  follow: ["open", "record 0", "closed"],
  signal: ["open", "ended", "closed"],
  waitMs: ["open", "ended", "closed"],
  session: ["open", "acked 0", "closed"],
  append: ["open", "acked 0", "closed"],
};

describe("keep-alive: awaiting durastream keeps the process alive", () => {
  for (const [mode, lines] of Object.entries(EXPECTED)) {
    it(`${mode}: the child finishes its work and exits 0`, async () => {
      const url = mode === "follow" ? `file://${await makeTempDir("keep-alive")}` : "memory://";
      const child = spawnTsx(FIXTURE, [mode, url]);
      const exit = await child.exited;
      assert.deepEqual(child.lines, lines, `stderr: ${child.stderr()}`);
      assert.equal(exit.code, 0);
    });
  }

  it("each hold ends with its work, before the Log closes: an append, a follow ended by break or by its signal, a closed session", async () => {
    const log = await openLog({ store: new MemoryStore() });
    try {
      const stream = await log.openStream("s", { createIfMissing: true });
      const idle = eventLoopHolds();
      await stream.append([{ body: "a" }]);
      assert.equal(eventLoopHolds(), idle, "an acknowledged append holds nothing");
      for await (const record of stream.read({ from: { seqNum: 0 }, follow: true })) {
        assert.equal(record.seqNum, 0);
        break;
      }
      assert.equal(eventLoopHolds(), idle, "a follow ended by break holds nothing");
      const controller = new AbortController();
      const following = stream.read({ from: { seqNum: 1 }, follow: true, signal: controller.signal });
      const waiting = following[Symbol.asyncIterator]().next();
      await new Promise(setImmediate);
      assert.equal(eventLoopHolds(), idle + 1, "a waiting follow holds the event loop");
      controller.abort();
      await waiting.catch(() => undefined);
      assert.equal(eventLoopHolds(), idle, "a follow ended by its signal holds nothing");
      const session = stream.appendSession();
      assert.equal(eventLoopHolds(), idle + 1, "an open session holds the event loop");
      await (await session.submit([{ body: "b" }])).ack();
      await session.close();
      assert.equal(eventLoopHolds(), idle, "a closed session holds nothing");
    } finally {
      await log.close();
    }
  });

  it("holds are counted and released once each", () => {
    const before = eventLoopHolds();
    const a = holdEventLoop();
    const b = holdEventLoop();
    assert.equal(eventLoopHolds(), before + 2);
    a();
    a();
    assert.equal(eventLoopHolds(), before + 1);
    b();
    assert.equal(eventLoopHolds(), before);
  });
});
