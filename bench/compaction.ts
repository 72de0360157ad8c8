/**
 * Compaction against appends and reads (issue 15 item 3): does a writer's background work starve
 * what runs in the foreground on the same thread?
 *
 *   fresh           conc64 appends of one 1 KiB record on an empty log (the reference)
 *   big-log         the same on a prebuilt log of N records, opened as its writer (whatever
 *                   compaction the open starts runs alongside)
 *   forced-full     the same, right after deleting a stream that holds a third of the log's bytes:
 *                   the dead bytes force a bottom-most merge of every sorted run; the window runs
 *                   while it does (`fullCompactionMs` says how long it took, from the delete)
 *   scan-reader     catch-up scan of the big stream from seqNum 0 by a read-only Log (nothing
 *                   runs in the background)
 *   scan-writer     the same scan by the log's writer (whatever compaction its open starts runs alongside)
 *   scan-compacting the same scan by the writer, right after the delete that forces the full merge
 *
 * The prebuilt log (stream "big" of N records and stream "junk" of N/2, 100 B bodies, appends of
 * 1,000) is built once into `--data-dir` and copied for each run that writes. Every run is a fresh
 * process (bench/lib/runner.ts), 3 runs per case by default; the table shows medians [min–max].
 *
 *   npx tsx bench/compaction.ts [--records N] [--runs N] [--filter TEXT] [--data-dir DIR] [--thread worker|main]
 *
 * `--thread` is where compaction runs (openLog's compactionThread, default worker). "CPU ms/s" is
 * the CPU time of the whole process (every thread) per second of the append window; "main busy"
 * the main thread's event-loop utilization in it.
 *   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/compaction.ts --case forced-full --data-dir DIR
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { LocalStore, openLog, type Log, type Stream } from "../src/index.js";
import { runClosedLoop, writeLoadMetrics } from "./lib/load.js";
import { isChildProcess, runAllInChildren, runCaseInProcess, runChild, summarize, type CaseSpec, type Handlers, type Metrics } from "./lib/runner.js";
import { ValuePool } from "./lib/payload.js";
import { formatInt, formatNumber, formatSpread, renderMarkdown, renderText, type Column } from "./lib/table.js";
import type { Spread } from "./lib/stats.js";

interface Params {
  dataDir: string;
  records: number;
  /** Where compaction runs (openLog's compactionThread). */
  thread: "worker" | "main";
}

const APPEND_RECORDS = 1000;
const OUTSTANDING_APPENDS = 16;
const WRITERS = 64;
const VALUE_BYTES = 1024;
const WARMUP_MS = 500;
const WINDOW_MS = 3000;
/** How long a run waits for the forced merge to finish after its window (then it reports what it saw). */
const MAX_COMPACTION_WAIT_MS = 300_000;

const baseDir = (p: Params) => path.join(p.dataDir, `base-${p.records}`);

/** Builds the prebuilt log once: "big" (N records) and "junk" (N/2), appended in appends of 1,000. */
async function buildBase(p: Params): Promise<void> {
  const done = path.join(baseDir(p), "built.json");
  if (existsSync(done)) return;
  rmSync(baseDir(p), { recursive: true, force: true });
  mkdirSync(baseDir(p), { recursive: true });
  const startMs = performance.now();
  const store = new LocalStore(path.join(baseDir(p), "store"));
  const log = await openLog({ store, flushIntervalMs: 0 });
  const pool = new ValuePool();
  for (const [name, count] of [["big", p.records], ["junk", Math.floor(p.records / 2)]] as const) {
    const stream = await log.openStream(name, { createIfMissing: true, config: { retention: "infinite" } });
    const outstanding: Promise<unknown>[] = [];
    for (let first = 0; first < count; first += APPEND_RECORDS) {
      outstanding.push(stream.append(Array.from({ length: Math.min(APPEND_RECORDS, count - first) }, () => ({ body: pool.next(100) }))));
      if (outstanding.length >= OUTSTANDING_APPENDS) await outstanding.shift();
    }
    await Promise.all(outstanding);
  }
  await log.close();
  await store.close();
  writeFileSync(done, JSON.stringify({ records: p.records, buildMs: performance.now() - startMs }));
}

