/**
 * The stream layer's key layout in the engine (docs/design.md section 5): every key and fixed-width value
 * the stream layer writes is built and parsed here, and nowhere else.
 *
 * Keys are bytes; integers are big-endian u64, so byte order is numeric order. Byte 0 is a kind
 * whose meaning never changes once data exists:
 *
 * | kind | key                          | value                                          |
 * |------|------------------------------|------------------------------------------------|
 * | 00   | `00 01`                      | next stream id u64 (log-wide counter)          |
 * | 01   | `01 name(UTF-8)`             | stream meta JSON (stream-config.ts)            |
 * | 02   | `02 id`                      | tail: next seq u64, last ts u64, last write ms u64 |
 * | 03   | `03 id`                      | fencing token, UTF-8, 0..36 bytes              |
 * | 04   | `04 id`                      | trim point: first readable seq u64             |
 * | 05   | `05 id seq ts`               | record value (record-format.ts); expires       |
 * | 06   | `06 id ts seq`               | empty (timestamp index, sparse); same expiry   |
 *
 * Kind 00 holds log-wide singletons; its second byte names one, and `00 01` is the stream-id
 * counter. Stream ids are allocated from it (never derived from names), starting at 1, so a
 * deleted and recreated stream never sees its predecessor's keys. The counter is read and
 * bumped in the same engine batch that writes the new stream's meta and tail keys.
 *
 * The timestamp index is sparse (docs/decisions/0006): a record gets a `06` key, in the same
 * engine batch as its `05` key and with the same expiry, when its seq is a multiple of
 * TIMESTAMP_INDEX_INTERVAL_RECORDS (64), so an append writes one memtable entry per record, not
 * two (`isIndexedSeqNum`). Reads no longer use it (since 2026-12-05; it is still written, for
 * readers of earlier versions): a read by timestamp seeks the `05` keys themselves, whose
 * timestamps never decrease with seq, with the engine's floor seek over the memtables and the
 * SST indexes (`timestampSeekRange`), which reads no data block and merges no sources; the
 * reverse seek in the `06` keys read a block of every L0 and run (docs/decisions/0006).
 *
 * Invariants: every `id`, `seq` and `ts` is a safe integer >= 0 (encoders assert it; decoders
 * treat anything else as corruption). Keys of one stream id never fall in another id's ranges.
 */
import { CorruptionError, assert } from "../errors.js";
import { MAX_FENCING_TOKEN_BYTES, TIMESTAMP_INDEX_INTERVAL_RECORDS } from "../limits.js";
import { readU64, writeU64 } from "../util/bytes.js";

/** The kind byte of each key family. Persisted: never renumber. */
export const KeyKind = {
  singleton: 0x00,
  streamMeta: 0x01,
  tail: 0x02,
  fencingToken: 0x03,
  trimPoint: 0x04,
  record: 0x05,
  timestampIndex: 0x06,
} as const;

/** A key range: `start` inclusive; `end` exclusive, or unbounded when undefined. */
export interface KeyRange {
  start: Uint8Array;
  end: Uint8Array | undefined;
}

/** The state stored under a stream's tail key. */
export interface TailValue {
  /** The sequence number the next record gets. */
  nextSeqNum: number;
  /** The last record's timestamp (0 for an empty stream). */
  lastTimestamp: number;
  /** Wall-clock ms of the last append that wrote this value (0 when never written). */
  lastWriteMs: number;
}

/** The first id the stream-id counter hands out. */
export const FIRST_STREAM_ID = 1;

/** The key of the log-wide stream-id counter. */
export const STREAM_ID_COUNTER_KEY: Uint8Array = Uint8Array.of(KeyKind.singleton, 0x01);

/** The value of every timestamp-index key. */
export const TIMESTAMP_INDEX_VALUE: Uint8Array = new Uint8Array(0);

const U64 = 8;
/** Length of a `05` or `06` key: kind, stream id, and two u64 fields. */
const THREE_FIELD_KEY_BYTES = 1 + 3 * U64;
const utf8Encoder = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

// --- u64 fields ------------------------------------------------------------------------------

