/**
 * The catch-up scan on durastream and on a raw file (the peers' version is in peer-load.ts):
 * prefill `records` records in appends of 1,000, close, reopen (timed), then read the whole
 * stream from seqNum 0 once, timing the first record and the whole read. The page cache is warm
 * (the data was just written) for every system alike; nothing drops caches on this shared machine.
 *
 *   durastream  stream.read({ from: { seqNum: 0 } }) (`read: "records"`) or stream.readBatches()
 *               (`read: "batches"`) through a Log reopened read-only (`readOnly: true`: the
 *               scan alone) or as the writer (its own L0 flush and compaction run meanwhile
 *               on the same thread); the WAL tail replays into the memtable at open, the rest
 *               is in SSTs
 *   raw file    frames [u32 length][u32 crc32][body] appended to one file (one fdatasync at the
 *               end of the prefill), read back in 4 MiB chunks with every crc checked: the
 *               physical bound of a sequential read
 */
import { closeSync, fdatasyncSync, openSync, readSync, writeSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import zlib from "node:zlib";
import { openLog } from "../../src/index.js";
import type { Metrics } from "../lib/runner.js";
import { withTempDir } from "../raw-fsync.js";
import { prefill, scanRates, type ScanParams } from "./peer-load.js";
import { withDsStore, type DsStoreKind } from "./stores.js";

export interface DsScanParams extends ScanParams {
  store: DsStoreKind;
  /** Records one by one (`stream.read()`, the default) or in batches (`stream.readBatches()`). */
  read?: "records" | "batches";
  /** Reopen read-only (default false: as the writer). */
  readOnly?: boolean;
}

export async function dsScan(params: DsScanParams): Promise<Metrics> {
  return withDsStore(params.store, async (store, reopen) => {
    const writer = await openLog({ store });
    let prefillRecordsPerSec: number;
    try {
      const stream = await writer.openStream("bench", { createIfMissing: true });
      prefillRecordsPerSec = await prefill((bodies) => stream.append(bodies.map((body) => ({ body }))), params);
    } finally {
      await writer.close();
    }
    const openStartMs = performance.now();
    const reader = await openLog({ store: reopen(), readOnly: params.readOnly === true });
    try {
      const reopenMs = performance.now() - openStartMs;
      const stream = await reader.openStream("bench");
      const before = reader.metrics().engine.storeRequests;
      const startMs = performance.now();
      let count = 0;
      let bytes = 0;
      let firstRecordMs = Number.NaN;
      if (params.read === "batches") {
        for await (const batch of stream.readBatches({ from: { seqNum: 0 } })) {
          if (count === 0) firstRecordMs = performance.now() - startMs;
          for (const record of batch.records) bytes += record.body.length;
          count += batch.records.length;
        }
      } else {
        for await (const record of stream.read({ from: { seqNum: 0 } })) {
          if (count === 0) firstRecordMs = performance.now() - startMs;
          count++;
          bytes += record.body.length;
        }
      }
      const elapsedMs = performance.now() - startMs;
      const after = reader.metrics().engine.storeRequests;
      return { prefillRecordsPerSec, reopenMs, firstRecordMs, scanGets: after.get - before.get, ...scanRates(count, bytes, elapsedMs, params) };
    } finally {
      await reader.close();
    }
  });
}

const FRAME_HEADER_BYTES = 8;
const READ_CHUNK_BYTES = 4 * 1024 * 1024;
// zlib.crc32 exists from Node 20.15; without it frames are still parsed, just not checked.
const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export async function rawFileScan(params: ScanParams): Promise<Metrics> {
  return withTempDir(async (dir) => {
    const file = path.join(dir, "log");
    const fd = openSync(file, "a");
    let prefillRecordsPerSec: number;
    try {
      prefillRecordsPerSec = await prefill((bodies) => Promise.resolve(writeSync(fd, encodeFrames(bodies))), params);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const openStartMs = performance.now();
    const readFd = openSync(file, "r");
    const reopenMs = performance.now() - openStartMs;
    try {
      const startMs = performance.now();
      let firstRecordMs = Number.NaN;
      const { count, bytes } = scanFrames(readFd, () => {
        if (Number.isNaN(firstRecordMs)) firstRecordMs = performance.now() - startMs;
      });
      return { prefillRecordsPerSec, reopenMs, firstRecordMs, ...scanRates(count, bytes, performance.now() - startMs, params) };
    } finally {
      closeSync(readFd);
    }
  });
}

function encodeFrames(bodies: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const body of bodies) total += FRAME_HEADER_BYTES + body.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const body of bodies) {
    out.writeUInt32LE(body.length, at);
    out.writeUInt32LE(crc32?.(body) ?? 0, at + 4);
    out.set(body, at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + body.length;
  }
  return out;
}

/** Reads the file in chunks, carrying a partial frame over to the next chunk. */
function scanFrames(fd: number, visit: (body: Uint8Array) => void): { count: number; bytes: number } {
  let buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let filled = 0;
  let count = 0;
  let bytes = 0;
  for (;;) {
    const read = readSync(fd, buffer, filled, buffer.length - filled, null);
    if (read === 0) break;
    filled += read;
    let at = 0;
    while (at + FRAME_HEADER_BYTES <= filled) {
      const length = buffer.readUInt32LE(at);
      if (at + FRAME_HEADER_BYTES + length > filled) break;
      const body = buffer.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
      if (crc32 !== undefined && crc32(body) !== buffer.readUInt32LE(at + 4)) throw new Error(`crc mismatch in the frame at chunk offset ${at}`);
      visit(body);
      count++;
      bytes += length;
      at += FRAME_HEADER_BYTES + length;
    }
    buffer.copy(buffer, 0, at, filled);
    filled -= at;
    if (filled === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(buffer.length)]);
  }
  if (filled !== 0) throw new Error(`${filled} bytes of a truncated frame at the end of the file`);
  return { count, bytes };
}
