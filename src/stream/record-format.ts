/**
 * The stored form of a record (the value under a `05` record key), metered size, and command
 * records (fence and trim).
 *
 * A record value holds only headers and body: the sequence number and timestamp live in the key.
 * It carries no checksum of its own because the engine checksums every WAL object and SST block
 * that holds it. Decoding returns a private copy, so a caller that changes a `ReadRecord` can
 * never change the engine's caches or memtables: `decodeRecordValue` copies each value into its
 * own buffer; a `RecordDecoder` (read sessions) copies small values into slabs, and keeps an SST
 * scan's values, which are private copies already, as they are.
 *
 * A command record is an ordinary record whose only header has an empty name and the value
 * "fence" or "trim" (S2's wire form). It is stored like any record and read back unchanged.
 */
import { CorruptionError, ValidationError, assert } from "../errors.js";
import { copyOf, readU64, writeU64 } from "../util/bytes.js";
import { SlabAllocator } from "../util/slab.js";
import { readVarint, varintBytes, varintProblem, writeVarint } from "../util/varint.js";
import { HEADER_OVERHEAD_BYTES, RECORD_OVERHEAD_BYTES, VALUE_SLABS_KEPT } from "../limits.js";
import type { AppendHeader, AppendHeaderObject, AppendHeaders, AppendRecord, ReadRecord } from "./types.js";

/** Anything with headers and a body: an `AppendRecord` or a `ReadRecord`. */
export interface RecordLike {
  /** The body; a string counts as its UTF-8 bytes. */
  body: Uint8Array | string;
  /** Name/value pairs (or an object of them); strings count as their UTF-8 bytes. */
  headers?: AppendHeaders | AppendHeaderObject | undefined;
}

const NO_HEADER_LIST: readonly AppendHeader[] = [];

/**
 * A record's headers as a list of pairs: the list itself, or an object's own entries in their
 * order. (A plain `string[][]` is typed as pairs here; validation checks that each holds two.)
 */
export function headerList(headers: AppendHeaders | AppendHeaderObject | undefined): readonly AppendHeader[] {
  if (headers === undefined) return NO_HEADER_LIST;
  return Array.isArray(headers) ? (headers as readonly AppendHeader[]) : Object.entries(headers as AppendHeaderObject);
}

/** A record's headers and body as bytes. */
export interface RecordBytes {
  headers: [Uint8Array, Uint8Array][];
  body: Uint8Array;
}

/** The only format version written so far. */
export const RECORD_FORMAT_V1 = 0x01;

const utf8 = new TextEncoder();

/**
 * Where encoded values are made: 1 MiB slabs (util/slab.ts), values up to 16 KiB. The values
 * of appended records live together in a memtable until its L0 flush, so a slab is done with
 * when the memtables that hold its values are: they release them (Memtable.drop, once no scan
 * reads them), and up to VALUE_SLABS_KEPT such slabs are carved from again instead of dying in
 * the collector's old generation (bench/README.md, "Value slabs"). Nothing else may keep a view
 * of a value past its memtable: readers copy what they hand out, followers get copies
 * (streamer.ts withOwnValues). The next slab is faulted in on the thread pool while the current
 * one fills (util/prefault.ts): a busy appender goes through a slab every few milliseconds.
 */
const valueSlabs = new SlabAllocator({ slabBytes: 1024 * 1024, maxSlabbedBytes: 16 * 1024, prefaultNext: true, recycleSlabs: VALUE_SLABS_KEPT });

/** How many value slabs were carved from again so far (tests: that reuse happened). */
export function valueSlabsReused(): number {
  return valueSlabs.reusedSlabs;
}

/** Byte length of a body, header name or header value; strings count as UTF-8. */
export function byteLength(value: Uint8Array | string): number {
  return typeof value === "string" ? Buffer.byteLength(value, "utf8") : value.length;
}

/** Bytes of a body, header name or header value; strings are encoded as UTF-8. */
export function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? utf8.encode(value) : value;
}

/**
 * Metered size, the unit every limit counts (S2's formula):
 * `8 + 2 * headers + (bytes of every header name and value) + (bytes of body)`.
 */
export function meteredBytes(record: RecordLike): number {
  let total = RECORD_OVERHEAD_BYTES + byteLength(record.body);
  for (const [name, value] of headerList(record.headers)) {
    total += HEADER_OVERHEAD_BYTES + byteLength(name) + byteLength(value);
  }
  return total;
}

