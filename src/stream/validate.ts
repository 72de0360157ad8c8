/**
 * Validation of everything a caller hands the stream layer: append input, stream names, read
 * options, stream configs, listStreams options and the in-flight cap.
 *
 * Each check fails with a ValidationError whose message gives the value and the limit ("got
 * 1001 records, at most 1000"). Inputs are `unknown` because JavaScript callers bypass the
 * types. Validated appends come back already encoded (record-format.ts), so the bytes are
 * fixed when `append()` is called, whatever the caller does with its buffers afterwards.
 *
 * Decisions:
 * - Records may carry extra properties (a `ReadRecord` can be appended as is); option objects
 *   may not, so that a misspelt option fails instead of being ignored.
 * - Stream names are 1..512 UTF-8 bytes, not "." or "..", without control characters
 *   (U+0000-U+001F, U+007F) and without lone surrogates: names show up in errors, logs and
 *   metric labels, and a lone surrogate would encode to the same bytes as U+FFFD.
 * - Fencing tokens, string bodies and string header names and values must not hold lone
 *   surrogates either: they are stored as UTF-8, where a lone surrogate would silently become
 *   U+FFFD and the record read back would differ from the one appended.
 * - `waitMs` is allowed only with `follow: true`; a timestamp start must be below `until`.
 */
import { ValidationError } from "../errors.js";
import { failpoint } from "../util/failpoints.js";
import {
  MAX_APPEND_BYTES,
  MAX_APPEND_RECORDS,
  MAX_FENCING_TOKEN_BYTES,
  MAX_LIST_STREAMS_LIMIT,
  MAX_READ_WAIT_MS,
  MAX_RECORD_BYTES,
  MAX_RETENTION_AGE_SECONDS,
  MAX_STREAM_NAME_BYTES,
  MIN_INFLIGHT_BYTES,
 INFLIGHT_RECORD_OVERHEAD_BYTES } from "../limits.js";
import {
  FENCE_COMMAND,
  TRIM_COMMAND,
  byteLength,
  decodeTrimPayload,
  encodeRecordValue,
  hasCommandHeader,
  headerList,
  meteredBytes,
  toBytes,
  type Command,
  type RecordLike,
} from "./record-format.js";
import type { ReadFrom, RetentionPolicy, StreamConfigPatch, Timestamping, TimestampingMode } from "./types.js";

// --- shared helpers --------------------------------------------------------------------------

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

/** A safe integer >= min (and <= max when given). */
export function checkInteger(value: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ValidationError(`${what} must be an integer, got ${show(value)}`);
  }
  if (value < min) throw new ValidationError(`${what} must be at least ${min}, got ${value}`);
  if (value > max) throw new ValidationError(`${what} must be at most ${max}, got ${value}`);
  return value;
}

