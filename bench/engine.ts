/**
 * Engine benchmark: durable write throughput and ack latency, store requests, and full-scan
 * throughput of src/engine, beside the raw bounds of bench/raw-fsync.ts. Results and method are
 * in bench/README.md ("Engine").
 *
 *   npx tsx bench/engine.ts [--quick] [--runs N] [--filter TEXT] [--out DIR]
 *   npx tsx bench/engine.ts --list                      print the case ids
 *   node --import tsx --cpu-prof bench/engine.ts --case ID   run one case in this process
 *
 * Cases (each run in a fresh process, runs ordered by repetition, see bench/lib/runner.ts):
 *   engine/<store>/fi<flushIntervalMs>/<value>/b<batch>/w<writers>
 *       store: memory (MemoryStore), local (LocalStore in a fresh dir under the OS temp dir),
 *       s3sim (MemoryStore behind FaultyStore with S3_STANDARD_LATENCY, flushIntervalMs 50);
 *       1 writer awaits each ack before its next write; 64 writers keep 64 writes in flight.
 *       A write is one engine batch of `batch` puts, each with a distinct 19-byte key and a random
 *       value of 100 B or 1 KiB. Latency runs from the call to write() to whenDurable resolving.
 *   raw/append-fdatasync/..., raw/ideal-local-put/...   the bounds (bench/raw-fsync.ts)
 *   scan/<store>/<value>/<memtable|sst>
 *       200k records (50k with --quick) written in batches of 1000, close, reopen, one full scan
 *       (then a second, warm one): once with everything replayed from the WAL into memtables,
 *       once after small L0 SSTs were flushed and compacted.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Engine, type EngineMetrics, type EngineOptions } from "../src/engine/engine.js";
import { FaultyStore, S3_STANDARD_LATENCY } from "../src/store/faulty-store.js";
import { LocalStore } from "../src/store/local-store.js";
import { MemoryStore } from "../src/store/memory-store.js";
import type { ObjectStore } from "../src/store/object-store.js";
import { runClosedLoop, writeLoadMetrics } from "./lib/load.js";
import { describeMachine, machineLines, type MachineInfo } from "./lib/machine.js";
import { BatchMaker, type WriteLoadParams } from "./lib/payload.js";
import { maxInWindow, minGapMs, PutTimingStore } from "./lib/put-timing-store.js";
import {
  isChildProcess,
  runAllInChildren,
  runCaseInProcess,
  runChild,
  summarize,
  type CaseSpec,
  type CaseSummary,
  type Handlers,
  type Metrics,
  type RunRecord,
} from "./lib/runner.js";
import { MiB, spread } from "./lib/stats.js";
import { formatInt, formatNumber, formatRatio, formatSpread, renderMarkdown, renderText, type Column } from "./lib/table.js";
import { IDEAL_LOCAL_PUT_KIND, RAW_APPEND_KIND, rawHandlers, withTempDir } from "./raw-fsync.js";

type StoreKind = "memory" | "local" | "s3sim";

interface EngineWriteParams extends WriteLoadParams {
  store: StoreKind;
  flushIntervalMs: number;
}

interface EngineScanParams {
  store: "memory" | "local";
  valueBytes: number;
  records: number;
  writeBatchRecords: number;
  mode: "memtable" | "sst";
}

const ENGINE_WRITE_KIND = "engine-write";
const ENGINE_SCAN_KIND = "engine-scan";
/** Writes of the scan prefill that may be outstanding (written, not yet durable). */
const PREFILL_WINDOW_WRITES = 8;
/** L0 size for the "sst" scan mode: small, so that 200k records make many L0s and compactions. */
const SCAN_SST_L0_BYTES = 4 * MiB;

// -------------------------------------------------------------------------------------------------
// Stores
// -------------------------------------------------------------------------------------------------

