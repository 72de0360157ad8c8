/**
 * The loop both kinds of read session share (SSE and s2s): start the response once the read
 * is known to be valid (so that a bad start is still a plain 416 or 404), then send batches as
 * they come, a heartbeat whenever nothing came for the heartbeat interval, and finally the
 * end or the error. Ends the ReadBatchSession however it ends.
 *
 * The first batch is awaited before the response starts: a start past the tail, a trimmed
 * stream or a missing one fail there, and are answered with their status.
 */
import type { ReadBatchSession, ReadRecord, StreamPosition } from "../index.js";
import { ApiError } from "./api-error.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import { BatchReader } from "./read-batches.js";

/** Most records per session batch (S2's read batch cap). */
export const READ_SESSION_BATCH_RECORDS = 1000;
/** Most metered bytes per session batch (S2's read batch cap). */
export const READ_SESSION_BATCH_BYTES = 1024 * 1024;

/** How a session sends each part. */
export interface SessionSink {
  start(): void;
  batch(records: ReadRecord[], tail: StreamPosition | undefined): Promise<void>;
  heartbeat(tail: StreamPosition | undefined): Promise<void>;
  done(): void;
  fail(error: unknown): void;
}

const HEARTBEAT = Symbol("heartbeat");
const CAUGHT_UP = Symbol("caught up");

export async function runReadSession(ctx: ServerContext, ex: Exchange, session: ReadBatchSession, sink: SessionSink, caps: { maxRecords: number; maxBytes: number }): Promise<void> {
  const reader = new BatchReader(session);
  let tail: StreamPosition | undefined;
  const caughtUp: Promise<typeof CAUGHT_UP> = session.caughtUp().then(
    (t) => {
      tail = t;
      return CAUGHT_UP;
    },
    () => new Promise<never>(() => undefined),
  );
  let announced = false;
  let started = false;
  ctx.counters.activeSessions++;
  try {
    let pending = reader.next(caps.maxRecords, caps.maxBytes);
    // Whether the read is valid shows at its first step: wait for it (or for the tail, or one
    // heartbeat interval at most) before answering 200, so that a bad start gets its status.
    const next = (): Promise<ReadRecord[] | undefined | typeof HEARTBEAT | typeof CAUGHT_UP> =>
      raceHeartbeat<ReadRecord[] | undefined | typeof CAUGHT_UP>(announced ? [pending] : [pending, caughtUp], ctx.limits.heartbeatMs);
    let step = await next();
    sink.start();
    started = true;
    for (;;) {
      if (step === CAUGHT_UP || step === HEARTBEAT) {
        // Reached the tail, or nothing came for a while: a heartbeat with the tail.
        if (step === CAUGHT_UP) announced = true;
        await sink.heartbeat(tail);
        step = await next();
        continue;
      }
      if (step === undefined) break;
      const last = step.at(-1)!;
      if (tail !== undefined && last.seqNum + 1 > tail.seqNum) tail = { seqNum: last.seqNum + 1, timestamp: last.timestamp };
      ctx.counters.readSessionBatches++;
      await sink.batch(step, tail !== undefined && tail.seqNum === last.seqNum + 1 ? tail : undefined);
      pending = reader.next(caps.maxRecords, caps.maxBytes);
      step = await next();
    }
    if (ex.stopped) sink.fail(new ApiError(503, "server_draining", "the server is shutting down; resume the read from the last record received"));
    else sink.done();
  } catch (error) {
    if (!started) throw error;
    if (error instanceof ApiError && error.code === "request_timeout") ctx.counters.sessionsEndedSlowClient++;
    if (!ex.signal.aborted) sink.fail(error);
  } finally {
    ctx.counters.activeSessions--;
    await reader.close().catch(() => undefined);
  }
}

async function raceHeartbeat<T>(pending: Promise<T>[], heartbeatMs: number): Promise<T | typeof HEARTBEAT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([...pending, new Promise<typeof HEARTBEAT>((resolve) => (timer = setTimeout(() => resolve(HEARTBEAT), heartbeatMs)))]);
  } finally {
    clearTimeout(timer);
  }
}