/** An options object (undefined counts as empty) with no properties outside `known`. */
export function checkOptions(value: unknown, what: string, known: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ValidationError(`${what} must be an object, got ${show(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ValidationError(`unknown ${what} property ${JSON.stringify(key)}; known: ${known.join(", ")}`);
    }
  }
  return value as Record<string, unknown>;
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new ValidationError(`${what} must be a boolean, got ${show(value)}`);
  return value;
}

function checkSignal(value: unknown, what: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  const signal = value as Partial<AbortSignal> | null;
  const isSignal =
    signal !== null &&
    typeof signal === "object" &&
    typeof signal.aborted === "boolean" &&
    typeof signal.addEventListener === "function";
  if (!isSignal) {
    throw new ValidationError(`${what} must be an AbortSignal, got ${show(value)}`);
  }
  return value as AbortSignal;
}

const LONE_SURROGATE = /\p{Cs}/u;

/** Whether `text` holds a UTF-16 surrogate that is not half of a pair (UTF-8 cannot encode it). */
function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/** A record's body, header name or header value: a string one must be well-formed UTF-16. */
function checkRecordText(value: Uint8Array | string, what: string): void {
  if (typeof value === "string" && hasLoneSurrogate(value)) {
    throw new ValidationError(`${what} contains a lone UTF-16 surrogate, which UTF-8 cannot store`);
  }
}

// --- append input ----------------------------------------------------------------------------

/** One record of a validated append, already encoded. */
export interface ValidatedRecord {
  /** The stored value (record-format.ts): headers and body. */
  value: Uint8Array;
  /** Its metered size. */
  meteredBytes: number;
  /** The caller's timestamp, if any (timestamps.ts decides the final one). */
  timestamp: number | undefined;
  /** What it asks for, when it is a command record. */
  command: Command | undefined;
}

/** A validated append: 1..1000 encoded records within the byte limits, and its options. */
export interface ValidatedAppend {
  records: ValidatedRecord[];
  /** Sum of the records' metered sizes (<= MAX_APPEND_BYTES). */
  meteredBytes: number;
  /** What it counts against the in-flight cap: metered bytes plus a per-record memory overhead. */
  inflightBytes: number;
  matchSeqNum: number | undefined;
  fencingToken: string | undefined;
  signal: AbortSignal | undefined;
}

/** Validates the arguments of `append(records, options)` and encodes the records. */
export function validateAppend(records: unknown, options?: unknown): ValidatedAppend {
  const opts = validateAppendOptions(options);
  if (!Array.isArray(records)) throw new ValidationError(`records must be an array, got ${show(records)}`);
  const count = records.length;
  if (count === 0) throw new ValidationError("got 0 records, at least 1 is required");
  if (count > MAX_APPEND_RECORDS) throw new ValidationError(`got ${count} records, at most ${MAX_APPEND_RECORDS}`);
  // Check shapes and sizes before encoding anything, so that an oversized batch costs no copy.
  // Plain loops: this runs on every append.
  const sizes = new Array<number>(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const record: unknown = records[i];
    checkRecordShape(record, i);
    const size = meteredBytes(record);
    if (size > MAX_RECORD_BYTES) throw new ValidationError(`record ${i} is ${size} metered bytes, at most ${MAX_RECORD_BYTES}`);
    sizes[i] = size;
    total += size;
  }
  if (total > MAX_APPEND_BYTES) throw new ValidationError(`got ${total} metered bytes in ${count} records, at most ${MAX_APPEND_BYTES}`);
  const encoded = new Array<ValidatedRecord>(count);
  for (let i = 0; i < count; i++) encoded[i] = encodeRecord(records[i] as AppendInputRecord, i, sizes[i]!);
  failpoint("stream.validate");
  return {
    records: encoded,
    meteredBytes: total,
    inflightBytes: total + count * INFLIGHT_RECORD_OVERHEAD_BYTES,
    matchSeqNum: opts.matchSeqNum,
    fencingToken: opts.fencingToken,
    signal: opts.signal,
  };
}

/** A record that passed `checkRecordShape`. */
type AppendInputRecord = RecordLike & { timestamp?: number };

const NO_APPEND_OPTIONS: Omit<ValidatedAppend, "records" | "meteredBytes" | "inflightBytes"> = Object.freeze({
  matchSeqNum: undefined,
  fencingToken: undefined,
  signal: undefined,
});

function validateAppendOptions(options: unknown): Omit<ValidatedAppend, "records" | "meteredBytes" | "inflightBytes"> {
  if (options === undefined) return NO_APPEND_OPTIONS;
  const o = checkOptions(options, "append option", ["matchSeqNum", "fencingToken", "signal"]);
  const matchSeqNum = o.matchSeqNum === undefined ? undefined : checkInteger(o.matchSeqNum, "matchSeqNum");
  const fencingToken = o.fencingToken === undefined ? undefined : validateFencingToken(o.fencingToken, "fencingToken");
  return { matchSeqNum, fencingToken, signal: checkSignal(o.signal, "signal") };
}

/** A fencing token: a string of at most 36 UTF-8 bytes without lone surrogates. */
export function validateFencingToken(token: unknown, what: string): string {
  if (typeof token !== "string") throw new ValidationError(`${what} must be a string, got ${show(token)}`);
  const size = Buffer.byteLength(token, "utf8");
  if (size > MAX_FENCING_TOKEN_BYTES) {
    throw new ValidationError(`${what} is ${size} UTF-8 bytes, at most ${MAX_FENCING_TOKEN_BYTES}`);
  }
  if (hasLoneSurrogate(token)) throw new ValidationError(`${what} contains a lone UTF-16 surrogate`);
  return token;
}

/** An object literal (or one without a prototype): not an array, a Uint8Array, a Map, ... */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function isBytesOrString(value: unknown): value is Uint8Array | string {
  return typeof value === "string" || value instanceof Uint8Array;
}

/** Checks one record's types, timestamp and header names (not its size). */
function checkRecordShape(record: unknown, i: number): asserts record is AppendInputRecord {
  if (record === null || typeof record !== "object") {
    throw new ValidationError(`record ${i} must be an object, got ${show(record)}`);
  }
  const r = record as Record<string, unknown>;
  if (!isBytesOrString(r.body)) {
    throw new ValidationError(`record ${i} body must be a Uint8Array or a string, got ${show(r.body)}`);
  }
  checkRecordText(r.body, `record ${i} body`);
  if (r.timestamp !== undefined) checkInteger(r.timestamp, `record ${i} timestamp`);
  if (r.headers === undefined) return;
  if (!Array.isArray(r.headers) && !isPlainObject(r.headers)) {
    throw new ValidationError(`record ${i} headers must be an array of [name, value] pairs or an object of name: value, got ${show(r.headers)}`);
  }
  const headers: unknown[] = Array.isArray(r.headers) ? r.headers : Object.entries(r.headers);
  headers.forEach((header: unknown, h) => {
    if (!Array.isArray(header) || header.length !== 2 || !isBytesOrString(header[0]) || !isBytesOrString(header[1])) {
      throw new ValidationError(`record ${i} header ${h} must be a [name, value] pair of Uint8Array or string`);
    }
    checkRecordText(header[0], `record ${i} header ${h} name`);
    checkRecordText(header[1], `record ${i} header ${h} value`);
  });
  if (hasCommandHeader(r as unknown as RecordLike)) return;
  (headers as [Uint8Array | string][]).forEach(([name], h) => {
    if (byteLength(name) === 0) {
      throw new ValidationError(
        `record ${i} header ${h} has an empty name; only a command record (a single header ["", "fence" | "trim"]) may have one`,
      );
    }
  });
}

const NO_HEADERS: [Uint8Array, Uint8Array][] = [];

function encodeRecord(record: AppendInputRecord, i: number, size: number): ValidatedRecord {
  const list = headerList(record.headers);
  const headers = list.length === 0 ? NO_HEADERS : list.map(([n, v]): [Uint8Array, Uint8Array] => [toBytes(n), toBytes(v)]);
  const body = toBytes(record.body);
  const command = hasCommandHeader(record) ? parseCommand(headers[0]![1], record.body, body, i) : undefined;
  const value = encodeRecordValue({ headers, body });
  return { value, meteredBytes: size, timestamp: record.timestamp, command };
}

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function parseCommand(op: Uint8Array, rawBody: Uint8Array | string, body: Uint8Array, i: number): Command {
  const name = Buffer.from(op.buffer, op.byteOffset, op.byteLength).toString("latin1");
  if (name === FENCE_COMMAND) {
    if (typeof rawBody === "string") return { kind: "fence", token: validateFencingToken(rawBody, `record ${i} fence token`) };
    let token: string;
    try {
      token = utf8Strict.decode(body);
    } catch {
      throw new ValidationError(`record ${i} fence token is not valid UTF-8`);
    }
    return { kind: "fence", token: validateFencingToken(token, `record ${i} fence token`) };
  }
  if (name === TRIM_COMMAND) {
    if (body.length !== 8) {
      throw new ValidationError(`record ${i} trim body must be 8 bytes (a big-endian seq num), got ${body.length}`);
    }
    return { kind: "trim", seqNum: decodeTrimPayload(body) };
  }
  throw new ValidationError(
    `record ${i} has a header with an empty name, which marks a command record (the header's value names the command): ` +
      `unknown command ${show(name)}; known: fence, trim. A plain header needs a non-empty name`,
  );
}

// --- stream names and listing ----------------------------------------------------------------

/** A stream name: 1..512 UTF-8 bytes, not "." or "..", no control characters or lone surrogates. */
export function validateStreamName(name: unknown, what = "stream name"): string {
  if (typeof name !== "string") throw new ValidationError(`${what} must be a string, got ${show(name)}`);
  const size = Buffer.byteLength(name, "utf8");
  if (size === 0) throw new ValidationError(`${what} must not be empty`);
  if (size > MAX_STREAM_NAME_BYTES) throw new ValidationError(`${what} is ${size} UTF-8 bytes, at most ${MAX_STREAM_NAME_BYTES}`);
  if (name === "." || name === "..") throw new ValidationError(`${what} must not be ${show(name)}`);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new ValidationError(`${what} ${show(name)} contains a control character`);
  if (hasLoneSurrogate(name)) throw new ValidationError(`${what} ${show(name)} contains a lone UTF-16 surrogate`);
  return name;
}

/** A prefix or cursor of stream names: any string a name could start with or be. */
function checkNamePart(value: unknown, what: string): string {
  if (typeof value !== "string") throw new ValidationError(`${what} must be a string, got ${show(value)}`);
  const size = Buffer.byteLength(value, "utf8");
  if (size > MAX_STREAM_NAME_BYTES) throw new ValidationError(`${what} is ${size} UTF-8 bytes, at most ${MAX_STREAM_NAME_BYTES}`);
  if (hasLoneSurrogate(value)) throw new ValidationError(`${what} ${show(value)} contains a lone UTF-16 surrogate`);
  return value;
}

/** Validated `listStreams` options. */
export interface ValidatedListOptions {
  prefix: string;
  startAfter: string | undefined;
  limit: number;
}

export function validateListStreamsOptions(options: unknown): ValidatedListOptions {
  const o = checkOptions(options, "listStreams option", ["prefix", "startAfter", "limit"]);
  const prefix = o.prefix === undefined ? "" : checkNamePart(o.prefix, "prefix");
  const startAfter = o.startAfter === undefined ? undefined : checkNamePart(o.startAfter, "startAfter");
  const limit = o.limit === undefined ? MAX_LIST_STREAMS_LIMIT : checkInteger(o.limit, "limit", 1, MAX_LIST_STREAMS_LIMIT);
  return { prefix, startAfter, limit };
}

// --- read options ----------------------------------------------------------------------------

/** Read options with defaults applied. */
export interface ValidatedReadOptions {
  from: ReadFrom;
  clamp: boolean;
  limit: { count: number | undefined; bytes: number | undefined };
  until: number | undefined;
  follow: boolean;
  waitMs: number | undefined;
  signal: AbortSignal | undefined;
}

const READ_OPTIONS = ["from", "clamp", "limit", "until", "follow", "waitMs", "signal"] as const;

export function validateReadOptions(options: unknown): ValidatedReadOptions {
  const o = checkOptions(options, "read option", READ_OPTIONS);
  const from = validateReadFrom(o.from);
  const limitOpts = checkOptions(o.limit, "limit", ["count", "bytes"]);
  const limit = {
    count: limitOpts.count === undefined ? undefined : checkInteger(limitOpts.count, "limit.count"),
    bytes: limitOpts.bytes === undefined ? undefined : checkInteger(limitOpts.bytes, "limit.bytes"),
  };
  const until = o.until === undefined ? undefined : checkInteger(o.until, "until");
  if (until !== undefined && from.timestamp !== undefined && from.timestamp >= until) {
    throw new ValidationError(`from.timestamp ${from.timestamp} must be below until ${until}`);
  }
  const follow = checkBoolean(o.follow, "follow");
  const waitMs = o.waitMs === undefined ? undefined : checkInteger(o.waitMs, "waitMs", 0, MAX_READ_WAIT_MS);
  if (waitMs !== undefined && !follow) throw new ValidationError("waitMs applies only to a following read: pass follow: true");
  return { from, clamp: checkBoolean(o.clamp, "clamp"), limit, until, follow, waitMs, signal: checkSignal(o.signal, "signal") };
}

function validateReadFrom(value: unknown): ReadFrom {
  if (value === undefined) return { tailOffset: 0 }; // the tail, as in S2: a plain read() waits for new records when following
  const o = checkOptions(value, "from", ["seqNum", "timestamp", "tailOffset"]);
  const kinds = Object.keys(o).filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) {
    const got = kinds.length === 0 ? "none" : kinds.join(", ");
    throw new ValidationError(`from must have exactly one of seqNum, timestamp, tailOffset; got ${got}`);
  }
  const kind = kinds[0] as "seqNum" | "timestamp" | "tailOffset";
  const n = checkInteger(o[kind], `from.${kind}`);
  return kind === "seqNum" ? { seqNum: n } : kind === "timestamp" ? { timestamp: n } : { tailOffset: n };
}

