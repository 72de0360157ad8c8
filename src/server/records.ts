/**
 * Record routes: `POST /streams/{stream}/records` (append), `GET .../records` (read),
 * `GET .../records/tail` (check tail).
 *
 * A request is a unary call, an SSE read session (`Accept: text/event-stream`, sse.ts) or an
 * s2s session (`Content-Type: s2s/proto`, s2s-sessions.ts). Unary bodies are JSON (with
 * `s2-format`) or protobuf (`application/protobuf`, chosen by Content-Type for the request and
 * by Accept for the answer).
 *
 * A unary read that finds nothing between its start and the tail is answered 416 with the tail
 * unless it has a `wait` (then it long-polls), as on S2: a client polling the tail learns it is
 * there without an empty 200.
 *
 * An append is answered 200 only after `stream.append()` resolved, that is once its records
 * are durable. It is not cancelled when the client goes away: once submitted its outcome would
 * be unknown either way, so it completes and only the answer is lost.
 */
import { meteredBytes, type ReadRecord, type Stream, type StreamPosition } from "../index.js";
import { ApiError } from "./api-error.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import { appendAckJson, parseAppendJson, readBatchJson, recordFormat } from "./json-records.js";
import { decodeAppendInput, encodeAppendAck, encodeReadBatch, type DecodedAppendInput } from "./protobuf.js";
import { BatchReader } from "./read-batches.js";
import { parseReadQuery, unaryReadOptions, unaryWaitMs, type ReadQuery } from "./read-query.js";
import { MAX_UNARY_READ_BYTES, MAX_UNARY_READ_RECORDS } from "./limits.js";
import { s2sAppendSession, s2sReadSession, S2S_CONTENT_TYPE } from "./s2s-sessions.js";
import { sseReadSession } from "./sse.js";

export const PROTOBUF = "application/protobuf";

function mediaType(value: string | undefined): string {
  return (value ?? "").split(";")[0]!.trim().toLowerCase();
}

function wantsProtobuf(ex: Exchange): boolean {
  return (ex.header("accept") ?? "").toLowerCase().includes(PROTOBUF);
}

/** The append's input from a JSON or protobuf body. */
async function appendInput(ctx: ServerContext, ex: Exchange): Promise<DecodedAppendInput> {
  const contentType = mediaType(ex.header("content-type"));
  const body = await ex.body(ctx.limits.maxBodyBytes);
  if (contentType === PROTOBUF) return decodeAppendInput(body);
  if (contentType !== "" && contentType !== "application/json") {
    throw new ApiError(415, "bad_header", `Content-Type must be application/json, ${PROTOBUF} or ${S2S_CONTENT_TYPE}`);
  }
  return parseAppendJson(body, recordFormat(ex.header("s2-format")));
}

/** Appends one input to a stream; resolves once durable. */
export function appendTo(ctx: ServerContext, stream: Stream, input: DecodedAppendInput) {
  if (ctx.draining) throw new ApiError(503, "server_draining", "the server is shutting down; nothing was written");
  return ctx.track(
    stream.append(input.records, {
      ...(input.matchSeqNum === undefined ? {} : { matchSeqNum: input.matchSeqNum }),
      ...(input.fencingToken === undefined ? {} : { fencingToken: input.fencingToken }),
    }),
  );
}

/** POST /streams/{stream}/records */
export async function append(ctx: ServerContext, ex: Exchange, streamName: string): Promise<void> {
  const basin = await ctx.basinOf(ex);
  if (mediaType(ex.header("content-type")) === S2S_CONTENT_TYPE) {
    await s2sAppendSession(ctx, ex, await ctx.streamFor(ex, basin, streamName, "append"));
    return;
  }
  const input = await appendInput(ctx, ex);
  const stream = await ctx.streamFor(ex, basin, streamName, "append");
  const ack = await appendTo(ctx, stream, input);
  if (wantsProtobuf(ex)) ex.send(200, PROTOBUF, encodeAppendAck(ack));
  else ex.json(200, appendAckJson(ack));
}

/** GET /streams/{stream}/records/tail */
export async function checkTail(ctx: ServerContext, ex: Exchange, streamName: string): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const tail = await (await ctx.streamFor(ex, basin, streamName, "tail")).checkTail();
  ex.json(200, { tail: { seq_num: tail.seqNum, timestamp: tail.timestamp } });
}

/** GET /streams/{stream}/records */
export async function read(ctx: ServerContext, ex: Exchange, streamName: string): Promise<void> {
  const basin = await ctx.basinOf(ex);
  const query = parseReadQuery(ex.query);
  const stream = await ctx.streamFor(ex, basin, streamName, "read");
  if (mediaType(ex.header("content-type")) === S2S_CONTENT_TYPE) return s2sReadSession(ctx, ex, stream, query);
  if ((ex.header("accept") ?? "").includes("text/event-stream")) return sseReadSession(ctx, ex, stream, query);
  const format = recordFormat(ex.header("s2-format"));
  const { records, tail } = await unaryRead(stream, query, ex.signal);
  if (wantsProtobuf(ex)) ex.send(200, PROTOBUF, encodeReadBatch({ records, tail }));
  else ex.json(200, readBatchJson(records, tail, format));
}

/**
 * A unary read: what is durable from the start, within the caps; when that is nothing and the
 * query has a `wait`, the first records to arrive within it (a long-poll).
 */
async function unaryRead(stream: Stream, query: ReadQuery, signal: AbortSignal): Promise<{ records: ReadRecord[]; tail: StreamPosition | undefined }> {
  const options = unaryReadOptions(query, signal);
  const session = stream.readBatches(options);
  let tail: StreamPosition | undefined;
  void session.caughtUp().then((t) => (tail = t), () => undefined);
  const reader = new BatchReader(session);
  const records: ReadRecord[] = [];
  try {
    let bytes = 0;
    for (;;) {
      const batch = await reader.next(MAX_UNARY_READ_RECORDS - records.length, MAX_UNARY_READ_BYTES - bytes);
      if (batch === undefined) break;
      for (const record of batch) records.push(record);
      for (const record of batch) bytes += meteredBytes(record);
    }
  } finally {
    await reader.close();
  }
  await Promise.resolve();
  const waitMs = unaryWaitMs(query);
  if (records.length > 0 || tail === undefined || options.limit?.count === 0 || options.limit?.bytes === 0) return { records, tail };
  // Nothing between the start and the tail: without a wait that is S2's 416 with the tail
  // (as a start past the tail is); with one, a long-poll.
  if (waitMs === 0) {
    throw new ApiError(416, "unwritten", "nothing to read before the tail; pass wait to long-poll", {
      body: { tail: { seq_num: tail.seqNum, timestamp: tail.timestamp } },
    });
  }
  return longPoll(stream, query, tail, waitMs, signal);
}

async function longPoll(stream: Stream, query: ReadQuery, tail: StreamPosition, waitMs: number, signal: AbortSignal) {
  const options = unaryReadOptions(query, signal);
  // From the tail the first pass reached; a timestamp start keeps its timestamp, so that records
  // arriving with earlier timestamps are still skipped.
  const from = query.from.timestamp !== undefined ? { timestamp: query.from.timestamp } : { seqNum: tail.seqNum };
  const session = stream.readBatches({ ...options, from, clamp: true, follow: true, waitMs });
  const reader = new BatchReader(session);
  try {
    const records = (await reader.next(MAX_UNARY_READ_RECORDS, MAX_UNARY_READ_BYTES)) ?? [];
    return { records, tail: records.length === 0 ? await stream.checkTail() : undefined };
  } finally {
    await reader.close();
  }
}