/** Runs `fn` on a fresh store of the given kind; a local store's directory is removed afterwards. */
async function withStore<T>(kind: StoreKind, fn: (store: ObjectStore, reopen: () => ObjectStore) => Promise<T>): Promise<T> {
  if (kind === "memory") {
    const store = new MemoryStore();
    return fn(store, () => store);
  }
  if (kind === "s3sim") {
    const store = new FaultyStore(new MemoryStore(), { latency: S3_STANDARD_LATENCY });
    return fn(store, () => store);
  }
  return withTempDir(async (dir) => {
    const root = path.join(dir, "store");
    const opened: LocalStore[] = [];
    const open = () => {
      const store = new LocalStore(root);
      opened.push(store);
      return store;
    };
    try {
      return await fn(open(), open);
    } finally {
      for (const store of opened) await store.close();
    }
  });
}

// -------------------------------------------------------------------------------------------------
// Durable writes
// -------------------------------------------------------------------------------------------------

async function engineWrite(params: EngineWriteParams): Promise<Metrics> {
  return withStore(params.store, async (store) => {
    const timing = new PutTimingStore(store, "wal/");
    const engine = await Engine.open(timing, { flushIntervalMs: params.flushIntervalMs });
    try {
      return await measureWrites(engine, timing, params);
    } finally {
      await engine.close();
    }
  });
}

async function measureWrites(engine: Engine, timing: PutTimingStore, params: EngineWriteParams): Promise<Metrics> {
  const batches = new BatchMaker(params.valueBytes, params.batchRecords);
  let before: EngineMetrics | undefined;
  let after: EngineMetrics | undefined;
  let windowStartMs = 0;
  let windowEndMs = 0;
  const result = await runClosedLoop({
    writers: params.writers,
    warmupMs: params.warmupMs,
    durationMs: params.durationMs,
    operation: async (writer) => {
      if (engine.unflushedBytes >= engine.options.maxUnflushedBytes) await engine.whenWritable();
      await engine.whenDurable(engine.write(batches.next(writer)));
    },
    onWindowStart: (nowMs) => {
      windowStartMs = nowMs;
      before = engine.metrics();
    },
    onWindowEnd: (nowMs) => {
      windowEndMs = nowMs;
      after = engine.metrics();
    },
  });
  if (before === undefined || after === undefined) throw new Error("the measured window never opened or closed");
  return { ...writeLoadMetrics(result, params), ...engineDeltas(before, after, result.windowMs), ...walSpacing(timing, windowStartMs, windowEndMs, params) };
}

/** The WAL rate bound, checked on the start times of the WAL PUTs the store saw in the window. */
function walSpacing(timing: PutTimingStore, fromMs: number, toMs: number, params: EngineWriteParams): Metrics {
  const starts = timing.startsBetween(fromMs, toMs);
  let gapsBelowInterval = 0;
  for (let i = 1; i < starts.length; i++) if (starts[i]! - starts[i - 1]! < params.flushIntervalMs) gapsBelowInterval++;
  return { walPutsMaxIn1s: maxInWindow(starts, 1000), walPutMinGapMs: minGapMs(starts), walPutGapsBelowInterval: gapsBelowInterval };
}

/** Store requests per second and WAL flush figures over the window. */
function engineDeltas(before: EngineMetrics, after: EngineMetrics, windowMs: number): Metrics {
  const perSec = (a: number, b: number) => ((b - a) * 1000) / windowMs;
  const walFlushes = after.walFlushes - before.walFlushes;
  const b = before.storeRequests;
  const a = after.storeRequests;
  return {
    putPerSec: perSec(b.put, a.put),
    getPerSec: perSec(b.get, a.get),
    listPerSec: perSec(b.list, a.list),
    headPerSec: perSec(b.head, a.head),
    deletePerSec: perSec(b.delete, a.delete),
    storeErrors: a.errors - b.errors,
    walPutsPerSec: perSec(before.walFlushes, after.walFlushes),
    walBatchesPerPut: (after.walFlushBatches - before.walFlushBatches) / walFlushes,
    walBytesPerPut: (after.walFlushBytes - before.walFlushBytes) / walFlushes,
    walPutMsMean: (after.walFlushDurationMsTotal - before.walFlushDurationMsTotal) / walFlushes,
    l0Flushes: after.l0Flushes - before.l0Flushes,
    compactions: after.compactions - before.compactions,
    backpressureWaits: after.backpressureWaits - before.backpressureWaits,
  };
}

