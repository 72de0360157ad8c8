/**
 * The case matrix of each preset, and its sizes in full and quick mode.
 *
 *   suite    (bench/run.ts, `npm run bench`): the workloads side by side on durastream
 *            (LocalStore at flushIntervalMs 5 and 0, MemoryStore, simulated S3 Standard and
 *            Express), the raw bounds and the peers; catch-up scans; read start and appends on
 *            prebuilt logs as the stream and the number of streams grow; the memory soak; follow
 *            lag across processes and the idle follower's request rate
 *   streams  (bench/streams.ts): the stream API's own table: appends with 1 and 64 appenders,
 *            100 B and 1 KiB records, batches of 1 and 100; catch-up reads; follow latency in one
 *            process; on LocalStore and simulated S3 Standard
 *
 * Case ids name what they measure: write/<system>/<value>/<shape>, scan/<system>/<value>,
 * readstart/<dataset>/<seq|timestamp>, append/<dataset>, soak/local[-compaction-main], readers/<store>/poll<ms>,
 * streams/append/<store>/<value>/b<batch>/w<appenders>, streams/scan/..., streams/follow/<store>.
 */
import path from "node:path";
import { IDEAL_LOCAL_PUT_KIND, RAW_APPEND_KIND } from "../raw-fsync.js";
import type { CaseSpec } from "../lib/runner.js";
import { MiB } from "../lib/stats.js";
import type { DatasetSpec } from "./datasets.js";
import type { PeerName } from "./peers.js";
import type { SoakParams } from "./soak.js";
import type { DsStoreKind } from "./stores.js";
import type { ReaderStoreKind } from "./readers.js";

export type Preset = "suite" | "streams";

export const KINDS = {
  dsWrite: "ds-write",
  peerWrite: "peer-write",
  rawAppend: RAW_APPEND_KIND,
  idealPut: IDEAL_LOCAL_PUT_KIND,
  dsScan: "ds-scan",
  rawScan: "raw-scan",
  peerScan: "peer-scan",
  buildDataset: "build-dataset",
  readStart: "read-start",
  scaleAppend: "scale-append",
  soak: "soak",
  follow: "follow",
  readers: "readers",
} as const;

/** What the report needs to place a case; passed to the child with the spec, and ignored there. */
export interface CaseInfo {
  group: "write" | "scan" | "readstart" | "append" | "soak" | "readers" | "streams-append" | "streams-scan" | "streams-follow" | "build";
  system?: string;
  shape?: Shape;
  valueBytes?: number;
  dataset?: string;
}

export type SuiteCase = CaseSpec & { info: CaseInfo };

export interface SuiteConfig {
  quick: boolean;
  warmupMs: number;
  durationMs: number;
  /** Measured window of the simulated-S3 cases: at 15-20 acks/s a serial writer needs longer for a p99. */
  s3DurationMs: number;
  scanRecords: number;
  /** Records of the one stream in each size dataset. */
  streamSizes: number[];
  /** Stream counts of the many-stream datasets, sharing `streamsTotalRecords`. */
  streamCounts: number[];
  streamsTotalRecords: number;
  readStartSamples: number;
  soak: SoakParams;
  readers: { appendsPerSec: number; durationMs: number; idleMs: number; pollIntervalsMs: number[] };
  follow: { appendsPerSec: number; durationMs: number };
}

const SOAK: SoakParams = {
  inflightBytes: 8 * MiB,
  maxUnflushedBytes: 16 * MiB,
  l0SstBytes: 4 * MiB,
  maxSstBytes: 16 * MiB,
  blockCacheBytes: 8 * MiB,
  totalBytes: 160 * MiB,
  valueBytes: 1024,
  batchRecords: 100,
  followerPauseMs: 2,
};

export const FULL: SuiteConfig = {
  quick: false,
  warmupMs: 200,
  durationMs: 1000,
  s3DurationMs: 2000,
  scanRecords: 200_000,
  streamSizes: [1e4, 1e5, 1e6, 1e7],
  streamCounts: [1, 100, 10_000],
  streamsTotalRecords: 200_000,
  readStartSamples: 21,
  soak: SOAK,
  readers: { appendsPerSec: 100, durationMs: 2000, idleMs: 2000, pollIntervalsMs: [20, 100] },
  follow: { appendsPerSec: 200, durationMs: 2000 },
};

export const QUICK: SuiteConfig = {
  quick: true,
  warmupMs: 100,
  durationMs: 400,
  s3DurationMs: 1000,
  scanRecords: 50_000,
  streamSizes: [1e4, 1e5],
  streamCounts: [1, 100, 10_000],
  streamsTotalRecords: 20_000,
  readStartSamples: 6,
  soak: { ...SOAK, totalBytes: 80 * MiB },
  readers: { appendsPerSec: 100, durationMs: 1000, idleMs: 1000, pollIntervalsMs: [20, 100] },
  follow: { appendsPerSec: 200, durationMs: 1000 },
};