/**
 * Encodes a record's headers and body, format version 1:
 *
 * | field         | width           | meaning                                        |
 * |---------------|-----------------|------------------------------------------------|
 * | version       | 1 byte          | 0x01                                           |
 * | header count  | varint          | number of headers that follow                  |
 * | name length   | varint          | per header: bytes of its name (0 only for commands) |
 * | name          | name length     |                                                |
 * | value length  | varint          | per header: bytes of its value                 |
 * | value         | value length    |                                                |
 * | body          | the rest        | the body bytes, possibly none                  |
 *
 * A varint is unsigned LEB128 (util/varint.ts: 7 bits per byte, low group first, high bit = more
 * follows), canonical (no trailing zero groups), at most 5 bytes, value below 2^32. An empty record is
 * 2 bytes. A new layout gets a new version byte; decoders refuse versions they do not know.
 */
export function encodeRecordValue(record: RecordBytes): Uint8Array {
  const { headers, body } = record;
  let size = 1 + varintBytes(headers.length) + body.length;
  for (const [name, value] of headers) {
    size += varintBytes(name.length) + name.length + varintBytes(value.length) + value.length;
  }
  // Every byte is written below (checked at the end): the slab's memory is not zeroed.
  const out = valueSlabs.allocUnsafe(size);
  out[0] = RECORD_FORMAT_V1;
  let offset = writeVarint(out, 1, headers.length);
  for (const [name, value] of headers) {
    offset = writeVarint(out, offset, name.length);
    out.set(name, offset);
    offset = writeVarint(out, offset + name.length, value.length);
    out.set(value, offset);
    offset += value.length;
  }
  out.set(body, offset);
  assert(offset + body.length === size, () => `record encoder wrote ${offset + body.length} of ${size} bytes`);
  return out;
}

/** Reads record values, failing with CorruptionError on anything malformed. */
class Reader {
  offset = 0;
  constructor(
    readonly bytes: Uint8Array,
    /** Names the value in a CorruptionError; a function, so that reads that succeed build no string. */
    readonly what: string | (() => string),
  ) {}

  fail(detail: string): CorruptionError {
    const what = typeof this.what === "string" ? this.what : this.what();
    return new CorruptionError(what, `${detail} (at byte ${this.offset} of ${this.bytes.length})`);
  }

  varint(field: string): number {
    const cursor = { pos: this.offset };
    const n = readVarint(this.bytes, cursor, this.bytes.length);
    if (n < 0) throw this.fail(`${field} is ${varintProblem(this.bytes, this.offset, this.bytes.length) ?? "invalid"}`);
    this.offset = cursor.pos;
    return n;
  }

  take(length: number, field: string): Uint8Array {
    if (length > this.bytes.length - this.offset) {
      throw this.fail(`${field} of ${length} bytes runs past the end`);
    }
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
}

/**
 * Decodes a stored record value into headers and body (views into one private copy).
 * `what` names the value in a CorruptionError, e.g. "stream 7 record 42".
 */
export function decodeRecordValue(value: Uint8Array, what: string | (() => string) = "record value"): RecordBytes {
  return decodeCopy(copyOf(value), what);
}

/** Decodes `copy`, a private copy of a stored value: headers and body are views of it. */
function decodeCopy(copy: Uint8Array, what: string | (() => string)): RecordBytes {
  const reader = new Reader(copy, what);
  if (copy.length === 0) throw reader.fail("empty value");
  if (copy[0] !== RECORD_FORMAT_V1) throw reader.fail(`unknown record format version ${copy[0]}`);
  reader.offset = 1;
  const count = reader.varint("header count");
  // Each header takes at least two bytes, so a larger count is garbage: refuse before allocating.
  if (count * 2 > copy.length - reader.offset) throw reader.fail(`header count ${count} cannot fit`);
  const headers: [Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < count; i++) {
    const name = reader.take(reader.varint(`header ${i} name length`), `header ${i} name`);
    const headerValue = reader.take(reader.varint(`header ${i} value length`), `header ${i} value`);
    headers.push([name, headerValue]);
  }
  return { headers, body: copy.subarray(reader.offset) };
}

/** Size of the slabs a RecordDecoder copies values into. */
const DECODE_SLAB_BYTES = 64 * 1024;
/** Values larger than this get a buffer of their own: a slab would hold only a few of them. */
const DECODE_SLAB_MAX_VALUE_BYTES = DECODE_SLAB_BYTES / 4;

/**
 * Decodes the values of one read session into `ReadRecord`s. It copies each value, as
 * `decodeRecordValue` does, but values up to 16 KiB go into 64 KiB slabs: a buffer of its own per
 * value cost more than all the rest of decoding it (a catch-up scan of 100-byte records spent
 * about a tenth of its time there). A value that is already a private copy (an SST scan's) is
 * not copied again: for 1 KiB records the second copy, and the garbage it made, cost more than
 * the rest of the session. The price: a body kept long after the read keeps its slab alive
 * (64 KiB, as an SST scan's copies do; 16 KiB slabs made a catch-up scan of 1 KiB records
 * allocate a buffer per 15 records); copy it to keep only its own bytes. Headers
 * and body of a record are views of its own bytes only: changing one record changes no other.
 */
export class RecordDecoder {
  readonly #slabs = new SlabAllocator({ slabBytes: DECODE_SLAB_BYTES, maxSlabbedBytes: DECODE_SLAB_MAX_VALUE_BYTES });