// -------------------------------------------------------------------------------------------------
// Scans
// -------------------------------------------------------------------------------------------------

async function engineScan(params: EngineScanParams): Promise<Metrics> {
  const options: EngineOptions =
    params.mode === "sst" ? { l0SstBytes: SCAN_SST_L0_BYTES } : { l0SstBytes: 1024 * MiB, maxUnflushedBytes: 2048 * MiB };
  return withStore(params.store, async (store, reopen) => {
    const writer = await Engine.open(store, options);
    let prefill: Metrics;
    try {
      prefill = await prefillRecords(writer, params);
      if (params.mode === "sst") await settleBackground(writer);
    } finally {
      await writer.close();
    }
    const openStartMs = performance.now();
    const reader = await Engine.open(reopen(), options);
    try {
      const reopenMs = performance.now() - openStartMs;
      const shape = reader.metrics();
      const cold = await timeFullScan(reader, params);
      const warm = await timeFullScan(reader, params);
      return {
        ...prefill,
        reopenMs,
        l0Count: shape.l0Count,
        sortedRunCount: shape.sortedRunCount,
        memtableMiB: shape.unflushedBytes / MiB,
        scanRecordsPerSec: cold.recordsPerSec,
        scanMiBPerSec: cold.mibPerSec,
        scanGets: cold.gets,
        scanGetMiB: cold.getMiB,
        warmScanRecordsPerSec: warm.recordsPerSec,
        warmScanMiBPerSec: warm.mibPerSec,
      };
    } finally {
      await reader.close();
    }
  });
}

/** Writes the records in batches, keeping a few writes outstanding, and returns the prefill rate. */
async function prefillRecords(engine: Engine, params: EngineScanParams): Promise<Metrics> {
  const batches = new BatchMaker(params.valueBytes, params.writeBatchRecords);
  const outstanding: number[] = [];
  const startMs = performance.now();
  for (let written = 0; written < params.records; written += params.writeBatchRecords) {
    if (engine.unflushedBytes >= engine.options.maxUnflushedBytes) await engine.whenWritable();
    outstanding.push(engine.write(batches.next(0)));
    if (outstanding.length >= PREFILL_WINDOW_WRITES) await engine.whenDurable(outstanding.shift()!);
  }
  await engine.flush();
  const seconds = (performance.now() - startMs) / 1000;
  const m = engine.metrics();
  return { prefillRecordsPerSec: params.records / seconds, prefillL0Flushes: m.l0Flushes, prefillCompactions: m.compactions };
}

/** Waits until memtable flushes and compactions stop starting new work. */
async function settleBackground(engine: Engine): Promise<void> {
  for (let round = 0; round < 10_000; round++) {
    const before = engine.metrics();
    await engine.flusher.idle();
    await engine.compactor.idle();
    await new Promise<void>((resolve) => setImmediate(resolve));
    const after = engine.metrics();
    const quiet = after.frozenMemtables === 0 && after.l0Flushes === before.l0Flushes && after.compactions === before.compactions;
    if (quiet) return;
  }
  throw new Error("flushes and compactions did not settle");
}

