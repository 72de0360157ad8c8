/**
 * Type test of the public surface (src/index.ts). It is compiled by `npx tsc -p tsconfig.json
 * --noEmit` (tsconfig includes tests/) and never run: the run-tests script only picks up
 * `*.test.ts`. An accidental `any`, a widened error code or a loosened parameter type makes a
 * line below fail to compile: an `Expect<...>` turns false, or a `@ts-expect-error` finds no error.
 */
import {
  AbortedError,
  ClosedError,
  CorruptionError,
  DurastreamError,
  FencedError,
  FencingTokenMismatchError,
  InternalError,
  Log,
  ReadSession,
  SeqNumMismatchError,
  StorageError,
  Stream,
  StreamExistsError,
  StreamNotFoundError,
  UnwrittenError,
  ValidationError,
  AppendSession,
  MemoryStore,
  ManualClock,
  fenceRecord,
  trimRecord,
  meteredBytes,
  recordText,
  headerText,
  hasCode,
  isDurastreamError,
  openLog,
  openStream,
  MAX_APPEND_RECORDS,
  type AppendAck,
  type AppendOptions,
  type AppendRecord,
  type AppendHeaderObject,
  type AppendTicket,
  type CloseReason,
  type ErrorCode,
  type LogHealth,
  type LogMetrics,
  type LogOptions,
  type ReadFrom,
  type ReadOptions,
  type ReadRecord,
  type RetentionPolicy,
  type StreamConfig,
  type StreamConfigPatch,
  type StreamInfo,
  type StreamPosition,
  type TimestampingMode,
  type WriteOutcome,
} from "../../src/index.js";

// --- helpers ----------------------------------------------------------------------------------

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type IsAny<T> = 0 extends 1 & T ? true : false;
type IsUnknown<T> = IsAny<T> extends true ? false : unknown extends T ? true : false;
type Expect<T extends true> = T;
type Not<T extends boolean> = T extends true ? false : true;
/** True when neither T nor any parameter or result of a function T is `any` or `unknown`. */
type Tight<T> = IsAny<T> extends true ? false : IsUnknown<T> extends true ? false : true;

declare const log: Log;
declare const stream: Stream;
declare const session: AppendSession;
declare const read: ReadSession;
declare const error: unknown;

// --- error codes are exact literals -----------------------------------------------------------

export type ErrorCodeChecks = [
  Expect<
    Equals<
      ErrorCode,
      | "validation"
      | "seq_num_mismatch"
      | "fencing_token_mismatch"
      | "unwritten"
      | "stream_not_found"
      | "stream_exists"
      | "fenced"
      | "writer_active"
      | "storage"
      | "corruption"
      | "closed"
      | "aborted"
      | "read_only"
      | "not_found"
      | "precondition_failed"
      | "invalid_key"
      | "invalid_range"
      | "unsupported"
      | "internal"
    >
  >,
  Expect<Equals<DurastreamError["code"], ErrorCode>>,
  Expect<Equals<ValidationError["code"], "validation">>,
  Expect<Equals<SeqNumMismatchError["code"], "seq_num_mismatch">>,
  Expect<Equals<FencingTokenMismatchError["code"], "fencing_token_mismatch">>,
  Expect<Equals<UnwrittenError["code"], "unwritten">>,
  Expect<Equals<StreamNotFoundError["code"], "stream_not_found">>,
  Expect<Equals<StreamExistsError["code"], "stream_exists">>,
  Expect<Equals<FencedError["code"], "fenced">>,
  Expect<Equals<StorageError["code"], "storage">>,
  Expect<Equals<CorruptionError["code"], "corruption">>,
  Expect<Equals<ClosedError["code"], "closed">>,
  Expect<Equals<AbortedError["code"], "aborted">>,
  Expect<Equals<InternalError["code"], "internal">>,
  Expect<Equals<DurastreamError["outcome"], WriteOutcome | undefined>>,
  Expect<Equals<WriteOutcome, "unknown" | "not_applied">>,
  Expect<Equals<DurastreamError["retryable"], boolean>>,
  Expect<Equals<CloseReason, "closed" | "fenced" | "failed">>,
  Expect<Equals<ClosedError["reason"], CloseReason>>,
  // Errors carry what the caller needs next, typed.
  Expect<Equals<SeqNumMismatchError["expectedSeqNum"], number>>,
  Expect<Equals<FencingTokenMismatchError["expectedFencingToken"], string>>,
  Expect<Equals<UnwrittenError["tail"], StreamPosition>>,
  Expect<Equals<StreamNotFoundError["stream"], string>>,
  Expect<Equals<StreamExistsError["stream"], string>>,
];

