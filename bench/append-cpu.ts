/**
 * CPU per append on the stream layer's hot path (issue 11 item 5): 64 closed-loop writers append
 * 1 KiB records through the public API on a MemoryStore at flushIntervalMs 0, so no disk and no
 * timer is involved and what is left is the library's own work: validation, encoding,
 * sequencing, the engine write (WAL buffer and memtable), the WAL flush, the ack, GC, and the
 * memtable's L0 flush when it fills.
 *
 *   npx tsx bench/append-cpu.ts [--records N] [--batch B] [--value BYTES] [--writers W] [--runs R] [--l0-mib M]
 *   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/append-cpu.ts --runs 1
 *
 * `--l0-mib` sets l0SstBytes (default 64, the log's default): a value past the data written keeps
 * the L0 flush out of the window, to see the append path without it.
 *
 * Reports, per run, microseconds of process CPU (user + system, `process.cpuUsage()`) per record
 * after a warm-up, and the minimum over runs (the least disturbed by other work on the machine).
 */
import { parseArgs } from "node:util";
import { MemoryStore, openLog } from "../src/index.js";
import { ValuePool } from "./lib/payload.js";

const { values } = parseArgs({
  options: {
    records: { type: "string", default: "100000" },
    batch: { type: "string", default: "1" },
    value: { type: "string", default: "1024" },
    runs: { type: "string", default: "3" },
    writers: { type: "string", default: "64" },
    "l0-mib": { type: "string", default: "64" },
  },
});
const records = Number(values.records);
const batch = Number(values.batch);
const valueBytes = Number(values.value);
const runs = Number(values.runs);
const writers = Number(values.writers);
const l0SstBytes = Number(values["l0-mib"]) * 1024 * 1024;
const pool = new ValuePool();

async function oneRun(): Promise<number> {
  const log = await openLog({ store: new MemoryStore(), flushIntervalMs: 0, l0SstBytes, maxUnflushedBytes: Math.max(256 * 1024 * 1024, 2 * l0SstBytes) });
  const stream = await log.openStream("cpu", { createIfMissing: true });
  const makeBatch = () => Array.from({ length: batch }, () => ({ body: pool.next(valueBytes) }));
  // `writers` closed-loop writers, each awaiting its ack before its next append.
  const appendMany = async (count: number) => {
    let left = count;
    const writer = async () => {
      while (left > 0) {
        left--;
        await stream.append(makeBatch());
      }
    };
    await Promise.all(Array.from({ length: writers }, writer));
  };
  await appendMany(Math.max(1, Math.floor(records / 10 / batch)));
  const appends = Math.max(1, Math.floor(records / batch));
  const before = log.metrics().engine;
  const start = process.cpuUsage();
  await appendMany(appends);
  const used = process.cpuUsage(start);
  const after = log.metrics().engine;
  flushes.push(`${after.walFlushes - before.walFlushes} WAL flushes, ${after.l0Flushes - before.l0Flushes} L0 flushes`);
  await log.close();
  systemShare.push(used.system / (used.user + used.system));
  return (used.user + used.system) / (appends * batch);
}

const perRecordUs: number[] = [];
const systemShare: number[] = [];
const flushes: string[] = [];
for (let run = 0; run < runs; run++) {
  const us = await oneRun();
  perRecordUs.push(us);
  console.log(`run ${run + 1}: ${us.toFixed(2)} us CPU per record (${(100 * systemShare[run]!).toFixed(0)}% system; ${flushes[run]}) (batch ${batch}, ${valueBytes} B, ${writers} writers, ${records} records)`);
}
console.log(`min ${Math.min(...perRecordUs).toFixed(2)} us per record over ${runs} runs`);