async function timeFullScan(engine: Engine, params: EngineScanParams): Promise<{ recordsPerSec: number; mibPerSec: number; gets: number; getMiB: number }> {
  const before = engine.metrics().storeRequests;
  const startMs = performance.now();
  let records = 0;
  let valueBytes = 0;
  for await (const entry of engine.scan({})) {
    records++;
    valueBytes += entry.value.length;
  }
  const seconds = (performance.now() - startMs) / 1000;
  if (records !== params.records || valueBytes !== params.records * params.valueBytes) {
    throw new Error(`scan returned ${records} records / ${valueBytes} bytes, expected ${params.records} / ${params.records * params.valueBytes}`);
  }
  const after = engine.metrics().storeRequests;
  return { recordsPerSec: records / seconds, mibPerSec: valueBytes / MiB / seconds, gets: after.get - before.get, getMiB: (after.getBytes - before.getBytes) / MiB };
}

const handlers: Handlers = { [ENGINE_WRITE_KIND]: engineWrite, [ENGINE_SCAN_KIND]: engineScan, ...rawHandlers };

// -------------------------------------------------------------------------------------------------
// The case matrix
// -------------------------------------------------------------------------------------------------

interface BenchConfig {
  durationMs: number;
  warmupMs: number;
  scanRecords: number;
}

/**
 * 2 s measured per case: the full matrix is 92 cases x 3 runs, each run in a fresh process (0.6 to
 * 1.3 s more to start, open and close), which keeps the whole bench near 15 minutes.
 */
const FULL_CONFIG: BenchConfig = { durationMs: 2000, warmupMs: 300, scanRecords: 200_000 };
const QUICK_CONFIG: BenchConfig = { durationMs: 1000, warmupMs: 200, scanRecords: 50_000 };

const VALUE_SIZES = [100, 1024] as const;
const BATCHES = [1, 10, 100] as const;
const WRITER_COUNTS = [1, 64] as const;

const sizeName = (bytes: number) => (bytes >= 1024 ? `${bytes / 1024}KiB` : `${bytes}B`);

function buildCases(config: BenchConfig): CaseSpec[] {
  const cases: CaseSpec[] = [];
  const stores: { store: StoreKind; flushIntervalMs: number }[] = [
    { store: "memory", flushIntervalMs: 5 },
    { store: "memory", flushIntervalMs: 0 },
    { store: "local", flushIntervalMs: 5 },
    { store: "local", flushIntervalMs: 0 },
    { store: "s3sim", flushIntervalMs: 50 },
  ];
  const load = { warmupMs: config.warmupMs, durationMs: config.durationMs };
  const timeoutMs = config.warmupMs + config.durationMs + 60_000;
  for (const { store, flushIntervalMs } of stores) {
    for (const valueBytes of VALUE_SIZES) {
      for (const batchRecords of BATCHES) {
        for (const writers of WRITER_COUNTS) {
          const params: EngineWriteParams = { store, flushIntervalMs, valueBytes, batchRecords, writers, ...load };
          cases.push({ id: `engine/${store}/fi${flushIntervalMs}/${sizeName(valueBytes)}/b${batchRecords}/w${writers}`, kind: ENGINE_WRITE_KIND, params, timeoutMs });
        }
      }
    }
  }
  for (const [kind, name] of [
    [RAW_APPEND_KIND, "append-fdatasync"],
    [IDEAL_LOCAL_PUT_KIND, "ideal-local-put"],
  ] as const) {
    for (const valueBytes of VALUE_SIZES) {
      for (const batchRecords of BATCHES) {
        for (const writers of WRITER_COUNTS) {
          const params: WriteLoadParams = { valueBytes, batchRecords, writers, ...load };
          cases.push({ id: `raw/${name}/${sizeName(valueBytes)}/b${batchRecords}/w${writers}`, kind, params, timeoutMs });
        }
      }
    }
  }
  for (const store of ["memory", "local"] as const) {
    for (const valueBytes of VALUE_SIZES) {
      for (const mode of ["memtable", "sst"] as const) {
        const params: EngineScanParams = { store, valueBytes, records: config.scanRecords, writeBatchRecords: 1000, mode };
        cases.push({ id: `scan/${store}/${sizeName(valueBytes)}/${mode}`, kind: ENGINE_SCAN_KIND, params, timeoutMs: 300_000 });
      }
    }
  }
  return cases;
}

