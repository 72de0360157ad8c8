/**
 * The suite's report: the targets, then one table per question (appends side by side, what S3
 * costs, catch-up scans, read start and appends as logs grow, memory, readers). Rows come from
 * the case summaries; a peer that could not be installed or loaded gets a row saying why.
 */
import { formatInt, formatNumber, type Column } from "../lib/table.js";
import { SCAN_SYSTEMS, SHAPES, VALUE_SIZES, WRITE_SYSTEMS, sizeName, type Shape, type SuiteConfig, type WriteSystem } from "./cases.js";
import type { DatasetMeta } from "./datasets.js";
import { NOT_IN_RUN, type PeerName, type PeerStatus } from "./peers.js";
import {
  byId,
  formatDollars,
  maxOf,
  median,
  num,
  PRICE_NOTE,
  requestCost,
  SECONDS_PER_MONTH,
  section,
  spreadCell,
  type Section,
  type Summary,
} from "./report-common.js";
import { targetRows, targetsSection } from "./targets.js";

export interface SuiteReportInput {
  summaries: Summary[];
  peers: Record<PeerName, PeerStatus>;
  datasets: { meta: DatasetMeta | undefined; name: string; error?: string }[];
  config: SuiteConfig;
}

export function suiteSections(input: SuiteReportInput): Section[] {
  const ran = input.summaries.some((s) => s.spec.info.group === "write" || s.spec.info.group === "scan");
  const sections = ran ? [targetsSection(targetRows(input.summaries))] : [];
  for (const valueBytes of [...VALUE_SIZES].reverse()) sections.push(writeSection(input, valueBytes));
  sections.push(s3CostSection(input.summaries), scanSection(input), readStartSection(input.summaries), growthAppendSection(input), soakSection(input.summaries));
  sections.push(readersSection(input.summaries), datasetsSection(input), peersSection(input.peers));
  return sections;
}

/** Why a peer has no figures, when it could not be installed or loaded (not when the run left it out). */
const unavailable = (peers: Record<PeerName, PeerStatus>, peer: PeerName | undefined): string | undefined => {
  if (peer === undefined) return undefined;
  const status = peers[peer];
  return status.available || status.reason === NOT_IN_RUN ? undefined : `unavailable: ${status.reason}`;
};

interface WriteRow {
  system: WriteSystem;
  shape: Shape;
  row: Summary | undefined;
  missing: string | undefined;
}

function writeSection(input: SuiteReportInput, valueBytes: number): Section {
  const cases = byId(input.summaries);
  const rows: WriteRow[] = [];
  for (const shape of Object.keys(SHAPES) as Shape[]) {
    for (const system of WRITE_SYSTEMS) {
      const row = cases.get(`write/${system.id}/${sizeName(valueBytes)}/${shape}`);
      const missing = unavailable(input.peers, system.peer);
      if (row !== undefined || missing !== undefined) rows.push({ system, shape, row, missing });
    }
  }
  const ds = (r: WriteRow, text: string) => (r.system.store === undefined ? "–" : text);
  const columns: Column<WriteRow>[] = [
    { header: "workload", align: "left", cell: (r) => r.shape },
    { header: "system", align: "left", cell: (r) => r.system.title },
    { header: "records/s [min–max]", cell: (r) => r.missing ?? spreadCell(r.row, "recordsPerSec") },
    { header: "MiB/s", cell: (r) => num("mibPerSec")(r.row) },
    { header: "p50 ms", cell: (r) => num("p50Ms")(r.row) },
    { header: "p99 ms", cell: (r) => num("p99Ms")(r.row) },
    { header: "store PUT/s", cell: (r) => ds(r, num("putPerSec")(r.row)) },
    { header: "WAL PUTs max in 1 s (bound)", cell: (r) => ds(r, walBoundCell(r.row, r.system.flushIntervalMs!)) },
  ];
  const note =
    "serial: one record per awaited append; batch100: 100 records per awaited append; conc64: 64 single-record appends in flight. Every ack is durable (fsync'd) except MemoryStore's and the simulated stores'. Latency from the call to the ack.";
  return section(`Durable appends, ${sizeName(valueBytes)} records`, columns, rows.some((r) => r.row !== undefined) ? rows : [], note);
}

