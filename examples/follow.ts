/**
 * Following a stream: one task appends a record every 100 ms while a reader catches up from the
 * start and then receives new records live, until it has been idle for a second.
 *
 *   npx tsx examples/follow.ts
 */
import { openLog, recordText } from "durastream";

const log = await openLog({ store: "file://./data" });
const events = await log.openStream("events", { createIfMissing: true });

const reader = (async () => {
  const session = events.read({ from: { seqNum: 0 }, follow: true, waitMs: 1_000 });
  void session.caughtUp().then((tail) => console.log(`reader caught up at seqNum ${tail.seqNum}; now following live`));
  let count = 0;
  for await (const record of session) {
    count++;
    if (record.seqNum % 10 === 0 || count <= 3) console.log(`  read #${record.seqNum}: ${recordText(record)}`);
  }
  console.log(`reader idle for 1 s: it stops after ${count} records`);
})();

for (let i = 0; i < 20; i++) {
  await events.append([{ body: `tick ${i} at ${new Date().toISOString()}` }]);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await reader;
await log.close();