// --- stream config ---------------------------------------------------------------------------

const MODES: readonly TimestampingMode[] = ["client-prefer", "client-require", "arrival"];

/** Validates a config for createStream or a patch for reconfigureStream (same shape). */
export function validateStreamConfigPatch(patch: unknown, what = "stream config"): StreamConfigPatch {
  const o = checkOptions(patch, what, ["retention", "timestamping"]);
  const out: StreamConfigPatch = {};
  if (o.retention !== undefined) out.retention = validateRetention(o.retention, `${what} retention`);
  if (o.timestamping !== undefined) out.timestamping = validateTimestamping(o.timestamping, `${what} timestamping`);
  return out;
}

function validateRetention(value: unknown, what: string): RetentionPolicy {
  if (value === "infinite") return "infinite";
  if (typeof value === "string") throw new ValidationError(`${what} must be "infinite" or { ageSeconds }, got ${show(value)}`);
  const o = checkOptions(value, what, ["ageSeconds"]);
  return { ageSeconds: checkInteger(o.ageSeconds, `${what} ageSeconds`, 1, MAX_RETENTION_AGE_SECONDS) };
}

function validateTimestamping(value: unknown, what: string): Partial<Timestamping> {
  const o = checkOptions(value, what, ["mode", "uncapped"]);
  const out: Partial<Timestamping> = {};
  if (o.mode !== undefined) {
    if (!MODES.includes(o.mode as TimestampingMode)) {
      throw new ValidationError(`${what} mode must be one of ${MODES.join(", ")}, got ${show(o.mode)}`);
    }
    out.mode = o.mode as TimestampingMode;
  }
  if (o.uncapped !== undefined) out.uncapped = checkBoolean(o.uncapped, `${what} uncapped`);
  return out;
}

// --- log options that belong to streams ------------------------------------------------------

/** The in-flight byte cap (`openLog({ inflightBytes })`); undefined when not given. */
export function validateInflightBytes(value: unknown, what = "inflightBytes"): number | undefined {
  return value === undefined ? undefined : checkInteger(value, what, MIN_INFLIGHT_BYTES);
}