// @ts-expect-error: a mismatch error's code is not "validation"
export const wrongCode: SeqNumMismatchError["code"] = "validation";
// @ts-expect-error: not an error code
export const unknownCode: ErrorCode = "conflict";
// @ts-expect-error: outcome is one of two literals
export const wrongOutcome: WriteOutcome = "maybe";

if (hasCode(error, "seq_num_mismatch")) {
  const code: "seq_num_mismatch" = error.code;
  const outcome: WriteOutcome | undefined = error.outcome;
  void code, outcome;
  // @ts-expect-error: the narrowed code is only "seq_num_mismatch"
  const other: "validation" = error.code;
  void other;
}
if (isDurastreamError(error)) {
  const code: ErrorCode = error.code;
  void code;
}
// @ts-expect-error: hasCode accepts only real codes
hasCode(error, "seq-num-mismatch");

// --- Log ----------------------------------------------------------------------------------------

export type LogChecks = [
  Expect<Equals<ReturnType<typeof openLog>, Promise<Log>>>,
  Expect<Equals<ReturnType<Log["openStream"]>, Promise<Stream>>>,
  Expect<Equals<ReturnType<Log["createStream"]>, Promise<StreamInfo>>>,
  Expect<Equals<ReturnType<Log["reconfigureStream"]>, Promise<StreamInfo>>>,
  Expect<Equals<ReturnType<Log["deleteStream"]>, Promise<void>>>,
  Expect<Equals<ReturnType<Log["listStreams"]>, Promise<StreamInfo[]>>>,
  Expect<Equals<ReturnType<Log["close"]>, Promise<void>>>,
  Expect<Equals<ReturnType<Log["metrics"]>, LogMetrics>>,
  Expect<Equals<ReturnType<Log["health"]>, LogHealth>>,
  Expect<Equals<ReturnType<typeof openStream>, Promise<Stream>>>,
  Expect<Equals<StreamInfo, { name: string; createdAtMs: number; config: StreamConfig }>>,
  Expect<Equals<LogHealth["status"], "ok" | "recovering" | "closed">>,
  Expect<Equals<LogHealth["durableSeq"], number>>,
  Expect<Equals<LogHealth["writerEpoch"], number>>,
  Expect<Equals<LogMetrics["appends"], number>>,
  Expect<Equals<LogMetrics["appendErrors"], number>>,
  Expect<Equals<LogMetrics["inflightBytes"], number>>,
  Expect<Equals<LogMetrics["inflightCapacityBytes"], number>>,
  Expect<Equals<LogMetrics["backpressureWaits"], number>>,
  Expect<Equals<LogMetrics["appendLatency"]["p99Ms"], number>>,
  Expect<Equals<LogMetrics["engine"]["walFlushes"], number>>,
  Expect<Tight<LogMetrics["engine"]["storeRequests"]>>,
  Expect<Tight<Parameters<Log["openStream"]>[1]>>,
  Expect<Tight<Parameters<Log["createStream"]>[1]>>,
  Expect<Tight<Parameters<Log["reconfigureStream"]>[1]>>,
  Expect<Tight<Parameters<Log["listStreams"]>[0]>>,
  Expect<Tight<LogOptions["store"]>>,
  Expect<Tight<LogOptions["clock"]>>,
];

// @ts-expect-error: openLog needs a store
void openLog({});
// @ts-expect-error: the store is an ObjectStore or a URL string
void openLog({ store: 5 });
void openLog({ store: new MemoryStore(), clock: new ManualClock(), flushIntervalMs: 0, inflightBytes: 2 ** 20 });
void openLog({ store: "memory://" });
// @ts-expect-error: flushIntervalMs is a number
void openLog({ store: "memory://", flushIntervalMs: "5" });
// @ts-expect-error: an unknown option is a compile error for object literals
void openLog({ store: "memory://", flushIntervalMS: 5 });
// @ts-expect-error: health status has three values
export const degraded: LogHealth["status"] = "degraded";

