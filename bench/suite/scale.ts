/**
 * Cases on the prebuilt logs of bench/suite/datasets.ts:
 *
 *   read start   open the log read-only, then start reads in the middle of a stream, by seqNum
 *                or by timestamp, and time each from the `read()` call to its first record.
 *                The first read runs on an empty block cache ("cold"); the next ones start at
 *                other positions in the middle half (other streams, for many-stream logs), with
 *                the SST indexes cached by then ("warm"). GETs per read start show that a start
 *                costs a few block reads, not a scan. Every record read is checked against the
 *                seqNum and timestamp the dataset gave it.
 *   append       open the log as its writer and run closed-loop appends of one record to its
 *                streams in turn: throughput as the stream, or the number of streams, grows.
 *                All stream handles are opened (and their tails loaded) before the window.
 *                Each run appends to a copy of the log, so that every run starts from the log as
 *                the build left it (at rest: datasets.ts waits for its compactions); the page
 *                cache is dropped after the copy where that is allowed (`pageCacheDropped`).
 */
import { execFile } from "node:child_process";
import { cp, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { LocalStore, openLog, type Log, type ReadFrom, type Stream } from "../../src/index.js";
import { runClosedLoop, writeLoadMetrics } from "../lib/load.js";
import type { Metrics } from "../lib/runner.js";
import { LatencyRecorder } from "../lib/stats.js";
import { datasetStoreDir, readMeta, streamName, type DatasetMeta } from "./datasets.js";
import { withTempDir } from "../raw-fsync.js";
import { RecordMaker } from "./ds-write.js";

export interface ReadStartParams {
  dataset: string;
  mode: "seq" | "timestamp";
  /** Read starts per run: one cold, the rest warm. */
  samples: number;
}

export interface ScaleAppendParams {
  dataset: string;
  valueBytes: number;
  writers: number;
  warmupMs: number;
  durationMs: number;
}

/** A read-only reader polls rarely here: the log does not change while it reads. */
const READER_POLL_MS = 60_000;

export async function readStart(params: ReadStartParams): Promise<Metrics> {
  const meta = readMeta(params.dataset);
  const store = new LocalStore(datasetStoreDir(params.dataset));
  const openStartMs = performance.now();
  const log = await openLog({ store, readOnly: true, pollIntervalMs: READER_POLL_MS });
  const logOpenMs = performance.now() - openStartMs;
  try {
    const positions = samplePositions(meta, params.samples);
    const warm = new LatencyRecorder();
    let cold: { readMs: number; gets: number; streamOpenMs: number } | undefined;
    let warmGets = 0;
    for (const position of positions) {
      const sample = await timeReadStart(log, meta, position, params.mode);
      if (cold === undefined) cold = sample;
      else {
        warm.add(sample.readMs);
        warmGets += sample.gets;
      }
    }
    const w = warm.summary();
    return {
      logOpenMs,
      coldStreamOpenMs: cold!.streamOpenMs,
      coldReadMs: cold!.readMs,
      coldGets: cold!.gets,
      warmReadP50Ms: w.p50Ms,
      warmReadP99Ms: w.p99Ms,
      warmGetsMean: warmGets / Math.max(1, w.count),
    };
  } finally {
    await log.close();
    await store.close();
  }
}

interface Position {
  stream: number;
  seqNum: number;
}

/** The middle of the first stream, then spread positions in the middle half (and over the streams). */
function samplePositions(meta: DatasetMeta, samples: number): Position[] {
  const n = meta.spec.recordsPerStream;
  const positions: Position[] = [{ stream: 0, seqNum: Math.floor(n / 2) }];
  let state = 0x9e3779b9;
  const random = () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 1; i < samples; i++) {
    const stream = meta.spec.streams === 1 ? 0 : Math.floor(random() * meta.spec.streams);
    positions.push({ stream, seqNum: Math.floor(n / 4 + random() * (n / 2)) });
  }
  return positions;
}

async function timeReadStart(log: Log, meta: DatasetMeta, position: Position, mode: ReadStartParams["mode"]): Promise<{ readMs: number; gets: number; streamOpenMs: number }> {
  const openStartMs = performance.now();
  const stream = await log.openStream(streamName(position.stream));
  const streamOpenMs = performance.now() - openStartMs;
  const timestamp = meta.baseTimestampMs + position.seqNum;
  const from: ReadFrom = mode === "seq" ? { seqNum: position.seqNum } : { timestamp };
  const getsBefore = log.metrics().engine.storeRequests.get;
  const startMs = performance.now();
  let readMs = Number.NaN;
  for await (const record of stream.read({ from, limit: { count: 1 } })) {
    readMs = performance.now() - startMs;
    if (record.seqNum !== position.seqNum || record.timestamp !== timestamp) {
      throw new Error(`read from ${JSON.stringify(from)} returned seqNum ${record.seqNum} timestamp ${record.timestamp}, expected ${position.seqNum} / ${timestamp}`);
    }
  }
  if (Number.isNaN(readMs)) throw new Error(`read from ${JSON.stringify(from)} returned nothing`);
  return { readMs, gets: log.metrics().engine.storeRequests.get - getsBefore, streamOpenMs };
}

export async function scaleAppend(params: ScaleAppendParams): Promise<Metrics> {
  const meta = readMeta(params.dataset);
  // On a copy: appends change the log (and a close in the middle of a merge abandons it), so that
  // run after run would start from a different log, with L0s piling up (2026-12-05).
  return withTempDir(async (dir) => {
    await cp(datasetStoreDir(params.dataset), dir, { recursive: true });
    await syncFilesystem(); // the copy's writeback must not fall into the window
    const pageCacheDropped = await dropPageCache();
    const store = new LocalStore(dir);
    const openStartMs = performance.now();
    const log = await openLog({ store });
    const logOpenMs = performance.now() - openStartMs;
    try {
      const streamsStartMs = performance.now();
      const streams = await openAll(log, meta.spec.streams);
      const openStreamsMs = performance.now() - streamsStartMs;
      const records = new RecordMaker(params.valueBytes, 1);
      let turn = 0;
      const result = await runClosedLoop({ ...params, operation: async () => void (await streams[turn++ % streams.length]!.append(records.next())) });
      return { ...writeLoadMetrics(result, { batchRecords: 1, valueBytes: params.valueBytes }), logOpenMs, openStreamsMs, pageCacheDropped };
    } finally {
      await log.close();
      await store.close();
    }
  });
}

/**
 * Drops the clean page cache (Linux, as root; 0 where that is not allowed). A run right after a
 * 3.3 GB copy of the 10^7 log paid twice as much for the page faults of its L0 build and record
 * copies as one after the 10^4 log's copy, on the VM of this file's figures (bench/README.md,
 * "Issue 15's targets again"): the copy, not the log, set the figure.
 */
async function dropPageCache(): Promise<number> {
  if (process.platform !== "linux") return 0;
  return writeFile("/proc/sys/vm/drop_caches", "3").then(
    () => 1,
    () => 0,
  );
}

/** sync(1): every dirty page of the machine written back. */
function syncFilesystem(): Promise<void> {
  return new Promise((resolve, reject) => execFile("sync", (error) => (error === null ? resolve() : reject(error))));
}

/** Opens every stream and loads its tail (checkTail), 256 at a time. */
async function openAll(log: Log, count: number): Promise<Stream[]> {
  const streams: Stream[] = [];
  for (let first = 0; first < count; first += 256) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(256, count - first) }, async (_, i) => {
        const stream = await log.openStream(streamName(first + i));
        await stream.checkTail();
        return stream;
      }),
    );
    streams.push(...batch);
  }
  return streams;
}
