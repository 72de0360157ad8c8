/**
 * SSE read sessions (`Accept: text/event-stream`), as S2 sends them:
 *
 *   event: batch            one per ReadBatch; `id` is "last seq_num,records so far,bytes so far",
 *   id: 41,42,1234          which a reconnecting client sends back as Last-Event-ID to resume
 *   data: {"records": [...], "tail": {...}}
 *
 *   event: ping             while waiting at the tail, every heartbeat interval
 *   data: {"timestamp": ms, "tail": {...}}
 *
 *   event: error            the error JSON, when the session fails (then the response ends)
 *   data: {"code": ..., "message": ...}
 *
 *   data: [DONE]            the session ended normally (limit, until, wait)
 *
 * Back-pressure: each event is written only after the previous one drained (exchange.ts); a
 * client that does not read for the drain timeout ends the session.
 */
import type { ReadRecord, Stream, StreamPosition } from "../index.js";
import { meteredBytes } from "../index.js";
import { toApiError } from "./api-error.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import { positionJson, readBatchJson, recordFormat } from "./json-records.js";
import { READ_SESSION_BATCH_BYTES, READ_SESSION_BATCH_RECORDS, runReadSession } from "./read-session-loop.js";
import { sessionReadOptions, type ReadQuery } from "./read-query.js";

/** Applies a Last-Event-ID: resume after its seq_num, with the limits reduced by what was delivered. */
function resume(query: ReadQuery, lastEventId: string | undefined): { query: ReadQuery; count: number; bytes: number } {
  if (lastEventId === undefined) return { query, count: 0, bytes: 0 };
  const match = /^(\d+),(\d+),(\d+)$/.exec(lastEventId.trim());
  if (match === null) return { query, count: 0, bytes: 0 };
  const [seq, count, bytes] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return {
    query: {
      ...query,
      from: { seqNum: seq + 1 },
      count: query.count === undefined ? undefined : Math.max(query.count - count, 0),
      bytes: query.bytes === undefined ? undefined : Math.max(query.bytes - bytes, 0),
    },
    count,
    bytes,
  };
}

/** Serves an SSE read session until it ends, fails or the client goes away. */
export async function sseReadSession(ctx: ServerContext, ex: Exchange, stream: Stream, original: ReadQuery): Promise<void> {
  const format = recordFormat(ex.header("s2-format"));
  const resumed = resume(original, ex.header("last-event-id"));
  const session = stream.readBatches(sessionReadOptions(resumed.query, ex.sessionSignal));
  let deliveredCount = resumed.count;
  let deliveredBytes = resumed.bytes;
  const drainMs = ctx.limits.drainTimeoutMs;
  await runReadSession(ctx, ex, session, {
    start: () => ex.startStream(200, { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }),
    batch: async (records: ReadRecord[], tail: StreamPosition | undefined) => {
      deliveredCount += records.length;
      for (const r of records) deliveredBytes += meteredBytes(r);
      const id = `${records.at(-1)!.seqNum},${deliveredCount},${deliveredBytes}`;
      await ex.write(`event: batch\nid: ${id}\ndata: ${JSON.stringify(readBatchJson(records, tail, format))}\n\n`, drainMs);
    },
    heartbeat: (tail: StreamPosition | undefined) =>
      ex.write(`event: ping\ndata: ${JSON.stringify({ timestamp: ctx.nowMs(), ...(tail === undefined ? {} : { tail: positionJson(tail) }) })}\n\n`, drainMs),
    done: () => ex.end("data: [DONE]\n\n"),
    fail: (error: unknown) => ex.end(`event: error\ndata: ${JSON.stringify(toApiError(error).json())}\n\n`),
  }, { maxRecords: READ_SESSION_BATCH_RECORDS, maxBytes: READ_SESSION_BATCH_BYTES });
}