/** A private copy of the prebuilt log for a run that writes; removed by the returned function. */
function copyBase(p: Params): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(p.dataDir, "run-"));
  cpSync(path.join(baseDir(p), "store"), dir, { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function appendLoad(stream: Stream): Promise<Metrics> {
  const pool = new ValuePool();
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const result = await runClosedLoop({
    writers: WRITERS,
    warmupMs: WARMUP_MS,
    durationMs: WINDOW_MS,
    operation: async () => void (await stream.append([{ body: pool.next(VALUE_BYTES) }])),
  });
  const cpu = process.cpuUsage(cpuBefore);
  const elu = performance.eventLoopUtilization(eluBefore);
  // CPU of every thread of the process (the worker's too) per second of the window (warm-up included); the main thread's busy share.
  const cpuPerSec = (cpu.user + cpu.system) / 1000 / ((WARMUP_MS + WINDOW_MS) / 1000);
  return { ...writeLoadMetrics(result, { batchRecords: 1, valueBytes: VALUE_BYTES }), cpuPerSec, mainBusy: elu.utilization };
}

/** Waits until no merge is left to do (one sorted run, few L0s); the time since `sinceMs`, or NaN past the wait. */
async function untilCompacted(log: Log, sinceMs: number): Promise<number> {
  while (performance.now() - sinceMs < MAX_COMPACTION_WAIT_MS) {
    const m = log.metrics().engine;
    if (m.sortedRunCount <= 1 && m.l0Count < 4) return performance.now() - sinceMs;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Number.NaN;
}

async function withWriter(p: Params, fresh: boolean, body: (log: Log) => Promise<Metrics>): Promise<Metrics> {
  const copy = fresh ? { dir: mkdtempSync(path.join(tmpdir(), "ds-compaction-")), remove: () => undefined } : copyBase(p);
  const store = new LocalStore(copy.dir);
  const log = await openLog({ store, compactionThread: p.thread });
  try {
    return await body(log);
  } finally {
    await log.close();
    await store.close();
    copy.remove();
    if (fresh) rmSync(copy.dir, { recursive: true, force: true });
  }
}

function engineCounters(log: Log, before?: Metrics): Metrics {
  const m = log.metrics().engine;
  const now = { compactions: m.compactions, compactionBytesRead: m.compactionBytesRead, l0Flushes: m.l0Flushes };
  if (before === undefined) return now;
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [`${k}InRun`, v - (before[k] ?? 0)]));
}

/** Deletes "junk": a third of the log's bytes become dead, which forces a bottom-most merge of every run. */
async function forceFullCompaction(log: Log): Promise<number> {
  const startMs = performance.now();
  await log.deleteStream("junk");
  return startMs;
}

async function scanBig(log: Log): Promise<Metrics> {
  const stream = await log.openStream("big");
  const startMs = performance.now();
  let records = 0;
  for await (const record of stream.read({ from: { seqNum: 0 }, limit: { count: Number.MAX_SAFE_INTEGER } })) {
    if (record.seqNum !== records) throw new Error(`scan returned seqNum ${record.seqNum} at position ${records}`);
    records++;
  }
  const scanMs = performance.now() - startMs;
  return { scanRecordsPerSec: (records / scanMs) * 1000, scanMs, records };
}

const handlers: Handlers = {
  fresh: (p: Params) => withWriter(p, true, async (log) => appendLoad(await log.openStream("a", { createIfMissing: true }))),
  "big-log": (p: Params) =>
    withWriter(p, false, async (log) => {
      const before = engineCounters(log);
      const stream = await log.openStream("big");
      const load = await appendLoad(stream);
      return { ...load, ...engineCounters(log, before) };
    }),
  "forced-full": (p: Params) =>
    withWriter(p, false, async (log) => {
      const stream = await log.openStream("big");
      await stream.checkTail();
      const before = engineCounters(log);
      const startMs = await forceFullCompaction(log);
      const load = await appendLoad(stream);
      const during = engineCounters(log, before);
      return { ...load, ...during, fullCompactionMs: await untilCompacted(log, startMs) };
    }),
  "scan-reader": async (p: Params) => {
    const store = new LocalStore(path.join(baseDir(p), "store"));
    const log = await openLog({ store, readOnly: true, pollIntervalMs: 60_000 });
    try {
      return await scanBig(log);
    } finally {
      await log.close();
      await store.close();
    }
  },
  "scan-writer": (p: Params) =>
    withWriter(p, false, async (log) => {
      const before = engineCounters(log);
      const scan = await scanBig(log);
      return { ...scan, ...engineCounters(log, before) };
    }),
  "scan-compacting": (p: Params) =>
    withWriter(p, false, async (log) => {
      const before = engineCounters(log);
      await forceFullCompaction(log);
      const scan = await scanBig(log);
      return { ...scan, ...engineCounters(log, before) };
    }),
};

const CASES = ["fresh", "big-log", "forced-full", "scan-reader", "scan-writer", "scan-compacting"];

interface Row {
  id: string;
  metrics: Record<string, Spread>;
  ok: number;
}

async function main(): Promise<void> {
  if (isChildProcess()) return void (await runChild(handlers));
  const { values } = parseArgs({
    options: {
      records: { type: "string", default: "1000000" },
      runs: { type: "string", default: "3" },
      filter: { type: "string" },
      "data-dir": { type: "string" },
      case: { type: "string" },
      thread: { type: "string", default: "worker" },
    },
  });
  const dataDir = values["data-dir"] ?? path.join(tmpdir(), "durastream-bench-compaction");
  mkdirSync(dataDir, { recursive: true });
  if (values.thread !== "worker" && values.thread !== "main") throw new Error(`--thread must be worker or main, got ${values.thread}`);
  const params: Params = { dataDir, records: Number(values.records), thread: values.thread };
  await buildBase(params);
  const specs: CaseSpec<Params>[] = CASES.filter((id) => values.filter === undefined || values.filter.split(",").some((t) => id.includes(t))).map((id) => ({
    id,
    kind: id,
    params,
    timeoutMs: MAX_COMPACTION_WAIT_MS + 120_000,
  }));
  if (values.case !== undefined) {
    const spec = specs.find((s) => s.id === values.case);
    if (spec === undefined) throw new Error(`no case ${values.case}`);
    console.log(JSON.stringify(await runCaseInProcess(handlers, spec)));
    return;
  }
  const built = JSON.parse(readFileSync(path.join(baseDir(params), "built.json"), "utf8")) as { buildMs: number };
  console.error(`compaction thread: ${params.thread}; prebuilt log: ${params.records.toLocaleString("en-US")} + ${(params.records / 2).toLocaleString("en-US")} records (built in ${Math.round(built.buildMs / 1000)} s); load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  const records = await runAllInChildren({
    script: import.meta.filename,
    cases: specs,
    runs: Number(values.runs),
    onRun: (r, done, total) => console.error(`[${done}/${total}] ${r.id} run ${r.rep}: ${r.ok ? "ok" : r.error} (load ${r.loadAverage1m.toFixed(1)})`),
  });
  const rows: Row[] = summarize(specs, records).map((s) => ({ id: s.spec.id, metrics: s.metrics, ok: s.okRuns }));
  const columns: Column<Row>[] = [
    { header: "case", align: "left", cell: (r) => r.id },
    { header: "runs ok", cell: (r) => String(r.ok) },
    { header: "appends/s", cell: (r) => formatSpread(r.metrics.recordsPerSec) },
    { header: "p50 ms", cell: (r) => formatSpread(r.metrics.p50Ms, formatNumber) },
    { header: "p99 ms", cell: (r) => formatSpread(r.metrics.p99Ms, formatNumber) },
    { header: "CPU ms/s", cell: (r) => formatSpread(r.metrics.cpuPerSec, formatInt) },
    { header: "main busy", cell: (r) => formatSpread(r.metrics.mainBusy, formatNumber) },
    { header: "scan records/s", cell: (r) => formatSpread(r.metrics.scanRecordsPerSec) },
    { header: "compactions in run", cell: (r) => formatSpread(r.metrics.compactionsInRun) },
    { header: "full merge ms", cell: (r) => formatSpread(r.metrics.fullCompactionMs, formatInt) },
  ];
  console.log(renderText(columns, rows));
  console.log(`\n${renderMarkdown(columns, rows)}`);
  const median = (id: string, metric: string) => rows.find((r) => r.id === id)?.metrics[metric]?.median ?? Number.NaN;
  const fresh = median("fresh", "recordsPerSec");
  console.log(`\nratios: big-log/fresh ${(median("big-log", "recordsPerSec") / fresh).toFixed(2)}x, forced-full/fresh ${(median("forced-full", "recordsPerSec") / fresh).toFixed(2)}x, scan-compacting/scan-reader ${(median("scan-compacting", "scanRecordsPerSec") / median("scan-reader", "scanRecordsPerSec")).toFixed(2)}x`);
}

await main();