/** Writes a u64 field (util/bytes.ts), failing with InternalError, which names it, for a bad value. */
function putU64(out: Uint8Array, offset: number, n: number, what: string): void {
  assert(Number.isSafeInteger(n) && n >= 0, () => `${what} must be a safe integer >= 0, got ${n}`);
  writeU64(out, offset, n);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

function corrupt(what: string, bytes: Uint8Array, detail: string): CorruptionError {
  return new CorruptionError(`${what} ${hex(bytes).slice(0, 96)}`, detail);
}

/** Reads `count` u64 fields after a kind byte, checking kind and exact length. */
function readFields(key: Uint8Array, kind: number, count: number, what: string): number[] {
  const want = 1 + count * U64;
  if (key.length !== want) throw corrupt(what, key, `expected ${want} bytes, got ${key.length}`);
  if (key[0] !== kind) throw corrupt(what, key, `expected kind ${kind}, got ${key[0]}`);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const n = readU64(key, 1 + i * U64);
    if (n < 0) throw corrupt(what, key, `field ${i} is not a safe integer`);
    out.push(n);
  }
  return out;
}

function buildKey(kind: number, fields: readonly number[], names: readonly string[]): Uint8Array {
  const key = new Uint8Array(1 + fields.length * U64);
  key[0] = kind;
  fields.forEach((n, i) => putU64(key, 1 + i * U64, n, names[i] ?? "field"));
  return key;
}

/** `buildKey` for the two keys made per appended record, without its arrays and closure. */
function threeFieldKey(kind: number, a: number, b: number, c: number): Uint8Array {
  const key = new Uint8Array(THREE_FIELD_KEY_BYTES);
  key[0] = kind;
  putU64(key, 1, a, "streamId");
  putU64(key, 1 + U64, b, kind === KeyKind.record ? "seqNum" : "timestamp");
  putU64(key, 1 + 2 * U64, c, kind === KeyKind.record ? "timestamp" : "seqNum");
  return key;
}

// --- keys ------------------------------------------------------------------------------------

/** `01 name`: the stream's meta key. `name` must already be a valid stream name. */
export function streamMetaKey(name: string): Uint8Array {
  const nameBytes = utf8Encoder.encode(name);
  const key = new Uint8Array(1 + nameBytes.length);
  key[0] = KeyKind.streamMeta;
  key.set(nameBytes, 1);
  return key;
}

export function decodeStreamMetaKey(key: Uint8Array): string {
  if (key.length < 2 || key[0] !== KeyKind.streamMeta) throw corrupt("stream meta key", key, "wrong kind or empty name");
  try {
    return utf8Strict.decode(key.subarray(1));
  } catch (error) {
    throw new CorruptionError(`stream meta key ${hex(key).slice(0, 96)}`, "name is not valid UTF-8", { cause: error });
  }
}

/** `02 id`: the stream's tail key (never expires). */
export function tailKey(streamId: number): Uint8Array {
  return buildKey(KeyKind.tail, [streamId], ["streamId"]);
}

/** `03 id`: the stream's fencing-token key. */
export function fencingTokenKey(streamId: number): Uint8Array {
  return buildKey(KeyKind.fencingToken, [streamId], ["streamId"]);
}

/** `04 id`: the stream's trim-point key. */
export function trimPointKey(streamId: number): Uint8Array {
  return buildKey(KeyKind.trimPoint, [streamId], ["streamId"]);
}

/** Decodes a `02`, `03` or `04` key to its stream id; `kind` says which is expected. */
export function decodeStreamIdKey(key: Uint8Array, kind: number): number {
  return readFields(key, kind, 1, "stream key")[0]!;
}

/**
 * The stream id of a per-stream key (kinds `02` to `06`), straight from the bytes; undefined for
 * any other key, or one too short to hold an id. For routing and filtering many keys without
 * decoding each in full (the read-only log's batch routing, the compaction filter).
 */
export function streamIdOfKey(key: Uint8Array): number | undefined {
  const kind = key[0]!;
  if (kind < KeyKind.tail || kind > KeyKind.timestampIndex || key.length < 1 + U64) return undefined;
  const streamId = readU64(key, 1);
  return streamId < 0 ? undefined : streamId;
}

/** The seqNum of a record (`05`) or timestamp-index (`06`) key, straight from the bytes; undefined for any other key. */
export function seqNumOfKey(key: Uint8Array): number | undefined {
  const kind = key[0];
  if ((kind !== KeyKind.record && kind !== KeyKind.timestampIndex) || key.length !== THREE_FIELD_KEY_BYTES) return undefined;
  const seqNum = readU64(key, kind === KeyKind.record ? 1 + U64 : 1 + 2 * U64);
  return seqNum < 0 ? undefined : seqNum;
}

/** Where a record lives: stream id, sequence number, timestamp. */
export interface RecordKeyParts {
  streamId: number;
  seqNum: number;
  timestamp: number;
}

/** `05 id seq ts`: a record's key. */
export function recordKey(parts: RecordKeyParts): Uint8Array {
  return threeFieldKey(KeyKind.record, parts.streamId, parts.seqNum, parts.timestamp);
}