void log.createStream("s", { retention: { ageSeconds: 60 }, timestamping: { mode: "arrival" } });
void log.createStream("s", { retention: "infinite", timestamping: { uncapped: true } });
// @ts-expect-error: not a timestamping mode
void log.createStream("s", { timestamping: { mode: "server" } });
// @ts-expect-error: retention is { ageSeconds } or "infinite"
void log.createStream("s", { retention: "forever" });
// @ts-expect-error: ageSeconds is a number
void log.createStream("s", { retention: { ageSeconds: "60" } });
// @ts-expect-error: stream names are strings
void log.createStream(7);
// @ts-expect-error: listStreams' limit is a number
void log.listStreams({ limit: "10" });
// @ts-expect-error: createIfMissing is a boolean
void log.openStream("s", { createIfMissing: "yes" });

export type ConfigChecks = [
  Expect<Equals<TimestampingMode, "client-prefer" | "client-require" | "arrival">>,
  Expect<Equals<RetentionPolicy, { ageSeconds: number } | "infinite">>,
  Expect<Equals<StreamConfig["timestamping"]["uncapped"], boolean>>,
  Expect<Equals<NonNullable<StreamConfigPatch["timestamping"]>["mode"], TimestampingMode | undefined>>,
];

// --- Stream: append ---------------------------------------------------------------------------

export type AppendChecks = [
  Expect<Equals<Parameters<Stream["append"]>, [records: AppendRecord[], options?: AppendOptions]>>,
  Expect<Equals<ReturnType<Stream["append"]>, Promise<AppendAck>>>,
  Expect<Equals<ReturnType<Stream["fence"]>, Promise<AppendAck>>>,
  Expect<Equals<ReturnType<Stream["trim"]>, Promise<AppendAck>>>,
  Expect<Equals<ReturnType<Stream["checkTail"]>, Promise<StreamPosition>>>,
  Expect<Equals<Parameters<Stream["fence"]>[0], string>>,
  Expect<Equals<Parameters<Stream["trim"]>[0], number>>,
  Expect<Equals<StreamPosition, { seqNum: number; timestamp: number }>>,
  Expect<Equals<AppendAck, { start: StreamPosition; end: StreamPosition; tail: StreamPosition }>>,
  Expect<Equals<AppendRecord["body"], Uint8Array | string>>,
  Expect<Equals<AppendRecord["timestamp"], number | undefined>>,
  Expect<Equals<AppendOptions["matchSeqNum"], number | undefined>>,
  Expect<Equals<AppendOptions["fencingToken"], string | undefined>>,
  Expect<Equals<AppendOptions["signal"], AbortSignal | undefined>>,
  Expect<Equals<typeof MAX_APPEND_RECORDS, 1000>>,
  Expect<Equals<ReturnType<typeof fenceRecord>, AppendRecord>>,
  Expect<Equals<ReturnType<typeof trimRecord>, AppendRecord>>,
  Expect<Equals<ReturnType<typeof meteredBytes>, number>>,
];

void stream.append([{ body: "x" }, { body: new Uint8Array(1), headers: [["k", new Uint8Array(1)]], timestamp: 1 }]);
void stream.append([fenceRecord("t")], { matchSeqNum: 0, fencingToken: "", signal: new AbortController().signal });
// @ts-expect-error: a body is bytes or a string
void stream.append([{ body: 1 }]);
// @ts-expect-error: records are an array
void stream.append({ body: "x" });
// @ts-expect-error: a timestamp is a number of ms
void stream.append([{ body: "x", timestamp: "now" }]);
// Headers as inferred from literals (issue 13, header typing): string[][] and readonly tuples are accepted;
// that each inner array is a [name, value] pair is checked when appending.
const inferredHeaders = [["type", "order"]];
void stream.append([{ body: "x", headers: inferredHeaders }]);
const readonlyHeaders = [["type", "order"]] as const;
void stream.append([{ body: "x", headers: readonlyHeaders }]);
// @ts-expect-error: header names and values are strings or bytes
void stream.append([{ body: "x", headers: [["n", 1]] }]);
const tupleList: ReadonlyArray<readonly [string, string]> = [["type", "order"]];
void stream.append([{ body: "x", headers: tupleList }]);
const plainPairs: string[][] = [["type", "order"], ["type", "refund"]]; // a name may repeat in a list
void stream.append([{ body: "x", headers: plainPairs }]);
// An object is a shorthand when no name repeats (AppendHeaderObject): string names, string or byte values.
const objectHeaders: Record<string, string> = { type: "order" };
void stream.append([{ body: "x", headers: objectHeaders }]);
void stream.append([{ body: "x", headers: { type: "order", raw: new Uint8Array(1) } }]);
const headerObject: AppendHeaderObject = { type: "order" };
void headerObject;
// @ts-expect-error: an object's values are strings or bytes
void stream.append([{ body: "x", headers: { n: 1 } }]);
// @ts-expect-error: a Map is neither a list of pairs nor a plain object of strings
void stream.append([{ body: "x", headers: new Map([["type", "order"]]) }]);
// @ts-expect-error: matchSeqNum is a number
void stream.append([{ body: "x" }], { matchSeqNum: "0" });
// @ts-expect-error: a misspelt option is a compile error
void stream.append([{ body: "x" }], { fencingtoken: "t" });
// @ts-expect-error: fence takes a string token
void stream.fence(1);

