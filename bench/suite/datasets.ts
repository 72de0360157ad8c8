/**
 * Prebuilt logs for the read-start and scale cases: built once per suite run (in a child
 * process, like every case) and then opened by many cases, each in its own process.
 *
 *   size-1e7      one stream of 10^7 records (also 1e4, 1e5, 1e6): read start by seq and by
 *                 timestamp from the middle, and appends to a stream that size
 *   streams-1e4   10,000 streams sharing the same total of records (also 1 and 100 streams)
 *
 * Records are incompressible 100 B bodies, appended in appends of 1,000 records (or one append
 * per stream when streams hold fewer), 16 appends outstanding, flushIntervalMs 0. Record i of a
 * stream gets timestamp base + i ms (distinct, increasing, in the past), so the bench knows the
 * timestamp of every record. A one-stream log is built on LocalStore directly. A many-stream log
 * is built on MemoryStore and its objects then copied to LocalStore: stream creation is a
 * control-plane write, serialized and durable one at a time (10,000 creations took 27 s on
 * LocalStore here, 3-8 s on memory), and the objects are the same either way. Small L0 SSTs and
 * a fast GC keep the WAL objects to copy few (10,000 creations leave 10,000 WAL objects
 * otherwise, and a LocalStore put costs two fsyncs).
 *
 * A dataset's directory holds `store/` (the LocalStore root) and `meta.json`, written last, so a
 * directory without it is incomplete. `--data-dir` keeps datasets between runs; one whose
 * meta.json matches its spec is reused.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { LocalStore, MemoryStore, openLog, type Log, type ObjectStore, type Stream } from "../../src/index.js";
import { DEFAULT_L0_COMPACTION_TRIGGER } from "../../src/limits.js";
import type { Metrics } from "../lib/runner.js";
import { ValuePool } from "../lib/payload.js";

export interface DatasetSpec {
  name: string;
  streams: number;
  recordsPerStream: number;
  bodyBytes: number;
}

export interface DatasetMeta {
  spec: DatasetSpec;
  /** Timestamp of record 0 of every stream; record i has baseTimestampMs + i. */
  baseTimestampMs: number;
  buildMs: number;
  recordsPerSec: number;
}

export interface BuildParams {
  dir: string;
  spec: DatasetSpec;
}

const APPEND_RECORDS = 1000;
const OUTSTANDING_APPENDS = 16;
const CREATE_CONCURRENCY = 256;
const COPY_CONCURRENCY = 16;
/** No reader runs during a build, so replaced objects can go at once. */
const ONE_STREAM_BUILD_OPTIONS = { flushIntervalMs: 0, gcIntervalMs: 1000, gcGraceMs: 0 };
const MANY_STREAM_BUILD_OPTIONS = { flushIntervalMs: 0, l0SstBytes: 1024 * 1024, gcIntervalMs: 100, gcGraceMs: 0 };

export const streamName = (index: number): string => `s${String(index).padStart(5, "0")}`;
export const datasetStoreDir = (dir: string): string => path.join(dir, "store");

/** The most a build or a case waits for a log's compactions to finish before it closes it. */
const SETTLE_MAX_MS = 300_000;

/**
 * Waits until the log's compaction is at rest: fewer L0s than the trigger, and no compaction
 * finished in the last second (bounded by SETTLE_MAX_MS). A log closed in the middle of a merge
 * abandons it, and the next open starts it again: a dataset left so (and each case that writes to
 * it and closes at once) would make every later case pay for a merge nobody finishes.
 */
export async function untilCompactionSettles(log: Log): Promise<void> {
  const startMs = performance.now();
  let last = -1;
  let quietPolls = 0;
  while (quietPolls < 10 && performance.now() - startMs < SETTLE_MAX_MS) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const engine = log.metrics().engine;
    quietPolls = engine.compactions === last && engine.l0Count < DEFAULT_L0_COMPACTION_TRIGGER ? quietPolls + 1 : 0;
    last = engine.compactions;
  }
}