function walBoundCell(row: Summary | undefined, flushIntervalMs: number): string {
  const bound = flushIntervalMs > 0 ? formatInt(1000 / flushIntervalMs) : "none";
  return `${formatInt(maxOf(row, "walPutsMaxIn1s"))} (${bound})`;
}

function s3CostSection(summaries: readonly Summary[]): Section {
  const rows = summaries.filter((s) => s.spec.info.group === "write" && /^ds-s3/.test(s.spec.info.system ?? ""));
  const title = (s: Summary) => WRITE_SYSTEMS.find((w) => w.id === s.spec.info.system)?.title ?? "";
  const perMillion = (s: Summary) => requestCost(median(s, "putsPerMillionRecords"), median(s, "getsPerMillionRecords"), median(s, "listsPerMillionRecords"));
  const perMonth = (s: Summary) =>
    requestCost(median(s, "putPerSec"), median(s, "getPerSec") + median(s, "headPerSec"), median(s, "listPerSec")) * SECONDS_PER_MONTH;
  const columns: Column<Summary>[] = [
    { header: "system", align: "left", cell: title },
    { header: "value", cell: (s) => sizeName(s.spec.info.valueBytes!) },
    { header: "workload", align: "left", cell: (s) => s.spec.info.shape! },
    { header: "records/s", cell: num("recordsPerSec") },
    { header: "p50 / p99 ack ms", cell: (s) => `${formatNumber(median(s, "p50Ms"))} / ${formatNumber(median(s, "p99Ms"))}` },
    { header: "PUT/s", cell: num("putPerSec") },
    { header: "GET+HEAD/s", cell: (s) => formatNumber(median(s, "getPerSec") + median(s, "headPerSec")) },
    { header: "LIST/s", cell: num("listPerSec") },
    { header: "PUTs per 1M records", cell: (s) => formatInt(median(s, "putsPerMillionRecords")) },
    { header: "GETs per 1M records", cell: (s) => formatInt(median(s, "getsPerMillionRecords")) },
    { header: "LISTs per 1M records", cell: (s) => formatInt(median(s, "listsPerMillionRecords")) },
    { header: "$ per 1M records", cell: (s) => formatDollars(perMillion(s)) },
    { header: "$ per month at this rate", cell: (s) => formatDollars(perMonth(s)) },
  ];
  const note = `${PRICE_NOTE} Requests are every store call of the engine in the measured window (WAL, SSTs, manifests, compaction), counted per attempt.`;
  return section("Simulated S3: requests and their cost", columns, rows, note);
}

interface ScanRow {
  title: string;
  valueBytes: number;
  row: Summary | undefined;
  missing: string | undefined;
}

function scanSection(input: SuiteReportInput): Section {
  const cases = byId(input.summaries);
  const rows: ScanRow[] = [];
  for (const valueBytes of VALUE_SIZES) {
    for (const system of SCAN_SYSTEMS) {
      const row = cases.get(`scan/${system.id}/${sizeName(valueBytes)}`);
      const missing = unavailable(input.peers, system.peer);
      if (row !== undefined || missing !== undefined) rows.push({ title: system.title, valueBytes, row, missing });
    }
  }
  const columns: Column<ScanRow>[] = [
    { header: "value", cell: (r) => sizeName(r.valueBytes) },
    { header: "system", align: "left", cell: (r) => r.title },
    { header: "records/s [min–max]", cell: (r) => r.missing ?? spreadCell(r.row, "scanRecordsPerSec") },
    { header: "MiB/s", cell: (r) => num("scanMiBPerSec")(r.row) },
    { header: "first record ms", cell: (r) => num("firstRecordMs")(r.row) },
    { header: "reopen ms", cell: (r) => num("reopenMs")(r.row) },
    { header: "prefill records/s", cell: (r) => formatInt(median(r.row, "prefillRecordsPerSec")) },
  ];
  const note = `${formatInt(input.config.scanRecords)} records written in appends of 1,000, then the store is closed and reopened and everything is read once from the start. The page cache is warm for every system alike.`;
  return section("Catch-up scan from the start", columns, rows.some((r) => r.row !== undefined) ? rows : [], note);
}