// -------------------------------------------------------------------------------------------------
// Report
// -------------------------------------------------------------------------------------------------

type Summary = CaseSummary;
type WriteRow = Summary & { spec: CaseSpec<EngineWriteParams> };
type RawRow = Summary & { spec: CaseSpec<WriteLoadParams> };
type ScanRow = Summary & { spec: CaseSpec<EngineScanParams> };

const median = (row: Summary, metric: string) => row.metrics[metric]?.median ?? Number.NaN;
const cellMs = (metric: string) => (row: Summary) => formatNumber(median(row, metric));
const cellRate = (metric: string) => (row: Summary) => formatNumber(median(row, metric));
const failedNote = (row: Summary) => (row.failedRuns > 0 ? ` (${row.failedRuns} failed)` : "");

function shapeColumns<Row extends Summary>(params: (row: Row) => WriteLoadParams): Column<Row>[] {
  return [
    { header: "value", cell: (row) => sizeName(params(row).valueBytes) },
    { header: "batch", cell: (row) => String(params(row).batchRecords) },
    { header: "writers", cell: (row) => String(params(row).writers) },
    { header: "records/s [min–max]", cell: (row) => formatSpread(row.metrics.recordsPerSec) + failedNote(row) },
    { header: "MiB/s", cell: cellRate("mibPerSec") },
    { header: "p50 ms", cell: cellMs("p50Ms") },
    { header: "p99 ms", cell: cellMs("p99Ms") },
  ];
}

function writeColumns(): Column<WriteRow>[] {
  return [
    { header: "store", align: "left", cell: (row) => row.spec.params.store },
    { header: "flush ms", cell: (row) => String(row.spec.params.flushIntervalMs) },
    ...shapeColumns<WriteRow>((row) => row.spec.params),
    { header: "PUT/s", cell: cellRate("putPerSec") },
    { header: "GET/s", cell: cellRate("getPerSec") },
    { header: "LIST/s", cell: cellRate("listPerSec") },
    { header: "WAL PUT/s", cell: cellRate("walPutsPerSec") },
    {
      header: "max WAL PUTs in 1 s (bound)",
      cell: (row) => {
        const bound = row.spec.params.flushIntervalMs > 0 ? formatInt(1000 / row.spec.params.flushIntervalMs) : "none";
        return `${formatInt(row.metrics.walPutsMaxIn1s?.max ?? Number.NaN)} (${bound})`;
      },
    },
    { header: "min WAL PUT gap ms", cell: (row) => formatNumber(row.metrics.walPutMinGapMs?.min ?? Number.NaN) },
    { header: "batches/WAL PUT", cell: cellRate("walBatchesPerPut") },
    { header: "WAL PUT ms", cell: cellMs("walPutMsMean") },
  ];
}

function rawColumns(): Column<RawRow>[] {
  return [
    { header: "bound", align: "left", cell: (row) => (row.spec.kind === RAW_APPEND_KIND ? "append+fdatasync" : "ideal LocalStore put loop") },
    ...shapeColumns<RawRow>((row) => row.spec.params),
    { header: "commits/s", cell: cellRate("commitsPerSec") },
    { header: "records/commit", cell: cellRate("recordsPerCommit") },
  ];
}

interface RatioRow {
  shape: WriteLoadParams;
  engine5: Summary | undefined;
  engine0: Summary | undefined;
  ideal: Summary | undefined;
  raw: Summary | undefined;
}

