/**
 * Memory soak: one appender writes `totalBytes` of 1 KiB records, many times the Log's in-flight
 * cap, as fast as admission lets it (an append session: submit waits for room under the cap),
 * while a slow follower reads the same stream from seqNum 0 (it pauses after every 100 records,
 * so it falls behind and goes back to storage). RSS and heap are sampled every 20 ms.
 *
 * What should bound memory is the sum of the Log's caps: in-flight appends (`inflightBytes`),
 * data written but not yet in SSTs (`maxUnflushedBytes`), the SST block cache
 * (`blockCacheBytes`), and the SSTs being built: a compaction's output, one buffer of at most
 * `maxSstBytes`, and an L0, one buffer of about `l0SstBytes`. The soak sets these caps small, so
 * that the data appended is several times their sum: if memory grew with the data, the peak
 * would show it. The peak of the second half of the run is reported beside that of the first,
 * so a slow growth shows too. The producer's pool of random bodies (16 MiB) is allocated before
 * the baseline is taken: it is the application's memory, not the log's.
 *
 * On top of the caps, the runtime: 64 MiB for V8 itself (young generation, code, I/O buffers),
 * and 64 MiB of Buffers that are already garbage: V8 starts a collection for external memory
 * only once it grew by kExternalAllocationSoftLimit (64 MiB, v8-internal.h) since the last one,
 * so freed SST and WAL buffers can wait that long. (Until issue 5 the bound had 2 x maxSstBytes
 * and 64 MiB: the SST builder held each SST twice, its chunks and their concatenation.)
 *
 * Bound checked (stated in bench/README.md): peak RSS <= RSS after open + inflightBytes +
 * maxUnflushedBytes + blockCacheBytes + maxSstBytes + l0SstBytes + 64 MiB (V8) + 64 MiB (V8's
 * external-memory GC trigger).
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { LocalStore, openLog, type AppendSession } from "../../src/index.js";
import type { Metrics } from "../lib/runner.js";
import { MiB } from "../lib/stats.js";
import { withTempDir } from "../raw-fsync.js";
import { RecordMaker } from "./ds-write.js";

export interface SoakParams {
  inflightBytes: number;
  maxUnflushedBytes: number;
  l0SstBytes: number;
  maxSstBytes: number;
  blockCacheBytes: number;
  totalBytes: number;
  valueBytes: number;
  batchRecords: number;
  /** The follower pauses this long after every 100 records. */
  followerPauseMs: number;
  /** Where compaction merges (`openLog`'s `compactionThread`); unset: the log's default. */
  compactionThread?: "main" | "worker";
}

const SAMPLE_EVERY_MS = 20;
/** V8's own memory: young generation, code, I/O buffers. */
const RUNTIME_BYTES = 64 * MiB;
/** V8's kExternalAllocationSoftLimit: Buffers freed since the last GC can add up to this before the next. */
const EXTERNAL_GC_TRIGGER_BYTES = 64 * MiB;

export function soakBoundBytes(params: SoakParams, baselineRssBytes: number): number {
  const caps = params.inflightBytes + params.maxUnflushedBytes + params.blockCacheBytes + params.maxSstBytes + params.l0SstBytes;
  return baselineRssBytes + caps + RUNTIME_BYTES + EXTERNAL_GC_TRIGGER_BYTES;
}

export async function memorySoak(params: SoakParams): Promise<Metrics> {
  return withTempDir(async (dir) => {
    const store = new LocalStore(`${dir}/store`);
    const { inflightBytes, maxUnflushedBytes, l0SstBytes, maxSstBytes, blockCacheBytes, compactionThread } = params;
    const log = await openLog({
      store,
      inflightBytes,
      maxUnflushedBytes,
      l0SstBytes,
      maxSstBytes,
      blockCacheBytes,
      ...(compactionThread === undefined ? {} : { compactionThread }),
    });
    try {
      const stream = await log.openStream("soak", { createIfMissing: true });
      // The producer's input (a 16 MiB pool of random bodies) is the application's memory, not
      // the log's: it exists before the first append, so it belongs in the baseline.
      const records = new RecordMaker(params.valueBytes, params.batchRecords);
      const baselineRss = process.memoryUsage().rss;
      const sampler = new PeakSampler();
      const follower = startFollower(stream.read({ from: { seqNum: 0 }, follow: true }), params.followerPauseMs);
      const startMs = performance.now();
      const appended = await appendAll(stream.appendSession(), records, params, () => sampler.markHalf());
      const seconds = (performance.now() - startMs) / 1000;
      sampler.stop();
      const followed = await follower.stop();
      const bound = soakBoundBytes(params, baselineRss);
      return {
        appendedMiB: appended / MiB,
        appendMiBPerSec: appended / MiB / seconds,
        baselineRssMiB: baselineRss / MiB,
        peakRssMiB: sampler.peakRss / MiB,
        peakRssFirstHalfMiB: sampler.peakRssFirstHalf / MiB,
        peakRssSecondHalfMiB: sampler.peakRssSecondHalf / MiB,
        peakHeapUsedMiB: sampler.peakHeapUsed / MiB,
        peakExternalMiB: sampler.peakExternal / MiB,
        boundMiB: bound / MiB,
        underBound: sampler.peakRss <= bound ? 1 : 0,
        followerRecords: followed,
        followerLagRecords: appended / params.valueBytes - followed,
        backpressureWaits: log.metrics().backpressureWaits,
      };
    } finally {
      await log.close();
      await store.close();
    }
  });
}

/** Submits batches until `totalBytes` of bodies were appended; acks are counted, never stored. */
async function appendAll(session: AppendSession, records: RecordMaker, params: SoakParams, onHalf: () => void): Promise<number> {
  const batchBytes = params.valueBytes * params.batchRecords;
  let failure: unknown;
  let submitted = 0;
  let halfMarked = false;
  while (submitted < params.totalBytes && failure === undefined) {
    const ticket = await session.submit(records.next());
    ticket.ack().catch((error: unknown) => (failure ??= error));
    submitted += batchBytes;
    if (!halfMarked && submitted >= params.totalBytes / 2) {
      halfMarked = true;
      onHalf();
    }
  }
  await session.close();
  if (failure !== undefined) throw failure;
  return submitted;
}

function startFollower(session: AsyncIterable<unknown> & { close(): Promise<void> }, pauseMs: number): { stop: () => Promise<number> } {
  let count = 0;
  let stopping = false;
  const done = (async () => {
    for await (const _ of session) {
      count++;
      if (count % 100 === 0) await sleep(pauseMs);
      if (stopping) break;
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await session.close();
      await done;
      return count;
    },
  };
}

class PeakSampler {
  peakRss = 0;
  peakRssFirstHalf = 0;
  peakRssSecondHalf = 0;
  peakHeapUsed = 0;
  peakExternal = 0;
  #secondHalf = false;
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => this.sample(), SAMPLE_EVERY_MS);
    this.sample();
  }

  sample(): void {
    const usage = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, usage.rss);
    if (this.#secondHalf) this.peakRssSecondHalf = Math.max(this.peakRssSecondHalf, usage.rss);
    else this.peakRssFirstHalf = Math.max(this.peakRssFirstHalf, usage.rss);
    this.peakHeapUsed = Math.max(this.peakHeapUsed, usage.heapUsed);
    this.peakExternal = Math.max(this.peakExternal, usage.external);
  }

  markHalf(): void {
    this.sample();
    this.#secondHalf = true;
  }

  stop(): void {
    this.sample();
    clearInterval(this.#timer);
  }
}