/** `recordKey` without the parts object, for the append path (one key per appended record). */
export function recordKeyOf(streamId: number, seqNum: number, timestamp: number): Uint8Array {
  return threeFieldKey(KeyKind.record, streamId, seqNum, timestamp);
}

export function decodeRecordKey(key: Uint8Array): RecordKeyParts {
  // Straight from the bytes, no array in between: a catch-up read decodes one key per record.
  if (key.length === THREE_FIELD_KEY_BYTES && key[0] === KeyKind.record) {
    const streamId = readU64(key, 1);
    const seqNum = readU64(key, 1 + U64);
    const timestamp = readU64(key, 1 + 2 * U64);
    if (streamId >= 0 && seqNum >= 0 && timestamp >= 0) return { streamId, seqNum, timestamp };
  }
  return decodeRecordKeySlowly(key);
}

/** The general path, which throws the precise CorruptionError for a malformed key. */
function decodeRecordKeySlowly(key: Uint8Array): RecordKeyParts {
  const [streamId, seqNum, timestamp] = readFields(key, KeyKind.record, 3, "record key") as [number, number, number];
  return { streamId, seqNum, timestamp };
}

/** Whether the record at `seqNum` gets a timestamp-index key (every TIMESTAMP_INDEX_INTERVAL_RECORDS-th). */
export function isIndexedSeqNum(seqNum: number): boolean {
  return seqNum % TIMESTAMP_INDEX_INTERVAL_RECORDS === 0;
}

/** `06 id ts seq`: a record's timestamp-index key (written only when `isIndexedSeqNum(seq)`). */
export function timestampIndexKey(parts: RecordKeyParts): Uint8Array {
  return threeFieldKey(KeyKind.timestampIndex, parts.streamId, parts.timestamp, parts.seqNum);
}

export function decodeTimestampIndexKey(key: Uint8Array): RecordKeyParts {
  const [streamId, timestamp, seqNum] = readFields(key, KeyKind.timestampIndex, 3, "timestamp index key") as [
    number,
    number,
    number,
  ];
  return { streamId, seqNum, timestamp };
}

// --- values ----------------------------------------------------------------------------------

/** Tail value: next seq u64 ‖ last timestamp u64 ‖ last write ms u64 (24 bytes). */
export function encodeTailValue(tail: TailValue): Uint8Array {
  const out = new Uint8Array(3 * U64);
  putU64(out, 0, tail.nextSeqNum, "nextSeqNum");
  putU64(out, U64, tail.lastTimestamp, "lastTimestamp");
  putU64(out, 2 * U64, tail.lastWriteMs, "lastWriteMs");
  return out;
}

export function decodeTailValue(value: Uint8Array): TailValue {
  const [nextSeqNum, lastTimestamp, lastWriteMs] = readU64Value(value, 3, "tail value") as [number, number, number];
  return { nextSeqNum, lastTimestamp, lastWriteMs };
}

/** A single u64 value: trim point (first readable seq) or the stream-id counter. */
export function encodeU64Value(n: number): Uint8Array {
  const out = new Uint8Array(U64);
  putU64(out, 0, n, "u64 value");
  return out;
}

export function decodeU64Value(value: Uint8Array, what = "u64 value"): number {
  return readU64Value(value, 1, what)[0]!;
}

function readU64Value(value: Uint8Array, count: number, what: string): number[] {
  if (value.length !== count * U64) throw corrupt(what, value, `expected ${count * U64} bytes, got ${value.length}`);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const n = readU64(value, i * U64);
    if (n < 0) throw corrupt(what, value, `field ${i} is not a safe integer`);
    out.push(n);
  }
  return out;
}

/** Fencing-token value: the token's UTF-8 bytes. The token must already be validated. */
export function encodeFencingTokenValue(token: string): Uint8Array {
  const out = utf8Encoder.encode(token);
  assert(out.length <= MAX_FENCING_TOKEN_BYTES, () => `fencing token of ${out.length} bytes reached the store`);
  return out;
}

export function decodeFencingTokenValue(value: Uint8Array): string {
  if (value.length > MAX_FENCING_TOKEN_BYTES) {
    throw corrupt("fencing token value", value, `${value.length} bytes, at most ${MAX_FENCING_TOKEN_BYTES}`);
  }
  try {
    return utf8Strict.decode(value);
  } catch (error) {
    throw new CorruptionError(`fencing token value ${hex(value)}`, "not valid UTF-8", { cause: error });
  }
}

/**
 * Allocates a stream id from the counter's current value (undefined when no stream was ever
 * created). Write `counterValue` back in the same batch that creates the stream.
 */
