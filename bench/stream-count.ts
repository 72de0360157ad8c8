/**
 * Stream counts at scale (issue 15, items 1 and 2), on LocalStore in a temporary directory:
 *
 *   create   N streams created with C creations in flight (control operations group-committed)
 *   reopen   the log closed, opened again, and every one of the N streams opened (C in flight)
 *   memory   the heap held per idle loaded stream: L streams appended to once (so loaded), the
 *            heap after a GC compared with before the appends (run with node --expose-gc)
 *   big      M streams of R records (of B bytes) each: built, reopened; then the log's open, a listing of
 *            every stream (pages of 1000), one append to each of A streams spread over them,
 *            the RSS and heap after each step, and the bytes per idle loaded stream
 *
 *   node --expose-gc --import tsx bench/stream-count.ts [--streams N] [--inflight C] [--big M] [--records R] [--appends A] [--body B] [--loaded L] [--runs K] [--dir D]
 *
 * With --dir D the directory is kept, and a big log already built there is measured again, not built again
 * (its appends then add one record to each of A streams per run: run it on a fresh D to compare).
 *
 * `--big 0` (the default) skips the big case; the is `--big 1000000 --records 20`.
 * Prints one JSON line per measurement, then the medians.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { openLog, type Log } from "../src/index.js";

const { values: args } = parseArgs({
  options: {
    streams: { type: "string", default: "100000" },
    inflight: { type: "string", default: "64" },
    big: { type: "string", default: "0" },
    records: { type: "string", default: "20" },
    appends: { type: "string", default: "10000" },
    loaded: { type: "string", default: "20000" },
    body: { type: "string", default: "16" },
    runs: { type: "string", default: "3" },
    dir: { type: "string" },
  },
});
const STREAMS = Number(args.streams);
const INFLIGHT = Number(args.inflight);
const BIG = Number(args.big);
const RECORDS = Number(args.records);
const APPENDS = Number(args.appends);
const RUNS = Number(args.runs);
const LOADED = Number(args.loaded);
/** Bytes of each record's body in the big case. */
const BODY_BYTES = Number(args.body);
/** Records per append while building the big log. */
const BUILD_RECORDS_PER_APPEND = 20;

const streamName = (i: number): string => `stream-${String(i).padStart(7, "0")}`;
/** CPU time (user + system) of this process since `since`, in ms. */
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return Math.round((used.user + used.system) / 1000);
};
const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

/** Runs `task(i)` for i in [0, count) with `inflight` of them at a time. */
async function pool(count: number, inflight: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
}

function emit(fields: Record<string, unknown>): void {
  console.log(JSON.stringify(fields));
}

async function createAndReopen(run: number, root: string): Promise<{ createPerSec: number; createMs: number; reopenMs: number; createCpuMs: number; reopenCpuMs: number }> {
  const dir = path.join(root, `count-${run}`);
  let log: Log = await openLog({ store: `file://${dir}` });
  let start = performance.now();
  let cpu = process.cpuUsage();
  await pool(STREAMS, INFLIGHT, (i) => log.createStream(streamName(i)));
  const createMs = performance.now() - start;
  const createCpuMs = cpuMs(cpu);
  await log.close();
  start = performance.now();
  cpu = process.cpuUsage();
  log = await openLog({ store: `file://${dir}` });
  const openLogMs = performance.now() - start;
  const openLogCpuMs = cpuMs(cpu);
  await pool(STREAMS, INFLIGHT, (i) => log.openStream(streamName(i)));
  const reopenMs = performance.now() - start;
  const reopenCpuMs = cpuMs(cpu);
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  const createPerSec = Math.round((STREAMS / createMs) * 1000);
  emit({ case: "create", run, streams: STREAMS, inflight: INFLIGHT, createMs: Math.round(createMs), createCpuMs, createPerSec, reopenAndOpenAllMs: Math.round(reopenMs), reopenCpuMs, openLogMs: Math.round(openLogMs), openLogCpuMs });
  return { createPerSec, createMs, reopenMs, createCpuMs, reopenCpuMs };
}