// --- Stream: read -----------------------------------------------------------------------------

export type ReadChecks = [
  Expect<Equals<ReturnType<Stream["read"]>, ReadSession>>,
  Expect<Equals<Parameters<Stream["read"]>, [options?: ReadOptions]>>,
  Expect<Equals<ReturnType<ReadSession["caughtUp"]>, Promise<StreamPosition>>>,
  Expect<Equals<ReturnType<ReadSession["close"]>, Promise<void>>>,
  Expect<Equals<ReturnType<ReadSession[typeof Symbol.asyncIterator]>, AsyncIterator<ReadRecord>>>,
  Expect<Equals<ReadRecord, { seqNum: number; timestamp: number; headers: [Uint8Array, Uint8Array][]; body: Uint8Array }>>,
  Expect<
    Equals<
      ReadFrom,
      | { seqNum: number; timestamp?: never; tailOffset?: never }
      | { timestamp: number; seqNum?: never; tailOffset?: never }
      | { tailOffset: number; seqNum?: never; timestamp?: never }
    >
  >,
  Expect<Equals<ReadOptions["follow"], boolean | undefined>>,
  Expect<Equals<ReadOptions["waitMs"], number | undefined>>,
  Expect<Equals<ReadOptions["until"], number | undefined>>,
  Expect<Equals<ReadOptions["clamp"], boolean | undefined>>,
  Expect<Equals<NonNullable<ReadOptions["limit"]>, { count?: number; bytes?: number }>>,
  Expect<Equals<ReturnType<typeof recordText>, string>>,
  Expect<Equals<ReturnType<typeof headerText>, [string, string][]>>,
];

export async function readsTyped(): Promise<void> {
  for await (const record of read) {
    const seqNum: number = record.seqNum;
    const body: Uint8Array = record.body;
    // @ts-expect-error: bodies are bytes; decode them with recordText()
    const text: string = record.body;
    void seqNum, body, text;
  }
  const iterable: AsyncIterable<ReadRecord> = read;
  void iterable;
}

void stream.read();
void stream.read({ from: { seqNum: 0 }, clamp: true, limit: { count: 1, bytes: 10 }, until: 5, follow: true, waitMs: 10 });
void stream.read({ from: { timestamp: 0 } });
void stream.read({ from: { tailOffset: 3 } });
// @ts-expect-error: not a kind of start
void stream.read({ from: { seq: 1 } });
// @ts-expect-error: a start has exactly one kind
export const twoKinds: ReadFrom = { seqNum: 0, timestamp: 0 };
// @ts-expect-error: limit.count is a number
void stream.read({ limit: { count: "1" } });
// @ts-expect-error: follow is a boolean
void stream.read({ follow: "yes" });
// @ts-expect-error: a misspelt option is a compile error
void stream.read({ form: { seqNum: 0 } });

// --- Append sessions --------------------------------------------------------------------------

export type SessionChecks = [
  Expect<Equals<ReturnType<Stream["appendSession"]>, AppendSession>>,
  Expect<Equals<ReturnType<AppendSession["submit"]>, Promise<AppendTicket>>>,
  Expect<Equals<ReturnType<AppendTicket["ack"]>, Promise<AppendAck>>>,
  Expect<Equals<ReturnType<AppendSession["close"]>, Promise<void>>>,
  Expect<Equals<AppendSession["error"], Error | undefined>>,
  Expect<Tight<Parameters<Stream["appendSession"]>[0]>>,
  Expect<Equals<Parameters<AppendSession["submit"]>, Parameters<Stream["append"]>>>,
];

void session.submit([{ body: "x" }], { matchSeqNum: 0 });
