/**
 * Quickstart: open a log on the local disk, append records, read them back.
 *
 *   npm install && npm run example
 *
 * Data goes to ./data (delete it to start over). Every `await append(...)` resolves only once
 * the records are fsync'd: kill the process at any moment and nothing acknowledged is lost.
 */
import { openLog, recordText } from "durastream";

const log = await openLog({ store: "file://./data" });
const orders = await log.openStream("orders", { createIfMissing: true });

const tail = await orders.checkTail();
console.log(`stream "orders" has ${tail.seqNum} records so far`);

// One append = one atomic batch; the ack holds the durable sequence numbers.
const ack = await orders.append([
  { body: JSON.stringify({ item: "coffee", qty: 2 }), headers: [["type", "order"]] },
  { body: JSON.stringify({ item: "bagel", qty: 1 }), headers: [["type", "order"]] },
]);
console.log(`appended seqNums ${ack.start.seqNum}..${ack.end.seqNum - 1}, durable tail is now ${ack.tail.seqNum}`);

// Concurrent appends are pipelined and group-committed: one fsync'd object for many appends.
const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => orders.append([{ body: `event ${i}` }])));
console.log(`100 concurrent appends acknowledged, last seqNum ${acks[99]!.start.seqNum}`);

// Read the last five records.
for await (const record of orders.read({ from: { tailOffset: 5 } })) {
  console.log(`  #${record.seqNum} @ ${new Date(record.timestamp).toISOString()}: ${recordText(record)}`);
}

await log.close();
