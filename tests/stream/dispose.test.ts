/**
 * Issue 13 (friction): `await using` closes a Log, a Stream of `openStream()`, an append session
 * and a read session at the end of the block, through `Symbol.asyncDispose`.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { MemoryStore, openLog, openStream, type Log } from "../../src/index.js";

it("await using closes a Log, its sessions and an openStream() stream at the end of the block", async () => {
  const store = new MemoryStore();
  let outer: Log;
  {
    await using log = await openLog({ store });
    outer = log;
    const stream = await log.openStream("s", { createIfMissing: true });
    {
      await using session = stream.appendSession();
      await (await session.submit([{ body: "a" }])).ack();
    }
    {
      await using reading = stream.read({ from: { seqNum: 0 }, follow: true });
      for await (const record of reading) {
        assert.equal(record.seqNum, 0);
        break;
      }
    }
    assert.equal(log.health().status, "ok");
  }
  assert.equal(outer.health().status, "closed");
  {
    await using own = await openStream(store, "s");
    assert.equal((await own.checkTail()).seqNum, 1);
  }
  const log = await openLog({ store, readOnly: true });
  assert.equal((await (await log.openStream("s")).checkTail()).seqNum, 1, "the openStream() log closed: a reader sees everything");
  await log.close();
});

it("Symbol.asyncDispose is close()", async () => {
  const log = await openLog({ store: new MemoryStore() });
  await log[Symbol.asyncDispose]();
  assert.equal(log.health().status, "closed");
});