function readStartSection(summaries: readonly Summary[]): Section {
  const rows = summaries.filter((s) => s.spec.info.group === "readstart");
  const columns: Column<Summary>[] = [
    { header: "log", align: "left", cell: (s) => s.spec.info.dataset! },
    { header: "by", align: "left", cell: (s) => String((s.spec.params as { mode: string }).mode) },
    { header: "cold: first record ms [min–max]", cell: (s) => spreadCell(s, "coldReadMs", formatNumber) },
    { header: "cold GETs", cell: num("coldGets") },
    { header: "warm p50 ms", cell: num("warmReadP50Ms") },
    { header: "warm p99 ms", cell: num("warmReadP99Ms") },
    { header: "warm GETs per start", cell: num("warmGetsMean") },
    { header: "stream open ms (cold)", cell: num("coldStreamOpenMs") },
    { header: "log open ms", cell: num("logOpenMs") },
  ];
  const note =
    "A read-only Log opened on the prebuilt log; latency from `read()` to its first record. Cold: the first read of the process, from the middle of the stream, on an empty block cache. Warm: the next reads, from other positions in the middle half (other streams for many-stream logs). size-N: one stream of N records of 100 B; streams-N: N streams sharing the same total.";
  return section("Read start from the middle: as the stream and the number of streams grow", columns, rows, note);
}

function growthAppendSection(input: SuiteReportInput): Section {
  const rows = input.summaries.filter((s) => s.spec.info.group === "append");
  const metaOf = (s: Summary) => input.datasets.find((d) => d.name === s.spec.info.dataset)?.meta;
  const columns: Column<Summary>[] = [
    { header: "log", align: "left", cell: (s) => s.spec.info.dataset! },
    { header: "streams", cell: (s) => formatInt(metaOf(s)?.spec.streams ?? Number.NaN) },
    { header: "records per stream", cell: (s) => formatInt(metaOf(s)?.spec.recordsPerStream ?? Number.NaN) },
    { header: "records/s [min–max]", cell: (s) => spreadCell(s, "recordsPerSec") },
    { header: "p50 ms", cell: num("p50Ms") },
    { header: "p99 ms", cell: num("p99Ms") },
    { header: "log open ms", cell: num("logOpenMs") },
    { header: "open all streams ms", cell: num("openStreamsMs") },
  ];
  const note =
    "conc64 appends of one 1 KiB record on LocalStore (flushIntervalMs 5), spread over the log's streams in turn, after opening the prebuilt log as its writer.";
  return section("Appends as the stream and the number of streams grow", columns, rows, note);
}

function soakSection(summaries: readonly Summary[]): Section {
  const rows = summaries.filter((s) => s.spec.info.group === "soak");
  const mib = (metric: string) => (s: Summary) => formatNumber(median(s, metric));
  const columns: Column<Summary>[] = [
    { header: "compaction", cell: (s) => (s.spec.params as { compactionThread?: string }).compactionThread ?? "default (worker)" },
    { header: "appended MiB", cell: mib("appendedMiB") },
    { header: "MiB/s", cell: mib("appendMiBPerSec") },
    { header: "RSS after open MiB", cell: mib("baselineRssMiB") },
    { header: "peak RSS MiB [min–max]", cell: (s) => spreadCell(s, "peakRssMiB", formatNumber) },
    { header: "peak RSS 1st / 2nd half", cell: (s) => `${formatNumber(median(s, "peakRssFirstHalfMiB"))} / ${formatNumber(median(s, "peakRssSecondHalfMiB"))}` },
    { header: "peak heap used MiB", cell: mib("peakHeapUsedMiB") },
    { header: "peak external MiB", cell: mib("peakExternalMiB") },
    { header: "bound MiB", cell: mib("boundMiB") },
    { header: "under the bound", cell: (s) => `${formatInt((s.metrics.underBound?.median ?? 0) * s.okRuns)} of ${s.okRuns} runs` },
    { header: "follower records", cell: (s) => formatInt(median(s, "followerRecords")) },
  ];
  const soak = rows[0]?.spec.params as { inflightBytes: number; maxUnflushedBytes: number; blockCacheBytes: number; l0SstBytes: number; maxSstBytes: number } | undefined;
  const caps =
    soak === undefined
      ? ""
      : ` Caps: inflightBytes ${soak.inflightBytes / 2 ** 20} MiB, maxUnflushedBytes ${soak.maxUnflushedBytes / 2 ** 20} MiB, l0SstBytes ${soak.l0SstBytes / 2 ** 20} MiB, maxSstBytes ${soak.maxSstBytes / 2 ** 20} MiB, blockCacheBytes ${soak.blockCacheBytes / 2 ** 20} MiB.`;
  const note = `Appends of 100 x 1 KiB records through an append session, as fast as the in-flight cap admits, on LocalStore, while a follower reads from seqNum 0 pausing 2 ms every 100 records. Bound: RSS after open + inflightBytes + maxUnflushedBytes + blockCacheBytes + maxSstBytes (a compaction's output buffer) + l0SstBytes (an L0's) + 64 MiB for V8 itself + 64 MiB of Buffers awaiting V8's next external-memory GC (it runs after 64 MiB of growth).${caps}`;
  return section("Memory soak", columns, rows, note);
}

