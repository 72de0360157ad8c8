/**
 * The read query of `GET /streams/{stream}/records`: where to start (`seq_num`, `timestamp` or
 * `tail_offset`, default the tail), `clamp`, the limits `count` and `bytes`, `until`, and `wait`
 * (seconds). Unary reads are capped at 1000 records / 1 MiB and a wait of 60 s; sessions have no
 * cap, and their `wait` defaults to 0 when any bound is set, else to waiting forever.
 */
import type { ReadFrom, ReadOptions } from "../index.js";
import { ApiError } from "./api-error.js";
import { MAX_UNARY_READ_BYTES, MAX_UNARY_READ_RECORDS, MAX_UNARY_READ_WAIT_SECONDS } from "./limits.js";

/** A parsed read query. */
export interface ReadQuery {
  from: ReadFrom;
  clamp: boolean;
  count: number | undefined;
  bytes: number | undefined;
  until: number | undefined;
  waitSeconds: number | undefined;
}

function badQuery(message: string): ApiError {
  return new ApiError(400, "bad_query", message);
}

function u64Param(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) throw badQuery(`${name} must be a whole number >= 0, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw badQuery(`${name} ${raw} is past 2^53 - 1`);
  return value;
}

function boolParam(query: URLSearchParams, name: string): boolean {
  const raw = query.get(name);
  if (raw === null) return false;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw badQuery(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** Parses the read query. */
export function parseReadQuery(query: URLSearchParams): ReadQuery {
  const seqNum = u64Param(query, "seq_num");
  const timestamp = u64Param(query, "timestamp");
  const tailOffset = u64Param(query, "tail_offset");
  const starts = [seqNum, timestamp, tailOffset].filter((v) => v !== undefined).length;
  if (starts > 1) throw badQuery("give at most one of seq_num, timestamp and tail_offset");
  const from: ReadFrom = seqNum !== undefined ? { seqNum } : timestamp !== undefined ? { timestamp } : { tailOffset: tailOffset ?? 0 };
  const until = u64Param(query, "until");
  return { from, clamp: boolParam(query, "clamp"), count: u64Param(query, "count"), bytes: u64Param(query, "bytes"), until, waitSeconds: u64Param(query, "wait") };
}

/** ReadOptions of a unary read's first pass: up to the tail, within the unary caps. */
export function unaryReadOptions(q: ReadQuery, signal: AbortSignal): ReadOptions {
  return {
    from: q.from,
    clamp: q.clamp,
    limit: { count: Math.min(q.count ?? MAX_UNARY_READ_RECORDS, MAX_UNARY_READ_RECORDS), bytes: Math.min(q.bytes ?? MAX_UNARY_READ_BYTES, MAX_UNARY_READ_BYTES) },
    ...(q.until === undefined ? {} : { until: q.until }),
    signal,
  };
}

/** A unary read's long-poll, in ms (0: none). */
export function unaryWaitMs(q: ReadQuery): number {
  return Math.min(q.waitSeconds ?? 0, MAX_UNARY_READ_WAIT_SECONDS) * 1000;
}

/** ReadOptions of a read session (SSE or s2s), after `already` records/bytes were delivered (Last-Event-ID). */
export function sessionReadOptions(q: ReadQuery, signal: AbortSignal): ReadOptions {
  const bounded = q.count !== undefined || q.bytes !== undefined || q.until !== undefined;
  const waitSeconds = q.waitSeconds ?? (bounded ? 0 : undefined);
  const limit = { ...(q.count === undefined || q.count === 0 ? {} : { count: q.count }), ...(q.bytes === undefined || q.bytes === 0 ? {} : { bytes: q.bytes }) };
  return {
    from: q.from,
    clamp: q.clamp,
    limit,
    ...(q.until === undefined ? {} : { until: q.until }),
    follow: waitSeconds !== 0,
    ...(waitSeconds === undefined || waitSeconds === 0 ? {} : { waitMs: Math.min(waitSeconds * 1000, 2 ** 31 - 1) }),
    signal,
  };
}