async function big(root: string): Promise<void> {
  const dir = path.join(root, "big");
  const value = new Uint8Array(BODY_BYTES).fill(7);
  let log: Log = await openLog({ store: `file://${dir}` });
  let start = performance.now();
  // With --dir, a big log built by an earlier run is measured again instead of built again.
  const built = (await log.listStreams({ limit: 1 })).length > 0;
  if (built) console.error(`reusing the big log in ${dir}`);
  else await pool(BIG, INFLIGHT, async (i) => {
    const name = streamName(i);
    await log.createStream(name);
    const stream = await log.openStream(name);
    for (let sent = 0; sent < RECORDS; sent += BUILD_RECORDS_PER_APPEND) {
      await stream.append(Array.from({ length: Math.min(BUILD_RECORDS_PER_APPEND, RECORDS - sent) }, () => ({ body: value })));
    }
    if (i % 100_000 === 99_999) console.error(`built ${i + 1} streams in ${Math.round((performance.now() - start) / 1000)} s`);
  });
  if (!built) emit({ case: "big-build", streams: BIG, records: RECORDS, buildMs: Math.round(performance.now() - start), rssMiB: mib(process.memoryUsage().rss) });
  await log.close();
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  start = performance.now();
  log = await openLog({ store: `file://${dir}` });
  const openMs = performance.now() - start;
  start = performance.now();
  let listed = 0;
  let startAfter: string | undefined;
  for (;;) {
    const page = await log.listStreams({ limit: 1000, ...(startAfter === undefined ? {} : { startAfter }) });
    listed += page.length;
    if (page.length < 1000) break;
    startAfter = page[page.length - 1]!.name;
  }
  const listMs = performance.now() - start;
  start = performance.now();
  const step = Math.max(1, Math.floor(BIG / APPENDS));
  await pool(APPENDS, INFLIGHT, async (i) => {
    const stream = await log.openStream(streamName((i * step) % BIG));
    const ack = await stream.append([{ body: value }]);
    if (ack.start.seqNum < RECORDS) throw new Error(`stream ${streamName((i * step) % BIG)}: appended at ${ack.start.seqNum}, expected at least ${RECORDS}`);
  });
  const appendMs = performance.now() - start;
  global.gc?.();
  const memory = process.memoryUsage();
  const metrics = log.metrics();
  emit({
    case: "big-open",
    streams: BIG,
    records: RECORDS,
    openMs: Math.round(openMs),
    listed,
    listMs: Math.round(listMs),
    appendedStreams: APPENDS,
    appendMs: Math.round(appendMs),
    appendsPerSec: Math.round((APPENDS / appendMs) * 1000),
    openStreamsLoaded: metrics.openStreams,
    rssBeforeOpenMiB: mib(rssBefore),
    rssMiB: mib(memory.rss),
    heapUsedMiB: mib(memory.heapUsed),
  });
  await log.close();
}

/** Heap growth per stream after one append to each of LOADED streams, with `maxLoadedStreams` as given. */
async function heapPerAppendedStream(root: string, maxLoadedStreams: number): Promise<{ bytes: number; loaded: number }> {
  const dir = path.join(root, `memory-${maxLoadedStreams}`);
  const log = await openLog({ store: `file://${dir}`, maxLoadedStreams });
  await pool(LOADED, INFLIGHT, (i) => log.createStream(streamName(i)));
  const streams = await Promise.all(Array.from({ length: LOADED }, (_, i) => log.openStream(streamName(i))));
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  await pool(LOADED, INFLIGHT, (i) => streams[i]!.append([{ body: "x" }]));
  global.gc?.();
  const bytes = (process.memoryUsage().heapUsed - before) / LOADED;
  const loaded = log.metrics().openStreams;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  return { bytes, loaded };
}

/** What an idle loaded stream costs: all of them loaded against only one (the memtable growth is the same in both). */
async function memoryPerLoadedStream(root: string): Promise<void> {
  const all = await heapPerAppendedStream(root, LOADED);
  const one = await heapPerAppendedStream(root, 1);
  emit({
    case: "memory",
    streams: LOADED,
    heapPerStreamAllLoaded: Math.round(all.bytes),
    heapPerStreamOneLoaded: Math.round(one.bytes),
    bytesPerIdleLoadedStream: Math.round(all.bytes - one.bytes),
    gcExposed: global.gc !== undefined,
  });
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const root = args.dir ?? mkdtempSync(path.join(os.tmpdir(), "durastream-stream-count-"));
try {
  if (STREAMS > 0) {
    const results = [];
    for (let run = 0; run < RUNS; run++) results.push(await createAndReopen(run, root));
    emit({
      case: "create-median",
      runs: RUNS,
      createMs: Math.round(median(results.map((r) => r.createMs))),
      createPerSec: median(results.map((r) => r.createPerSec)),
      reopenAndOpenAllMs: Math.round(median(results.map((r) => r.reopenMs))),
      createCpuMs: median(results.map((r) => r.createCpuMs)),
      reopenCpuMs: median(results.map((r) => r.reopenCpuMs)),
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    });
  }
  if (LOADED > 0) await memoryPerLoadedStream(root);
  if (BIG > 0) await big(root);
} finally {
  if (args.dir === undefined) rmSync(root, { recursive: true, force: true });
}