function readersSection(summaries: readonly Summary[]): Section {
  const rows = summaries.filter((s) => s.spec.info.group === "readers");
  const idleGets = (s: Summary) => median(s, "idleGetPerSec") + median(s, "idleHeadPerSec");
  const idleMonthly = (s: Summary) => requestCost(median(s, "idlePutPerSec"), idleGets(s), median(s, "idleListPerSec")) * SECONDS_PER_MONTH;
  const titles: Record<string, string> = { local: "LocalStore", s3sim: "simulated S3 Standard (FaultyStore on a shared LocalStore)", s3gw: "S3 gateway at S3_ENDPOINT" };
  const columns: Column<Summary>[] = [
    { header: "store", align: "left", cell: (s) => titles[s.spec.info.system!] ?? s.spec.info.system! },
    { header: "poll ms", cell: (s) => String((s.spec.params as { pollIntervalMs: number }).pollIntervalMs) },
    { header: "records", cell: num("records") },
    { header: "ack → delivery p50 ms [min–max]", cell: (s) => spreadCell(s, "lagP50Ms", formatNumber) },
    { header: "ack → delivery p99 ms", cell: num("lagP99Ms") },
    { header: "append → delivery p50 / p99 ms", cell: (s) => `${formatNumber(median(s, "deliverP50Ms"))} / ${formatNumber(median(s, "deliverP99Ms"))}` },
    { header: "ack p50 ms", cell: num("ackP50Ms") },
    { header: "idle GET+HEAD/s", cell: (s) => formatNumber(idleGets(s)) },
    { header: "idle LIST/s", cell: num("idleListPerSec") },
    { header: "idle follower $ per month (S3 prices)", cell: (s) => formatDollars(idleMonthly(s)) },
  ];
  const note =
    "A writer process appends one record every 10 ms; a read-only reader process follows from the start with the given pollIntervalMs. Lag is from the writer's ack to the reader's delivery, on the same machine clock. Idle: the reader's store requests per second over a quiet window with the writer open and idle.";
  return section("Readers in other processes: follow lag and idle cost", columns, rows, note);
}

function datasetsSection(input: SuiteReportInput): Section {
  const columns: Column<SuiteReportInput["datasets"][number]>[] = [
    { header: "log", align: "left", cell: (d) => d.name },
    { header: "streams", cell: (d) => formatInt(d.meta?.spec.streams ?? Number.NaN) },
    { header: "records", cell: (d) => (d.meta === undefined ? (d.error ?? "–") : formatInt(d.meta.spec.streams * d.meta.spec.recordsPerStream)) },
    { header: "build s", cell: (d) => formatNumber((d.meta?.buildMs ?? Number.NaN) / 1000) },
    { header: "records/s", cell: (d) => formatInt(d.meta?.recordsPerSec ?? Number.NaN) },
  ];
  const note =
    "Built once per suite run: 100 B records in appends of up to 1,000, 16 outstanding, flushIntervalMs 0, record i at timestamp base + i. One-stream logs on LocalStore; many-stream logs on MemoryStore, then copied to LocalStore (stream creation is serialized; see bench/suite/datasets.ts).";
  return section("Prebuilt logs", columns, input.datasets, note);
}

function peersSection(peers: Record<PeerName, PeerStatus>): Section {
  const rows = (Object.entries(peers) as [PeerName, PeerStatus][]).filter(([, status]) => status.available || status.reason !== NOT_IN_RUN);
  const columns: Column<[PeerName, PeerStatus]>[] = [
    { header: "peer", align: "left", cell: ([name]) => name },
    { header: "status", align: "left", cell: ([, status]) => (status.available ? status.version : `unavailable: ${status.reason}`) },
  ];
  return section("Peers", columns, rows, "Installed from bench/peers (its own package-lock.json) on first use.");
}
