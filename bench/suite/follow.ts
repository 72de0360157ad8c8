/**
 * Follow latency in one process: an appender sends one-record appends at a steady rate (open
 * loop: it does not wait for acks, as a producer with its own clock would not), while a
 * following read session of the same stream, in the same Log, receives them. For every record
 * the bench notes when `append()` was called, when its ack arrived and when the follower got it:
 * "append to delivery" is the whole path, "ack to delivery" what following adds after the ack.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { openLog, type Stream } from "../../src/index.js";
import type { Metrics } from "../lib/runner.js";
import { LatencyRecorder } from "../lib/stats.js";
import { RecordMaker } from "./ds-write.js";
import { withDsStore, type DsStoreKind } from "./stores.js";

export interface FollowParams {
  store: DsStoreKind;
  flushIntervalMs: number;
  appendsPerSec: number;
  durationMs: number;
  valueBytes: number;
}

/** How long the follower may take to deliver the last record after its ack, before the run fails. */
const DRAIN_TIMEOUT_MS = 10_000;

export async function sameProcessFollow(params: FollowParams): Promise<Metrics> {
  return withDsStore(params.store, async (store) => {
    const log = await openLog({ store, flushIntervalMs: params.flushIntervalMs });
    try {
      const stream = await log.openStream("follow", { createIfMissing: true });
      await stream.append([{ body: "warm-up" }]);
      return await measureFollow(stream, params);
    } finally {
      await log.close();
    }
  });
}

async function measureFollow(stream: Stream, params: FollowParams): Promise<Metrics> {
  const count = Math.max(1, Math.round((params.appendsPerSec * params.durationMs) / 1000));
  const deliveredMs = new Map<number, number>();
  const abort = new AbortController();
  const session = stream.read({ from: { seqNum: 1 }, follow: true, signal: abort.signal });
  const follower = (async () => {
    for await (const record of session) {
      deliveredMs.set(record.seqNum, performance.now());
      if (deliveredMs.size === count) return;
    }
  })();
  await session.caughtUp();
  const sent = await sendPaced(stream, params, count);
  const timer = setTimeout(() => abort.abort(), DRAIN_TIMEOUT_MS);
  await follower;
  clearTimeout(timer);
  if (deliveredMs.size !== count) throw new Error(`the follower got ${deliveredMs.size} of ${count} records`);
  const whole = new LatencyRecorder();
  const afterAck = new LatencyRecorder();
  const ack = new LatencyRecorder();
  for (const { seqNum, sendMs, ackMs } of sent) {
    const delivered = deliveredMs.get(seqNum)!;
    whole.add(delivered - sendMs);
    afterAck.add(delivered - ackMs);
    ack.add(ackMs - sendMs);
  }
  const w = whole.summary();
  const a = afterAck.summary();
  const k = ack.summary();
  return { records: count, deliverP50Ms: w.p50Ms, deliverP99Ms: w.p99Ms, afterAckP50Ms: a.p50Ms, afterAckP99Ms: a.p99Ms, ackP50Ms: k.p50Ms, ackP99Ms: k.p99Ms };
}

interface Sent {
  seqNum: number;
  sendMs: number;
  ackMs: number;
}

/** Sends `count` appends, one every 1000 / appendsPerSec ms, and resolves with all their acks. */
async function sendPaced(stream: Stream, params: FollowParams, count: number): Promise<Sent[]> {
  const records = new RecordMaker(params.valueBytes, 1);
  const intervalMs = 1000 / params.appendsPerSec;
  const startMs = performance.now();
  const acks: Promise<Sent>[] = [];
  for (let i = 0; i < count; i++) {
    const waitMs = startMs + i * intervalMs - performance.now();
    if (waitMs > 0) await sleep(waitMs);
    const sendMs = performance.now();
    acks.push(stream.append(records.next()).then((ack) => ({ seqNum: ack.start.seqNum, sendMs, ackMs: performance.now() })));
  }
  return Promise.all(acks);
}