  /**
   * The record stored as `value` under (seqNum, timestamp); CorruptionError names `streamName`.
   * `isPrivate` says that `value` is already a copy that nothing else reads or writes (an SST
   * scan's, see isScanPrivate): the record's headers and body are then views of it, not copies.
   */
  decode(seqNum: number, timestamp: number, value: Uint8Array, streamName: string, isPrivate = false): ReadRecord {
    const length = value.length;
    if (isPrivate) {
      if (length >= 2 && value[0] === RECORD_FORMAT_V1 && value[1] === 0) {
        return { seqNum, timestamp, headers: [], body: new Uint8Array(value.buffer, value.byteOffset + 2, length - 2) };
      }
      return this.#decodeCopy(seqNum, timestamp, value, streamName);
    }
    // The common shape, no headers, without the general decoder (version 1, header count 0):
    // only the body is copied, and its copy is the only array made.
    if (length >= 2 && value[0] === RECORD_FORMAT_V1 && value[1] === 0) {
      return { seqNum, timestamp, headers: [], body: this.#slabs.copy(value, 2) };
    }
    return this.#decodeCopy(seqNum, timestamp, this.#slabs.copy(value), streamName);
  }

  #decodeCopy(seqNum: number, timestamp: number, copy: Uint8Array, streamName: string): ReadRecord {
    const { headers, body } = decodeCopy(copy, () => `stream ${JSON.stringify(streamName)} record ${seqNum}`);
    return { seqNum, timestamp, headers, body };
  }
}

// --- command records -------------------------------------------------------------------------

/** The header value of a fence command. */
export const FENCE_COMMAND = "fence";
/** The header value of a trim command. */
export const TRIM_COMMAND = "trim";

/** What a command record asks for. */
export type Command = { kind: "fence"; token: string } | { kind: "trim"; seqNum: number };

/**
 * A record that sets the stream's fencing token to `token` (at most 36 UTF-8 bytes; "" clears
 * it). Appends that carry another `fencingToken` fail from then on.
 */
export function fenceRecord(token: string): AppendRecord {
  return { headers: [["", FENCE_COMMAND]], body: token };
}

/**
 * A record that makes every record below `seqNum` unreadable (they are deleted in the
 * background). A trim never goes past the trim record itself, and a lower trim does nothing.
 */
export function trimRecord(seqNum: number): AppendRecord {
  if (!Number.isSafeInteger(seqNum) || seqNum < 0) {
    throw new ValidationError(`trim seqNum must be a safe integer >= 0, got ${String(seqNum)}`);
  }
  const body = new Uint8Array(8);
  writeU64(body, 0, seqNum);
  return { headers: [["", TRIM_COMMAND]], body };
}

/** True when the record has the command form's header: one header, with an empty name. */
export function hasCommandHeader(record: RecordLike): boolean {
  const headers = headerList(record.headers);
  return headers.length === 1 && byteLength(headers[0]![0]) === 0;
}

/**
 * Reads a trim command's 8-byte big-endian payload. Values past `Number.MAX_SAFE_INTEGER` are
 * lowered to it: a trim never passes its own record, so they all mean "trim everything before".
 */
export function decodeTrimPayload(body: Uint8Array): number {
  const seqNum = readU64(body, 0);
  return seqNum < 0 ? Number.MAX_SAFE_INTEGER : seqNum;
}
