/**
 * s2s sessions (framing in s2s-framing.ts): `POST .../records` with `Content-Type: s2s/proto`
 * is an append session, `GET .../records` a read session. Served over HTTP/2 (the SDK opens
 * them with h2c prior knowledge) or HTTP/1.1.
 *
 * Append session: each AppendInput frame is submitted to one durastream AppendSession, in order;
 * each AppendAck frame is written once that append is durable, in submit order. The first
 * failure ends the session with a terminal frame carrying its status and error JSON (412 with
 * the expected seq_num or token, ...); appends after it are never written. When the client
 * half-closes, the session acks what it submitted and ends. Back-pressure: at most
 * MAX_SESSION_PENDING_APPENDS appends await acks (and the Log's in-flight byte cap holds), past
 * that the server stops reading frames, so the client's HTTP/2 flow control holds it.
 *
 * Read session: ReadBatch frames; an empty ReadBatch (with the tail) is the heartbeat; an
 * error is a terminal frame; the normal end is the end of the response.
 */
import type { AppendAck, AppendSession, Stream, StreamPosition } from "../index.js";
import { toApiError, ApiError } from "./api-error.js";
import type { ServerContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import { MAX_SESSION_PENDING_APPENDS } from "./limits.js";
import { decodeAppendInput, encodeAppendAck, encodeReadBatch } from "./protobuf.js";
import { READ_SESSION_BATCH_BYTES, READ_SESSION_BATCH_RECORDS, runReadSession } from "./read-session-loop.js";
import { sessionReadOptions, type ReadQuery } from "./read-query.js";
import { encodeFrame, encodeTerminalFrame, FrameDecoder } from "./s2s-framing.js";

export const S2S_CONTENT_TYPE = "s2s/proto";

const S2S_HEADERS = { "content-type": S2S_CONTENT_TYPE };

/** Serves an s2s append session until the client half-closes, a failure, or the client goes away. */
export async function s2sAppendSession(ctx: ServerContext, ex: Exchange, stream: Stream): Promise<void> {
  const session = stream.appendSession();
  const acks: Promise<AppendAck>[] = [];
  const state: SessionState = { failure: undefined, inputEnded: false, submitting: false, wake: undefined };
  const wake = (): void => {
    const resolve = state.wake;
    state.wake = undefined;
    resolve?.();
  };
  ex.startStream(200, S2S_HEADERS);
  ctx.counters.activeSessions++;
  // A shutdown ends the session once everything submitted is acked (S2's server_draining: the
  // client may resubmit whatever was not acked, so nothing may be submitted after that point).
  const onStop = (): void => {
    if (ex.stopped) state.failure ??= new ApiError(503, "server_draining", "the server is shutting down; every append acknowledged before this is durable");
    wake();
  };
  ex.sessionSignal.addEventListener("abort", onStop, { once: true });
  const reading = readAppendFrames(ctx, ex, session, acks, state, wake).then(
    () => void (state.inputEnded = true),
    (error: unknown) => void (state.failure ??= error),
  );
  void reading.finally(wake);
  try {
    // Acks go out in submit order, each once its append is durable; the loop ends when the
    // input ended (or failed) and every submitted append was answered.
    for (;;) {
      const next = acks.shift();
      if (next === undefined) {
        if ((state.inputEnded || state.failure !== undefined) && !state.submitting) break;
        await new Promise<void>((resolve) => (state.wake = resolve));
        continue;
      }
      const ack = await next;
      ctx.counters.appendSessionBatches++;
      await ex.write(encodeFrame(encodeAppendAck(ack)), ctx.limits.drainTimeoutMs);
    }
  } catch (error) {
    state.failure ??= error;
  } finally {
    ctx.counters.activeSessions--;
  }
  if (state.failure !== undefined && !ex.signal.aborted) {
    const apiError = toApiError(state.failure);
    ex.end(encodeTerminalFrame(apiError.status, apiError.json()));
  } else ex.end();
  void session.close();
}

/** Reads AppendInput frames and submits them, until the client half-closes; throws what ends the session. */
interface SessionState {
  failure: unknown;
  inputEnded: boolean;
  /** An append is between the draining check and its ack being queued. */
  submitting: boolean;
  wake: (() => void) | undefined;
}

async function readAppendFrames(ctx: ServerContext, ex: Exchange, session: AppendSession, acks: Promise<AppendAck>[], state: SessionState, wake: () => void): Promise<void> {
  const decoder = new FrameDecoder();
  for await (const chunk of ex.request as AsyncIterable<Buffer>) {
    for (const frame of decoder.push(chunk)) {
      if (frame.terminal) throw new ApiError(400, "bad_frame", "a client must not send a terminal frame");
      if (state.failure !== undefined) return;
      if (ctx.draining) throw new ApiError(503, "server_draining", "the server is shutting down; every append acknowledged before this is durable");
      const input = decodeAppendInput(frame.body);
      state.submitting = true;
      try {
        const ticket = await ctx.track(
          session.submit(input.records, {
            ...(input.matchSeqNum === undefined ? {} : { matchSeqNum: input.matchSeqNum }),
            ...(input.fencingToken === undefined ? {} : { fencingToken: input.fencingToken }),
          }),
        );
        const ack = ctx.track(ticket.ack());
        ack.catch(() => undefined);
        acks.push(ack);
      } finally {
        state.submitting = false;
        wake();
      }
      // Stop reading while too many appends await their acks: flow control then holds the client.
      if (acks.length >= MAX_SESSION_PENDING_APPENDS) await acks[0]!.catch(() => undefined);
    }
  }
  if (decoder.pendingBytes > 0) throw new ApiError(400, "bad_frame", "the request ended inside a frame");
}

/** Serves an s2s read session. */
export async function s2sReadSession(ctx: ServerContext, ex: Exchange, stream: Stream, query: ReadQuery): Promise<void> {
  const session = stream.readBatches(sessionReadOptions(query, ex.sessionSignal));
  const drainMs = ctx.limits.drainTimeoutMs;
  await runReadSession(ctx, ex, session, {
    start: () => ex.startStream(200, S2S_HEADERS),
    batch: (records, tail) => ex.write(encodeFrame(encodeReadBatch({ records, tail })), drainMs),
    heartbeat: (tail: StreamPosition | undefined) => ex.write(encodeFrame(encodeReadBatch({ records: [], tail })), drainMs),
    done: () => ex.end(),
    fail: (error: unknown) => {
      const apiError = toApiError(error);
      ex.end(encodeTerminalFrame(apiError.status, apiError.json()));
    },
  }, { maxRecords: READ_SESSION_BATCH_RECORDS, maxBytes: READ_SESSION_BATCH_BYTES });
}