export function readMeta(dir: string): DatasetMeta {
  return JSON.parse(readFileSync(path.join(dir, "meta.json"), "utf8")) as DatasetMeta;
}

/** Whether `dir` holds a complete dataset built from exactly this spec. */
export function isBuilt(dir: string, spec: DatasetSpec): boolean {
  if (!existsSync(path.join(dir, "meta.json"))) return false;
  return JSON.stringify(readMeta(dir).spec) === JSON.stringify(spec);
}

/** Case handler: builds the dataset into `dir` (removing whatever was there). */
export async function buildDataset({ dir, spec }: BuildParams): Promise<Metrics> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const total = spec.streams * spec.recordsPerStream;
  const baseTimestampMs = Date.now() - spec.recordsPerStream - 60_000;
  const onMemory = spec.streams > 1;
  const store: ObjectStore = onMemory ? new MemoryStore() : new LocalStore(datasetStoreDir(dir));
  const startMs = performance.now();
  const log = await openLog({ store, ...(onMemory ? MANY_STREAM_BUILD_OPTIONS : ONE_STREAM_BUILD_OPTIONS) });
  try {
    const streams = await createStreams(log, spec.streams);
    await appendAll(streams, spec, baseTimestampMs);
    await untilCompactionSettles(log);
  } finally {
    await log.close();
  }
  if (onMemory) await copyObjects(store, new LocalStore(datasetStoreDir(dir)));
  else await (store as LocalStore).close();
  const buildMs = performance.now() - startMs;
  const meta: DatasetMeta = { spec, baseTimestampMs, buildMs, recordsPerSec: (total / buildMs) * 1000 };
  writeFileSync(path.join(dir, "meta.json"), JSON.stringify(meta, null, 2));
  return { buildMs, recordsPerSec: meta.recordsPerSec, records: total };
}

async function createStreams(log: Log, count: number): Promise<Stream[]> {
  const streams: Stream[] = [];
  for (let first = 0; first < count; first += CREATE_CONCURRENCY) {
    const names = Array.from({ length: Math.min(CREATE_CONCURRENCY, count - first) }, (_, i) => streamName(first + i));
    streams.push(...(await Promise.all(names.map((name) => log.openStream(name, { createIfMissing: true, config: { retention: "infinite" } })))));
  }
  return streams;
}

/** Appends every stream's records, round by round (each round one append per stream), with progress on stderr. */
async function appendAll(streams: readonly Stream[], spec: DatasetSpec, baseTimestampMs: number): Promise<void> {
  const pool = new ValuePool();
  const perAppend = Math.min(APPEND_RECORDS, spec.recordsPerStream);
  const total = streams.length * spec.recordsPerStream;
  const outstanding: Promise<unknown>[] = [];
  const startMs = performance.now();
  let written = 0;
  let nextReportAt = total / 10;
  for (let first = 0; first < spec.recordsPerStream; first += perAppend) {
    const count = Math.min(perAppend, spec.recordsPerStream - first);
    for (const stream of streams) {
      const records = Array.from({ length: count }, (_, i) => ({ body: pool.next(spec.bodyBytes), timestamp: baseTimestampMs + first + i }));
      outstanding.push(stream.append(records));
      if (outstanding.length >= OUTSTANDING_APPENDS) await outstanding.shift();
      written += count;
      if (written >= nextReportAt && total >= 1_000_000) {
        const rate = (written / (performance.now() - startMs)) * 1000;
        process.stderr.write(`  building ${spec.name}: ${written.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} records (${Math.round(rate).toLocaleString("en-US")}/s)\n`);
        nextReportAt += total / 10;
      }
    }
  }
  await Promise.all(outstanding);
}

async function copyObjects(from: ObjectStore, to: LocalStore): Promise<void> {
  const keys: string[] = [];
  for await (const entry of from.list("")) keys.push(entry.key);
  let next = 0;
  const copier = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      await to.put(key, await from.get(key));
    }
  };
  try {
    await Promise.all(Array.from({ length: COPY_CONCURRENCY }, copier));
  } finally {
    await to.close();
  }
}