export type Shape = "serial" | "batch100" | "conc64";
export const SHAPES: Record<Shape, { writers: number; batchRecords: number }> = {
  serial: { writers: 1, batchRecords: 1 },
  batch100: { writers: 1, batchRecords: 100 },
  conc64: { writers: 64, batchRecords: 1 },
};
export const VALUE_SIZES = [100, 1024] as const;
export const sizeName = (bytes: number): string => (bytes >= 1024 ? `${bytes / 1024}KiB` : `${bytes}B`);

/** A system of the write table: how to run it, and its title. */
export interface WriteSystem {
  id: string;
  title: string;
  kind: string;
  params: Record<string, unknown>;
  store?: DsStoreKind;
  flushIntervalMs?: number;
  peer?: PeerName;
}

export const WRITE_SYSTEMS: WriteSystem[] = [
  dsSystem("local", 5, "durastream LocalStore (default: segment WAL)"),
  dsSystem("local", 0, "durastream LocalStore (segment WAL, flushIntervalMs 0: same path)"),
  {
    ...dsSystem("local", 5, 'durastream LocalStore (segment WAL, walDatasync "thread-pool": the event loop free during fdatasync)'),
    id: "ds-local-pool-fi5",
    params: { store: "local", flushIntervalMs: 5, walDatasync: "thread-pool" },
  },
  { ...dsSystem("local", 5, "durastream LocalStore (object WAL, flushIntervalMs 5: the old default)"), id: "ds-local-objects-fi5", params: { store: "local", flushIntervalMs: 5, walMode: "objects" } },
  dsSystem("memory", 5, "durastream MemoryStore (not durable)"),
  dsSystem("s3std", 50, "durastream simulated S3 Standard (flushIntervalMs 50)"),
  dsSystem("s3express", 10, "durastream simulated S3 Express (flushIntervalMs 10)"),
  { id: "raw-append", title: "raw append + fdatasync, group commit", kind: KINDS.rawAppend, params: {} },
  { id: "ideal-put", title: "ideal LocalStore create-only put loop", kind: KINDS.idealPut, params: {} },
  peerSystem("sqlite"),
  peerSystem("level"),
  peerSystem("lmdb"),
];

function dsSystem(store: DsStoreKind, flushIntervalMs: number, title: string): WriteSystem {
  return { id: `ds-${store}-fi${flushIntervalMs}`, title, kind: KINDS.dsWrite, params: { store, flushIntervalMs }, store, flushIntervalMs };
}

function peerSystem(peer: PeerName): WriteSystem {
  const titles: Record<PeerName, string> = { sqlite: "better-sqlite3", level: "classic-level", lmdb: "lmdb" };
  return { id: peer, title: titles[peer], kind: KINDS.peerWrite, params: { peer }, peer };
}

export const SCAN_SYSTEMS: { id: string; title: string; kind: string; params: Record<string, unknown>; peer?: PeerName }[] = [
  { id: "ds-local", title: "durastream LocalStore, read() per record", kind: KINDS.dsScan, params: { store: "local", read: "records", readOnly: true } },
  { id: "ds-local-batches", title: "durastream LocalStore, readBatches()", kind: KINDS.dsScan, params: { store: "local", read: "batches", readOnly: true } },
  { id: "ds-local-writer", title: "durastream LocalStore, read() through the reopened writer", kind: KINDS.dsScan, params: { store: "local", read: "records", readOnly: false } },
  { id: "raw-file", title: "raw file (framed, crc32 checked)", kind: KINDS.rawScan, params: {} },
  { id: "sqlite", title: "better-sqlite3", kind: KINDS.peerScan, params: { peer: "sqlite" }, peer: "sqlite" },
  { id: "level", title: "classic-level", kind: KINDS.peerScan, params: { peer: "level" }, peer: "level" },
  { id: "lmdb", title: "lmdb", kind: KINDS.peerScan, params: { peer: "lmdb" }, peer: "lmdb" },
];

export function sizeDataset(records: number): DatasetSpec {
  return { name: `size-${exp10(records)}`, streams: 1, recordsPerStream: records, bodyBytes: 100 };
}

export function streamsDataset(streams: number, totalRecords: number): DatasetSpec {
  return { name: `streams-${exp10(streams)}`, streams, recordsPerStream: Math.max(1, Math.floor(totalRecords / streams)), bodyBytes: 100 };
}

/** 10000 -> "1e4"; 1, 100 and numbers that are not powers of ten as they are. */
export function exp10(n: number): string {
  const e = Math.log10(n);
  return Number.isInteger(e) && e > 2 ? `1e${e}` : String(n);
}

export function datasetSpecs(preset: Preset, config: SuiteConfig): DatasetSpec[] {
  if (preset !== "suite") return [];
  return [...config.streamSizes.map(sizeDataset), ...config.streamCounts.map((n) => streamsDataset(n, config.streamsTotalRecords))];
}

export interface BuildOptions {
  config: SuiteConfig;
  dataDir: string;
  s3Gateway: boolean;
}

export function buildCases(preset: Preset, options: BuildOptions): SuiteCase[] {
  return preset === "suite" ? suiteCases(options) : streamsCases(options.config);
}

function loadTiming(config: SuiteConfig, s3: boolean): { warmupMs: number; durationMs: number } {
  return { warmupMs: config.warmupMs, durationMs: s3 ? config.s3DurationMs : config.durationMs };
}

