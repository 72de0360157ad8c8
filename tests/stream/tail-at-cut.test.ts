/**
 * The stream's tail key is written once per WAL object, at its cut (docs/decisions/0004).
 * What makes that safe: every WAL object that holds records of a stream ends with a batch that
 * puts the stream's tail, covering every record of the stream written so far. Checked here on
 * the WAL objects themselves, after pipelined appends to two streams (single appends, a batch,
 * an append session, a fence and a trim among them).
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { MemoryStore, openLog } from "../../src/index.js";
import { WAL_PREFIX } from "../../src/engine/paths.js";
import { decodeWalObject } from "../../src/engine/wal-format.js";
import { KeyKind, decodeRecordKey, decodeStreamIdKey, decodeTailValue } from "../../src/stream/stream-keys.js";

it("every WAL object with records of a stream ends with that stream's tail, covering them", async () => {
  const store = new MemoryStore();
  const log = await openLog({ store, flushIntervalMs: 0, l0SstBytes: 1024 * 1024 });
  const a = await log.openStream("a", { createIfMissing: true });
  const b = await log.openStream("b", { createIfMissing: true });
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) {
    pending.push(a.append([{ body: `a${i}` }]));
    if (i % 3 === 0) pending.push(b.append([{ body: `b${i}` }, { body: `b${i}+` }]));
    if (i === 50) pending.push(a.fence("token-1"));
    if (i === 120) pending.push(b.trim(10));
    if (i % 40 === 0) await new Promise(setImmediate); // let some cuts happen mid-way
  }
  const session = a.appendSession();
  for (let i = 0; i < 20; i++) pending.push((await session.submit([{ body: `s${i}` }])).ack());
  await session.close();
  await Promise.all(pending);
  await log.close();

  const maxRecordSeq = new Map<number, number>();
  let objectsWithRecords = 0;
  for await (const entry of store.list(WAL_PREFIX)) {
    const bytes = await store.get(entry.key);
    if (bytes.length === 0) continue; // a fence
    const wal = decodeWalObject(entry.key, Number(entry.key.slice(WAL_PREFIX.length)), bytes);
    if (wal.fence) continue;
    const inObject = new Set<number>();
    for (const batch of wal.batches) {
      for (const op of batch.ops) {
        if (op.type !== "put" || op.key[0] !== KeyKind.record) continue;
        const { streamId, seqNum } = decodeRecordKey(op.key);
        inObject.add(streamId);
        maxRecordSeq.set(streamId, Math.max(maxRecordSeq.get(streamId) ?? -1, seqNum));
      }
    }
    if (inObject.size === 0) continue;
    objectsWithRecords++;
    const last = wal.batches[wal.batches.length - 1]!;
    for (const streamId of inObject) {
      const tail = last.ops.find((op) => op.type === "put" && op.key[0] === KeyKind.tail && decodeStreamIdKey(op.key, KeyKind.tail) === streamId);
      assert.ok(tail !== undefined && tail.type === "put", `${entry.key}: holds records of stream ${streamId} but its last batch has no tail for it`);
      assert.equal(decodeTailValue(tail.value).nextSeqNum, maxRecordSeq.get(streamId)! + 1, `${entry.key}: stream ${streamId}'s tail covers its records`);
    }
  }
  assert.ok(objectsWithRecords >= 3, `precondition: the appends spread over several WAL objects (got ${objectsWithRecords})`);
});
