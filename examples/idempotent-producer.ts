/**
 * An idempotent producer: retries an append after an unknown outcome without writing twice.
 *
 *   npx tsx examples/idempotent-producer.ts
 *
 * The producer tracks the next seqNum it expects and sends every append with `matchSeqNum`. If
 * an append fails with a retryable error (a lost response, a store outage), it simply retries
 * with the same `matchSeqNum`: either the first attempt landed, and the retry fails with
 * `seq_num_mismatch` whose `expectedSeqNum` shows it (so the producer moves on), or it did not,
 * and the retry writes the records once. Here a FaultyStore cuts the store off for longer than
 * storeRetryDeadlineMs, so one append fails with an unknown outcome and is retried.
 */
import { FaultyStore, MemoryStore, SeqNumMismatchError, isDurastreamError, openLog, type AppendRecord } from "durastream";

const faulty = new FaultyStore(new MemoryStore());
const log = await openLog({ store: faulty, storeRetryDeadlineMs: 200 });
const stream = await log.openStream("payments", { createIfMissing: true });
let nextSeqNum = (await stream.checkTail()).seqNum;

async function produce(records: AppendRecord[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const ack = await stream.append(records, { matchSeqNum: nextSeqNum });
      nextSeqNum = ack.end.seqNum;
      console.log(`attempt ${attempt}: written at ${ack.start.seqNum}..${ack.end.seqNum - 1}`);
      return;
    } catch (error) {
      if (error instanceof SeqNumMismatchError && error.expectedSeqNum === nextSeqNum + records.length) {
        nextSeqNum = error.expectedSeqNum; // our earlier attempt landed: done, nothing written twice
        console.log(`attempt ${attempt}: the earlier attempt had landed; moving on at ${nextSeqNum}`);
        return;
      }
      // Retryable errors (outcome unknown or not applied) are safe to retry: matchSeqNum guards against duplicates.
      if (!isDurastreamError(error) || !error.retryable || attempt >= 50) throw error;
      console.log(`attempt ${attempt}: ${error.code} (outcome ${error.outcome}); retrying with matchSeqNum ${nextSeqNum}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

await produce([{ body: "payment 1" }]);
// Cut the network for longer than storeRetryDeadlineMs: the next append fails with outcome unknown.
faulty.cut();
setTimeout(() => faulty.heal(), 400);
await produce([{ body: "payment 2" }, { body: "payment 2 fee" }]);
await produce([{ body: "payment 3" }]);

const bodies = [];
for await (const record of stream.read({ from: { seqNum: 0 } })) bodies.push(Buffer.from(record.body).toString());
console.log(`stream holds ${bodies.length} records, each once: ${JSON.stringify(bodies)}`);
await log.close();