function ratioColumns(): Column<RatioRow>[] {
  const ratio = (a: Summary | undefined, b: Summary | undefined) =>
    formatRatio(a === undefined || b === undefined ? Number.NaN : median(a, "recordsPerSec") / median(b, "recordsPerSec"));
  return [
    { header: "value", cell: (row) => sizeName(row.shape.valueBytes) },
    { header: "batch", cell: (row) => String(row.shape.batchRecords) },
    { header: "writers", cell: (row) => String(row.shape.writers) },
    { header: "engine fi5 / ideal put loop", cell: (row) => ratio(row.engine5, row.ideal) },
    { header: "engine fi0 / ideal put loop", cell: (row) => ratio(row.engine0, row.ideal) },
    { header: "engine fi5 / append+fdatasync", cell: (row) => ratio(row.engine5, row.raw) },
    { header: "engine fi0 / append+fdatasync", cell: (row) => ratio(row.engine0, row.raw) },
    { header: "ideal put loop / append+fdatasync", cell: (row) => ratio(row.ideal, row.raw) },
  ];
}

function ratioRows(summaries: readonly Summary[]): RatioRow[] {
  const byId = new Map(summaries.map((s) => [s.spec.id, s]));
  const rows: RatioRow[] = [];
  for (const valueBytes of VALUE_SIZES) {
    for (const batchRecords of BATCHES) {
      for (const writers of WRITER_COUNTS) {
        const tail = `${sizeName(valueBytes)}/b${batchRecords}/w${writers}`;
        const row: RatioRow = {
          shape: { valueBytes, batchRecords, writers, warmupMs: 0, durationMs: 0 },
          engine5: byId.get(`engine/local/fi5/${tail}`),
          engine0: byId.get(`engine/local/fi0/${tail}`),
          ideal: byId.get(`raw/ideal-local-put/${tail}`),
          raw: byId.get(`raw/append-fdatasync/${tail}`),
        };
        if (row.engine5 ?? row.engine0 ?? row.ideal ?? row.raw) rows.push(row);
      }
    }
  }
  return rows;
}

function scanColumns(): Column<ScanRow>[] {
  return [
    { header: "store", align: "left", cell: (row) => row.spec.params.store },
    { header: "value", cell: (row) => sizeName(row.spec.params.valueBytes) },
    { header: "data in", align: "left", cell: (row) => (row.spec.params.mode === "sst" ? "SSTs (+WAL tail)" : "WAL → memtable") },
    { header: "records", cell: (row) => formatInt(row.spec.params.records) },
    { header: "L0 / runs", cell: (row) => `${formatInt(median(row, "l0Count"))} / ${formatInt(median(row, "sortedRunCount"))}` },
    { header: "prefill rec/s", cell: (row) => formatInt(median(row, "prefillRecordsPerSec")) },
    { header: "reopen ms", cell: cellMs("reopenMs") },
    { header: "scan rec/s [min–max]", cell: (row) => formatSpread(row.metrics.scanRecordsPerSec) + failedNote(row) },
    { header: "scan MiB/s", cell: cellRate("scanMiBPerSec") },
    { header: "scan GETs", cell: (row) => formatInt(median(row, "scanGets")) },
    { header: "warm scan rec/s", cell: (row) => formatInt(median(row, "warmScanRecordsPerSec")) },
    { header: "warm MiB/s", cell: cellRate("warmScanMiBPerSec") },
  ];
}

interface Report {
  text: string;
  markdown: string;
}