function suiteCases({ config, dataDir, s3Gateway }: BuildOptions): SuiteCase[] {
  const cases: SuiteCase[] = [];
  const timeoutMs = 60_000;
  for (const valueBytes of VALUE_SIZES) {
    for (const shape of Object.keys(SHAPES) as Shape[]) {
      for (const system of WRITE_SYSTEMS) {
        const s3 = system.store === "s3std" || system.store === "s3express";
        const params = { ...system.params, valueBytes, ...SHAPES[shape], ...loadTiming(config, s3) };
        cases.push({ id: `write/${system.id}/${sizeName(valueBytes)}/${shape}`, kind: system.kind, params, timeoutMs, info: { group: "write", system: system.id, shape, valueBytes } });
      }
    }
  }
  for (const valueBytes of VALUE_SIZES) {
    for (const system of SCAN_SYSTEMS) {
      const params = { ...system.params, valueBytes, records: config.scanRecords };
      cases.push({ id: `scan/${system.id}/${sizeName(valueBytes)}`, kind: system.kind, params, timeoutMs: 180_000, info: { group: "scan", system: system.id, valueBytes } });
    }
  }
  const datasets = [...config.streamSizes.map(sizeDataset), ...config.streamCounts.map((n) => streamsDataset(n, config.streamsTotalRecords))];
  for (const dataset of datasets) {
    const dir = path.join(dataDir, dataset.name);
    const modes = dataset.streams === 1 && dataset.name.startsWith("size-") ? (["seq", "timestamp"] as const) : (["seq"] as const);
    for (const mode of modes) {
      cases.push({ id: `readstart/${dataset.name}/${mode}`, kind: KINDS.readStart, params: { dataset: dir, mode, samples: config.readStartSamples }, timeoutMs: 120_000, info: { group: "readstart", dataset: dataset.name } });
    }
    const params = { dataset: dir, valueBytes: 1024, writers: 64, warmupMs: config.warmupMs, durationMs: config.durationMs };
    cases.push({ id: `append/${dataset.name}`, kind: KINDS.scaleAppend, params, timeoutMs: 120_000, info: { group: "append", dataset: dataset.name } });
  }
  cases.push({ id: "soak/local", kind: KINDS.soak, params: config.soak, timeoutMs: 180_000, info: { group: "soak" } });
  // The same with compaction on the log's own thread: what the worker (the default on a LocalStore) costs in memory.
  cases.push({ id: "soak/local-compaction-main", kind: KINDS.soak, params: { ...config.soak, compactionThread: "main" }, timeoutMs: 180_000, info: { group: "soak" } });
  const readerStores: ReaderStoreKind[] = s3Gateway ? ["local", "s3sim", "s3gw"] : ["local", "s3sim"];
  for (const store of readerStores) {
    for (const pollIntervalMs of config.readers.pollIntervalsMs) {
      const { appendsPerSec, durationMs, idleMs } = config.readers;
      const params = { store, pollIntervalMs, flushIntervalMs: store === "local" ? 5 : 50, appendsPerSec, durationMs, idleMs };
      cases.push({ id: `readers/${store}/poll${pollIntervalMs}`, kind: KINDS.readers, params, timeoutMs: 120_000, info: { group: "readers", system: store } });
    }
  }
  return cases;
}

function streamsCases(config: SuiteConfig): SuiteCase[] {
  const cases: SuiteCase[] = [];
  const stores: { store: DsStoreKind; flushIntervalMs: number }[] = [
    { store: "local", flushIntervalMs: 5 },
    { store: "s3std", flushIntervalMs: 50 },
  ];
  for (const { store, flushIntervalMs } of stores) {
    for (const valueBytes of VALUE_SIZES) {
      for (const batchRecords of [1, 100]) {
        for (const writers of [1, 64]) {
          const params = { store, flushIntervalMs, valueBytes, batchRecords, writers, ...loadTiming(config, store !== "local") };
          cases.push({ id: `streams/append/${store}/${sizeName(valueBytes)}/b${batchRecords}/w${writers}`, kind: KINDS.dsWrite, params, timeoutMs: 60_000, info: { group: "streams-append", system: store, valueBytes } });
        }
      }
    }
  }
  for (const { store } of stores) {
    for (const valueBytes of VALUE_SIZES) {
      // Simulated S3 reads every SST block at S3's GET latency: a smaller stream keeps it in time.
      const records = store === "local" ? config.scanRecords : Math.min(config.scanRecords, 50_000);
      cases.push({ id: `streams/scan/${store}/${sizeName(valueBytes)}`, kind: KINDS.dsScan, params: { store, valueBytes, records }, timeoutMs: 300_000, info: { group: "streams-scan", system: store, valueBytes } });
    }
  }
  for (const { store, flushIntervalMs } of stores) {
    const params = { store, flushIntervalMs, ...config.follow, valueBytes: 1024 };
    cases.push({ id: `streams/follow/${store}`, kind: KINDS.follow, params, timeoutMs: 60_000, info: { group: "streams-follow", system: store } });
  }
  return cases;
}