export function allocateStreamId(current: Uint8Array | undefined): { streamId: number; counterValue: Uint8Array } {
  const streamId = current === undefined ? FIRST_STREAM_ID : decodeU64Value(current, "stream id counter");
  if (streamId < FIRST_STREAM_ID) throw corrupt("stream id counter", current!, `value ${streamId} is below ${FIRST_STREAM_ID}`);
  return { streamId, counterValue: encodeU64Value(streamId + 1) };
}

// --- ranges ----------------------------------------------------------------------------------

/**
 * The first key after every key that starts with `prefix`: increment the last byte below 0xFF
 * and drop what follows it. Undefined (unbounded) when every byte is 0xFF or prefix is empty.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = prefix[i]! + 1;
      return end;
    }
  }
  return undefined;
}

/** Every key that starts with `prefix`. */
export function prefixRange(prefix: Uint8Array): KeyRange {
  return { start: prefix, end: prefixEnd(prefix) };
}

function streamPrefix(kind: number, streamId: number): Uint8Array {
  return buildKey(kind, [streamId], ["streamId"]);
}

/**
 * Record keys of a stream with `startSeqNum <= seq < endSeqNum` (to the stream's last record
 * when `endSeqNum` is omitted). Scanned in sequence order.
 */
export function recordRange(streamId: number, seqs: { startSeqNum: number; endSeqNum?: number }): KeyRange {
  const start = recordKey({ streamId, seqNum: seqs.startSeqNum, timestamp: 0 });
  const end =
    seqs.endSeqNum === undefined
      ? prefixEnd(streamPrefix(KeyKind.record, streamId))
      : recordKey({ streamId, seqNum: seqs.endSeqNum, timestamp: 0 });
  return { start, end };
}

/** Timestamp-index keys of a stream from `(startTimestamp, seq 0)` to the stream's end. */
export function timestampIndexRange(streamId: number, startTimestamp: number): KeyRange {
  return {
    start: timestampIndexKey({ streamId, timestamp: startTimestamp, seqNum: 0 }),
    end: prefixEnd(streamPrefix(KeyKind.timestampIndex, streamId)),
  };
}

/**
 * Where a read by `timestamp` seeks: the stream's record keys with `seqs.startSeqNum <= seq <
 * seqs.endSeqNum`, and `isBelow`, true for a record key whose timestamp is below `timestamp`.
 * Timestamps never decrease with seq, so `isBelow` is true for the first keys of the range and
 * false from some key on: any key of the range with `isBelow` true (the engine's floor seek,
 * `Engine.floorKey`, finds one near the last) is a record before every record at or after
 * `timestamp`, whatever expired, was trimmed or deleted since. A read starts there and skips
 * the records before `timestamp`.
 */
export function timestampSeekRange(
  streamId: number,
  timestamp: number,
  seqs: { startSeqNum: number; endSeqNum: number },
): { range: KeyRange; isBelow: (key: Uint8Array) => boolean } {
  return { range: recordRange(streamId, seqs), isBelow: (key) => decodeRecordKey(key).timestamp < timestamp };
}

/** Everything to delete when a stream goes: point keys and ranges. */
export interface StreamKeys {
  keys: Uint8Array[];
  ranges: KeyRange[];
}

/** All keys of a stream: its meta key, tail, fencing token, trim point, records and index. */
export function allStreamKeys(stream: { streamId: number; name: string }): StreamKeys {
  const { streamId } = stream;
  return {
    keys: [streamMetaKey(stream.name), tailKey(streamId), fencingTokenKey(streamId), trimPointKey(streamId)],
    ranges: [
      prefixRange(streamPrefix(KeyKind.record, streamId)),
      prefixRange(streamPrefix(KeyKind.timestampIndex, streamId)),
    ],
  };
}

/**
 * Stream meta keys for `listStreams`: names starting with `prefix`, strictly after `startAfter`.
 * Names come back in UTF-8 byte order. When nothing can match, `start` equals `end`.
 */
export function listStreamsRange(options: { prefix?: string; startAfter?: string }): KeyRange {
  const prefixKey = streamMetaKey(options.prefix ?? "");
  const end = prefixEnd(prefixKey);
  let start = prefixKey;
  if (options.startAfter !== undefined) {
    // The smallest key strictly greater than `01 startAfter` is `01 startAfter 00`.
    const afterKey = streamMetaKey(options.startAfter);
    const after = new Uint8Array(afterKey.length + 1);
    after.set(afterKey);
    if (Buffer.compare(after, start) > 0) start = after;
  }
  if (end !== undefined && Buffer.compare(start, end) > 0) start = end;
  return { start, end };
}