function buildReport(summaries: readonly Summary[], header: string[]): Report {
  const writes = summaries.filter((s) => s.spec.kind === ENGINE_WRITE_KIND) as WriteRow[];
  const raws = summaries.filter((s) => s.spec.kind === RAW_APPEND_KIND || s.spec.kind === IDEAL_LOCAL_PUT_KIND) as RawRow[];
  const scans = summaries.filter((s) => s.spec.kind === ENGINE_SCAN_KIND) as ScanRow[];
  const ratios = ratioRows(summaries);
  const sections: { title: string; render: (md: boolean) => string }[] = [];
  for (const store of ["memory", "local", "s3sim"] as const) {
    const rows = writes.filter((row) => row.spec.params.store === store);
    if (rows.length > 0) sections.push({ title: `Durable writes: ${storeTitle(store)}`, render: (md) => render(md, writeColumns(), rows) });
  }
  if (raws.length > 0) sections.push({ title: "Raw bounds (same group commit, same records)", render: (md) => render(md, rawColumns(), raws) });
  if (ratios.length > 0) sections.push({ title: "Ratios of records/s medians on LocalStore", render: (md) => render(md, ratioColumns(), ratios) });
  if (scans.length > 0) sections.push({ title: "Full scan after reopen", render: (md) => render(md, scanColumns(), scans) });
  const verdict = walBoundVerdict(writes);
  const failures = summaries.flatMap((s) => s.errors.map((e) => `${s.spec.id}: ${e.split("\n")[0]}`));
  const tail = [verdict, ...(failures.length > 0 ? [`Failed runs:\n${failures.map((f) => `- ${f}`).join("\n")}`] : [])];
  return {
    text: [...header, ...sections.map((s) => `\n== ${s.title}\n${s.render(false)}`), ...tail].join("\n"),
    markdown: [...header.map((line) => `${line}  `), ...sections.map((s) => `\n#### ${s.title}\n\n${s.render(true)}`), ...tail].join("\n"),
  };
}

/**
 * Checks the WAL PUT rate bound in every run: at most 1000 / flushIntervalMs WAL PUTs in any 1 s
 * window (one more is allowed for the window edges). Start times are taken where the store
 * receives each PUT, so on a loaded machine a start can be late by a scheduling delay; that moves
 * single gaps (the min gap column) but not the count in a 1 s window by more than one.
 */
function walBoundVerdict(writes: readonly WriteRow[]): string {
  const bounded = writes.filter((row) => row.spec.params.flushIntervalMs > 0 && row.okRuns > 0);
  const boundOf = (row: WriteRow) => Math.floor(1000 / row.spec.params.flushIntervalMs);
  const over = bounded.filter((row) => (row.metrics.walPutsMaxIn1s?.max ?? 0) > boundOf(row) + 1);
  const busiest = Math.max(0, ...bounded.map((row) => (row.metrics.walPutsMaxIn1s?.max ?? 0) / boundOf(row)));
  if (over.length === 0) {
    return `WAL PUT rate bound (1000 / flushIntervalMs per second): held in every run of all ${bounded.length} cases with flushIntervalMs > 0; the busiest 1 s window reached ${(busiest * 100).toFixed(0)}% of it.`;
  }
  const lines = over.map((row) => {
    const m = row.metrics;
    return `- ${row.spec.id}: up to ${formatInt(m.walPutsMaxIn1s?.max ?? Number.NaN)} WAL PUTs in a 1 s window (bound ${formatInt(boundOf(row))}), ${formatNumber(m.walPutsPerSec?.max ?? Number.NaN)}/s over a whole run; smallest gap between PUT starts ${formatNumber(m.walPutMinGapMs?.min ?? Number.NaN)} ms`;
  });
  return [`WAL PUT rate bound EXCEEDED in ${over.length} of ${bounded.length} cases with flushIntervalMs > 0:`, ...lines].join("\n");
}

function render<Row>(markdown: boolean, columns: Column<Row>[], rows: Row[]): string {
  return markdown ? renderMarkdown(columns, rows) : renderText(columns, rows);
}

function storeTitle(store: StoreKind): string {
  if (store === "memory") return "MemoryStore";
  if (store === "local") return "LocalStore (fresh dir under the OS temp dir)";
  return "MemoryStore behind FaultyStore with S3_STANDARD_LATENCY (PUT median 50 ms, p99 200 ms)";
}

// -------------------------------------------------------------------------------------------------
// Command line
// -------------------------------------------------------------------------------------------------

interface Cli {
  quick: boolean;
  runs: number;
  filter: string | undefined;
  caseId: string | undefined;
  list: boolean;
  outDir: string;
}

