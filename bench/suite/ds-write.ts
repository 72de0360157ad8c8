/**
 * durastream's durable appends through the public API (openLog, stream.append), in the suite's
 * workload shapes: `writers` closed-loop appenders (bench/lib/load.ts), each append carrying
 * `batchRecords` incompressible records of `valueBytes` bytes. Latency runs from the call to
 * `append()` to its ack (durable). Besides records/s and latency it reports what the store saw
 * in the measured window: requests per second by kind (every attempt, from
 * `log.metrics().engine.storeRequests`), requests per million records (for the S3 cost table),
 * and the WAL PUT spacing measured where the store receives them (bench/lib/put-timing-store.ts),
 * to check the rate bound 1000 / flushIntervalMs.
 */
import { LocalStore, openLog, type AppendRecord, type EngineMetrics, type Log } from "../../src/index.js";
import { WAL_PREFIX } from "../../src/engine/paths.js";
import { runClosedLoop, writeLoadMetrics } from "../lib/load.js";
import { ValuePool, type WriteLoadParams } from "../lib/payload.js";
import { maxInWindow, minGapMs, PutTimingStore } from "../lib/put-timing-store.js";
import type { Metrics } from "../lib/runner.js";
import { withDsStore, type DsStoreKind } from "./stores.js";

export interface DsWriteParams extends WriteLoadParams {
  store: DsStoreKind;
  flushIntervalMs: number;
  /** Unset: the log's default for the store. */
  walMode?: "objects" | "segments";
  /** Unset: the log's default ("inline"). */
  walDatasync?: "inline" | "thread-pool";
}

/** Makes append batches of incompressible bodies (views into one random pool; nothing drawn while timing). */
export class RecordMaker {
  readonly #pool = new ValuePool();

  constructor(
    readonly valueBytes: number,
    readonly batchRecords: number,
  ) {}

  next(): AppendRecord[] {
    const records = new Array<AppendRecord>(this.batchRecords);
    for (let i = 0; i < this.batchRecords; i++) records[i] = { body: this.#pool.next(this.valueBytes) };
    return records;
  }

  bodies(): Uint8Array[] {
    const bodies = new Array<Uint8Array>(this.batchRecords);
    for (let i = 0; i < this.batchRecords; i++) bodies[i] = this.#pool.next(this.valueBytes);
    return bodies;
  }
}

export async function dsWrite(params: DsWriteParams): Promise<Metrics> {
  return withDsStore(params.store, async (store) => {
    // The PUT spacing check is for WAL objects. A LocalStore with the segment WAL (the default)
    // makes no WAL PUTs, and is given to the log as it is: a wrapper would hide it, and with it
    // everything the log does only on a LocalStore (SSTs written around the page cache into
    // reused, prefaulted buffers, taking turns with the group commits). Before 2026-12-05 it
    // was wrapped, so these cases measured a path no `file://` user takes.
    const segments = store instanceof LocalStore && params.walMode !== "objects";
    const timing = segments ? undefined : new PutTimingStore(store, WAL_PREFIX);
    const log = await openLog({
      store: timing ?? store,
      flushIntervalMs: params.flushIntervalMs,
      ...(params.walMode === undefined ? {} : { walMode: params.walMode }),
      ...(params.walDatasync === undefined ? {} : { walDatasync: params.walDatasync }),
    });
    try {
      return await measureAppends(log, timing, params);
    } finally {
      await log.close();
    }
  });
}

async function measureAppends(log: Log, timing: PutTimingStore | undefined, params: DsWriteParams): Promise<Metrics> {
  const stream = await log.openStream("bench", { createIfMissing: true });
  const records = new RecordMaker(params.valueBytes, params.batchRecords);
  let before: EngineMetrics | undefined;
  let after: EngineMetrics | undefined;
  let fromMs = 0;
  let toMs = 0;
  const result = await runClosedLoop({
    writers: params.writers,
    warmupMs: params.warmupMs,
    durationMs: params.durationMs,
    operation: async () => void (await stream.append(records.next())),
    onWindowStart: (nowMs) => {
      fromMs = nowMs;
      before = log.metrics().engine;
    },
    onWindowEnd: (nowMs) => {
      toMs = nowMs;
      after = log.metrics().engine;
    },
  });
  if (before === undefined || after === undefined) throw new Error("the measured window never opened or closed");
  const load = writeLoadMetrics(result, params);
  const starts = timing?.startsBetween(fromMs, toMs) ?? [];
  return {
    ...load,
    ...storeRequestRates(before, after, result.windowMs, load.recordsPerSec!),
    walPutsMaxIn1s: maxInWindow(starts, 1000),
    walPutMinGapMs: minGapMs(starts),
  };
}

/**
 * Store requests in the window, per second and per million records. LIST is counted per call;
 * S3 bills each page of up to 1,000 keys, so `listPages` adds a page per 1,000 keys listed.
 */
export function storeRequestRates(before: EngineMetrics, after: EngineMetrics, windowMs: number, recordsPerSec: number): Metrics {
  const b = before.storeRequests;
  const a = after.storeRequests;
  const seconds = windowMs / 1000;
  const listPages = a.list - b.list + Math.floor((a.listedKeys - b.listedKeys) / 1000);
  const counts = { put: a.put - b.put, get: a.get - b.get, head: a.head - b.head, list: listPages, delete: a.delete - b.delete };
  const perMillion = (n: number) => (n / seconds / recordsPerSec) * 1e6;
  const walFlushes = after.walFlushes - before.walFlushes;
  return {
    putPerSec: counts.put / seconds,
    getPerSec: counts.get / seconds,
    headPerSec: counts.head / seconds,
    listPerSec: counts.list / seconds,
    deletePerSec: counts.delete / seconds,
    putsPerMillionRecords: perMillion(counts.put),
    getsPerMillionRecords: perMillion(counts.get + counts.head),
    listsPerMillionRecords: perMillion(counts.list),
    walPutsPerSec: walFlushes / seconds,
    walPutMsMean: (after.walFlushDurationMsTotal - before.walFlushDurationMsTotal) / walFlushes,
    storeErrors: a.errors - b.errors,
  };
}
