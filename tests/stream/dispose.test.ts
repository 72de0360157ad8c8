/**
 * Issue 13 (friction): `await using` closes a Log, a Stream of `openStream()`, an append session
 * and a read session (records or batches) at the end of the block, through `Symbol.asyncDispose`;
 * each is checked closed on its own, not through the Log closing after it.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { MemoryStore, hasCode, openLog, openStream, type AppendSession, type Log } from "../../src/index.js";

it("await using closes a Log, its sessions and an openStream() stream at the end of the block", async () => {
  const store = new MemoryStore();
  let outer: Log;
  {
    await using log = await openLog({ store });
    outer = log;
    const stream = await log.openStream("s", { createIfMissing: true });
    let appending: AppendSession;
    {
      await using session = stream.appendSession();
      appending = session;
      await (await session.submit([{ body: "a" }])).ack();
    }
    await assert.rejects(appending.submit([{ body: "b" }]), (error: unknown) => hasCode(error, "closed"), "the append session closed at the end of its block");
    // Each kind of read session, iterated by hand (a `break` would end it without the dispose).
    for (const open of [() => stream.read({ from: { seqNum: 0 }, follow: true }), () => stream.readBatches({ from: { seqNum: 0 }, follow: true })]) {
      let iterator: AsyncIterator<unknown>;
      {
        await using reading = open();
        iterator = reading[Symbol.asyncIterator]();
        assert.equal((await iterator.next()).done, false);
      }
      await stream.append([{ body: "after the block" }]); // a session left open would hand this out
      assert.equal((await iterator.next()).done, true, "the read session ended at the end of its block");
    }
    assert.equal(log.health().status, "ok");
  }
  assert.equal(outer.health().status, "closed");
  {
    await using own = await openStream(store, "s");
    assert.equal((await own.checkTail()).seqNum, 3);
  }
  // Its Log closed: a writer opens without takeover (an open one would refuse with writer_active).
  const log = await openLog({ store });
  await log.close();
});

it("Symbol.asyncDispose is close()", async () => {
  const log = await openLog({ store: new MemoryStore() });
  await log[Symbol.asyncDispose]();
  assert.equal(log.health().status, "closed");
});