function parseCli(argv: readonly string[]): Cli {
  const value = (flag: string) => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const runs = Number(value("--runs") ?? 3);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs needs a positive integer, got ${value("--runs")}`);
  return {
    quick: argv.includes("--quick"),
    runs,
    filter: value("--filter"),
    caseId: value("--case"),
    list: argv.includes("--list"),
    outDir: value("--out") ?? path.join(tmpdir(), "durastream-bench"),
  };
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  const config = cli.quick ? QUICK_CONFIG : FULL_CONFIG;
  const all = buildCases(config);
  const cases = cli.filter === undefined ? all : all.filter((spec) => spec.id.includes(cli.filter!));
  if (cli.list) return void console.log(cases.map((spec) => spec.id).join("\n"));
  if (cli.caseId !== undefined) return runOneHere(cases, cli.caseId);
  if (cases.length === 0) throw new Error(`no case matches --filter ${cli.filter}`);
  const machine = describeMachine(tmpdir());
  const startedAt = new Date();
  const command = `npx tsx bench/engine.ts ${process.argv.slice(2).join(" ")}`.trim();
  console.error(`${cases.length} cases x ${cli.runs} runs, ${config.durationMs} ms each (+${config.warmupMs} ms warm-up)`);
  const records = await runAllInChildren({
    script: import.meta.filename,
    cases,
    runs: cli.runs,
    onRun: (record, done, total) => console.error(progressLine(record, done, total)),
  });
  const summaries = summarize(cases, records);
  const header = reportHeader({ command, startedAt, machine, cli, config, records });
  const report = buildReport(summaries, header);
  console.log(report.text);
  saveOutputs(cli.outDir, startedAt, report, { command, machine, config, records });
}

function runOneHere(cases: readonly CaseSpec[], id: string): Promise<void> {
  const spec = cases.find((c) => c.id === id);
  if (spec === undefined) throw new Error(`no case "${id}" (see --list)`);
  return runCaseInProcess(handlers, spec).then((metrics) => {
    console.log(JSON.stringify({ id, metrics }, null, 2));
    process.exit(0);
  });
}

function progressLine(record: RunRecord, done: number, total: number): string {
  const m = record.metrics;
  const figure = m.recordsPerSec ?? m.scanRecordsPerSec;
  const what = record.ok ? `${formatInt(figure ?? Number.NaN)} rec/s` : `FAILED: ${record.error?.split("\n")[0]}`;
  return `[${done}/${total}] ${record.id} run ${record.rep}: ${what} (${(record.wallMs / 1000).toFixed(1)} s)`;
}

interface HeaderFacts {
  command: string;
  startedAt: Date;
  machine: MachineInfo;
  cli: Cli;
  config: BenchConfig;
  records: readonly RunRecord[];
}

function reportHeader({ command, startedAt, machine, cli, config, records }: HeaderFacts): string[] {
  const load = spread(records.map((record) => record.loadAverage1m));
  const minutes = (Date.now() - startedAt.getTime()) / 60_000;
  return [
    `Command: \`${command}\``,
    `Date: ${startedAt.toISOString()} (took ${minutes.toFixed(1)} min)`,
    ...machineLines(machine),
    `1-min load average when each run started: median ${formatNumber(load.median)} [${formatNumber(load.min)}–${formatNumber(load.max)}] on ${machine.cores} cores`,
    `Each case: ${cli.runs} runs, each in a fresh process, ordered by repetition; ${config.warmupMs} ms warm-up, then ${config.durationMs} ms measured. ` +
      `Tables show the median of the runs ([min–max] for records/s).`,
  ];
}

function saveOutputs(outDir: string, startedAt: Date, report: Report, raw: object): void {
  mkdirSync(outDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const base = path.join(outDir, `engine-${stamp}`);
  writeFileSync(`${base}.md`, `${report.markdown}\n`);
  writeFileSync(`${base}.json`, `${JSON.stringify(raw, null, 2)}\n`);
  console.error(`\nwrote ${base}.md and ${base}.json`);
}

if (isChildProcess()) await runChild(handlers);
else await main();
