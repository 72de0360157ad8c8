/**
 * The suite's workloads run on a peer (bench/suite/peers.ts): durable appends in the same
 * closed-loop shapes as durastream (serial, batch100, conc64) and the catch-up scan (prefill in
 * appends of 1,000 records, close, reopen, read everything in key order). Each runs in a fresh
 * directory under the OS temp dir.
 */
import { performance } from "node:perf_hooks";
import { runClosedLoop, writeLoadMetrics } from "../lib/load.js";
import type { WriteLoadParams } from "../lib/payload.js";
import type { Metrics } from "../lib/runner.js";
import { MiB } from "../lib/stats.js";
import { withTempDir } from "../raw-fsync.js";
import { RecordMaker } from "./ds-write.js";
import { openPeer, type PeerName } from "./peers.js";

export interface PeerWriteParams extends WriteLoadParams {
  peer: PeerName;
}

export interface ScanParams {
  valueBytes: number;
  records: number;
}

export interface PeerScanParams extends ScanParams {
  peer: PeerName;
}

/** Records per append while prefilling a scan, and how many such appends may be outstanding. */
export const PREFILL_BATCH_RECORDS = 1000;
export const PREFILL_WINDOW = 8;

export async function peerWrite(params: PeerWriteParams): Promise<Metrics> {
  return withTempDir(async (dir) => {
    const db = await openPeer(params.peer, dir);
    const records = new RecordMaker(params.valueBytes, params.batchRecords);
    try {
      const result = await runClosedLoop({ ...params, operation: () => db.append(records.bodies()) });
      return writeLoadMetrics(result, params);
    } finally {
      await db.close();
    }
  });
}

export async function peerScan(params: PeerScanParams): Promise<Metrics> {
  return withTempDir(async (dir) => {
    const writer = await openPeer(params.peer, dir);
    let prefillRecordsPerSec: number;
    try {
      prefillRecordsPerSec = await prefill((bodies) => writer.append(bodies), params);
    } finally {
      await writer.close();
    }
    const openStartMs = performance.now();
    const reader = await openPeer(params.peer, dir);
    try {
      const reopenMs = performance.now() - openStartMs;
      const scanStartMs = performance.now();
      let bytes = 0;
      let firstMs = Number.NaN;
      const count = await reader.scan((body) => {
        if (bytes === 0) firstMs = performance.now() - scanStartMs;
        bytes += body.length;
      });
      return { prefillRecordsPerSec, reopenMs, firstRecordMs: firstMs, ...scanRates(count, bytes, performance.now() - scanStartMs, params) };
    } finally {
      await reader.close();
    }
  });
}

/** Appends `records` in appends of 1,000, keeping a few outstanding; returns records/s. */
export async function prefill(append: (bodies: Uint8Array[]) => Promise<unknown>, params: ScanParams): Promise<number> {
  const records = new RecordMaker(params.valueBytes, PREFILL_BATCH_RECORDS);
  const outstanding: Promise<unknown>[] = [];
  const startMs = performance.now();
  for (let written = 0; written < params.records; written += PREFILL_BATCH_RECORDS) {
    outstanding.push(append(records.bodies()));
    if (outstanding.length >= PREFILL_WINDOW) await outstanding.shift();
  }
  await Promise.all(outstanding);
  return (params.records / (performance.now() - startMs)) * 1000;
}

/** Checks that a scan returned exactly what was written, and gives its rates. */
export function scanRates(count: number, bytes: number, elapsedMs: number, params: ScanParams): Metrics {
  const expectedRecords = Math.ceil(params.records / PREFILL_BATCH_RECORDS) * PREFILL_BATCH_RECORDS;
  if (count !== expectedRecords || bytes !== expectedRecords * params.valueBytes) {
    throw new Error(`scan returned ${count} records / ${bytes} bytes, expected ${expectedRecords} / ${expectedRecords * params.valueBytes}`);
  }
  return { scanRecordsPerSec: (count / elapsedMs) * 1000, scanMiBPerSec: (bytes / MiB / elapsedMs) * 1000, scanMs: elapsedMs };
}
