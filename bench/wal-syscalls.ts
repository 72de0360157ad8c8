/**
 * The workload of bench/wal-syscalls.sh (not a test): one durastream log on a fresh LocalStore
 * directory with the default options (the segment WAL), appending 1 KiB records in one of the
 * suite's shapes for a few seconds. Between two marker files it opens (visible in an strace of
 * openat) it only appends, so the trace between them is the flush path alone. It prints the
 * group commits (WAL flushes) of that phase as JSON.
 *
 * Usage: node --import tsx bench/wal-syscalls.ts <serial|batch100|conc64> <seconds> [objects|segments]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { LocalStore, openLog } from "../src/index.js";

const [shape = "conc64", secondsArg = "3", walMode = "segments"] = process.argv.slice(2);
const shapes: Record<string, { writers: number; batch: number }> = { serial: { writers: 1, batch: 1 }, batch100: { writers: 1, batch: 100 }, conc64: { writers: 64, batch: 1 } };
const { writers, batch } = shapes[shape] ?? shapes.conc64!;
const dir = mkdtempSync(path.join(tmpdir(), "durastream-wal-syscalls-"));
const log = await openLog({ store: new LocalStore(dir), walMode: walMode as "objects" | "segments" });
const stream = await log.openStream("bench", { createIfMissing: true });
const records = Array.from({ length: batch }, (_, i) => ({ body: Buffer.alloc(1024, i) }));
// Warm up past the first segments (they are prepared in the background at open).
for (let i = 0; i < 200; i++) await stream.append(records);
const before = log.metrics().engine;
writeFileSync(path.join(dir, "MARK-flush-path-start"), "");
const endMs = performance.now() + Number(secondsArg) * 1000;
let appended = 0;
await Promise.all(
  Array.from({ length: writers }, async () => {
    while (performance.now() < endMs) {
      await stream.append(records);
      appended += batch;
    }
  }),
);
writeFileSync(path.join(dir, "MARK-flush-path-end"), "");
const after = log.metrics().engine;
await log.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ shape, walMode, records: appended, recordsPerSec: Math.round(appended / Number(secondsArg)), groupCommits: after.walFlushes - before.walFlushes }));
