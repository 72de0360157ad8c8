/**
 * The SST byte format (version 1): the streaming builder, the block and index decoders, and
 * SstInfo, the summary the manifest keeps for each SST. Reading an SST from the store (ranged
 * GETs, readahead, the block cache) is sst-reader.ts; the design is docs/decisions/0002.
 *
 * Data flow: a frozen memtable or a compaction feeds sorted entries to `SstBuilder.add()`;
 * `finish()` returns the object's bytes (PUT as `sst/<id>`) and its SstInfo (stored in the
 * manifest). Readers decode only what they fetch: the index at open, then single data blocks.
 *
 * Invariants (asserted by the builder, checked by the decoders):
 *   - entries are in (key ascending, seq descending) order, with no duplicate (key, seq);
 *   - keys are non-empty; seqs are safe integers >= 1; expireAtMs is 0 or a safe integer;
 *   - data blocks tile [0, indexOffset) in order, the index block follows them and the footer
 *     follows the index: nothing in the object is outside a checksum;
 *   - index entry i holds block i's first and last key, and lastKey[i] <= firstKey[i + 1]
 *     (equal when the versions of one key straddle the two blocks).
 */
import { assert, CorruptionError, ValidationError } from "../errors.js";
import {
  DEFAULT_SST_BLOCK_BYTES,
  MAX_SST_BLOCK_BYTES,
  MAX_SST_BUILDER_CAPACITY_BYTES,
  MAX_SST_BUILDER_CHUNK_BYTES,
  MIN_SST_BLOCK_BYTES,
  MIN_SST_BUILDER_CAPACITY_BYTES,
  ROW_COPY_SLAB_BYTES,
} from "../limits.js";
import { copyOf, readU64, unzeroedBytes, writeU32, writeU64 } from "../util/bytes.js";
import { checksum32 } from "../util/checksum.js";
import { MAX_VARINT_U32, readVarint, varintBytes, writeVarint, type ByteCursor } from "../util/varint.js";
import { compareKeys, type Entry } from "./entry.js";

/*
 * SST format, version 1. Integers are big-endian (as in every durastream format); "varint" is
 * an unsigned LEB128 u32 (src/util/varint.ts). u64 fields hold safe integers (< 2^53).
 *
 *   +--------------+-----+----------------+-------------+------------------+
 *   | data block 0 | ... | data block n-1 | index block | footer, 36 bytes |
 *   +--------------+-----+----------------+-------------+------------------+
 *   0                                     indexOffset   size - 36        size
 *
 * Stored block (data blocks and the index block alike)
 *   | field    | width      | meaning                                                   |
 *   |----------|------------|-----------------------------------------------------------|
 *   | payload  | length - 4 | the block's contents, below                                |
 *   | checksum | u32        | xxhash32 of the payload (every stored byte before it)      |
 *
 * Data block payload: rows, then the restart array
 *   | field        | width    | meaning                                                   |
 *   |--------------|----------|-----------------------------------------------------------|
 *   | rows         | ...      | one row per entry, in entry order                         |
 *   | restart[r]   | u32 each | payload offset of every 16th row (rows 0, 16, 32, ...)    |
 *   | restartCount | u32      | r >= 1; restart[0] = 0                                    |
 *
 * Row (key prefix-compressed against the previous row of the same block)
 *   | field      | width    | meaning                                                     |
 *   |------------|----------|-------------------------------------------------------------|
 *   | shared     | varint   | leading key bytes equal to the previous row's; 0 at restarts|
 *   | unshared   | varint   | key bytes that follow                                       |
 *   | keySuffix  | unshared | key[shared ..]                                              |
 *   | seq        | u64      | engine sequence number, >= 1                                |
 *   | flags      | u8       | bit 0: tombstone; bit 1: has expiry; other bits are 0       |
 *   | expireAtMs | u64      | only with the has-expiry flag; > 0                          |
 *   | valueLen   | varint   | only without the tombstone flag                             |
 *   | value      | valueLen | only without the tombstone flag                             |
 *
 * Index block payload
 *   | field         | width  | meaning                                                   |
 *   |---------------|--------|-----------------------------------------------------------|
 *   | blockCount    | u32    | n >= 1                                                    |
 *   | entryCount    | u64    | entries in the SST                                        |
 *   | minSeq        | u64    | smallest seq of any entry                                 |
 *   | maxSeq        | u64    | largest seq of any entry                                  |
 *   | minExpireAtMs | u64    | smallest non-zero expireAtMs; 0 when no entry expires     |
 *   | per block, n times:                                                                |
 *   |   offset      | u64    | object offset of the stored block                         |
 *   |   length      | u32    | stored length, checksum included                          |
 *   |   firstKeyLen | varint | then firstKey: the block's first key, in full             |
 *   |   lastKeyLen  | varint | then lastKey: the block's last key, in full               |
 *
 * Footer (fixed, the last 36 bytes)
 *   | offset | field         | width | meaning                                            |
 *   |--------|---------------|-------|----------------------------------------------------|
 *   | 0      | checksum      | u32   | xxhash32 of footer bytes [4, 36): all fields below |
 *   | 4      | indexOffset   | u64   | object offset of the stored index block            |
 *   | 12     | indexLength   | u32   | stored index length, checksum included             |
 *   | 16     | entryCount    | u64   | entries in the SST (the index repeats it)          |
 *   | 24     | reserved      | u16   | 0                                                  |
 *   | 26     | formatVersion | u16   | 1                                                  |
 *   | 28     | magic         | 8     | 44 53 53 54 0D 0A 1A 0A ("DSST\r\n\x1a\n")         |
 *
 * The version and magic stay the last 10 bytes in every future version, so any reader can
 * tell "not an SST" from "an SST of a version I do not know". The magic's CR LF and ^Z catch
 * an object mangled by a text-mode transfer (the PNG trick). A format change bumps the version
 * and adds a golden file under tests/engine/golden/.
 */

export const SST_FORMAT_VERSION = 1;
export const SST_MAGIC: Uint8Array = Uint8Array.of(0x44, 0x53, 0x53, 0x54, 0x0d, 0x0a, 0x1a, 0x0a);
export const SST_FOOTER_BYTES = 36;
export const BLOCK_CHECKSUM_BYTES = 4;
/** Rows between restart points: a seek decodes at most this many rows after its binary search. */
export const RESTART_INTERVAL = 16;

const FLAG_TOMBSTONE = 0x01;
const FLAG_HAS_EXPIRY = 0x02;
const KNOWN_FLAGS = FLAG_TOMBSTONE | FLAG_HAS_EXPIRY;
/** Fixed part of the index payload: blockCount, entryCount, minSeq, maxSeq, minExpireAtMs. */
const INDEX_HEADER_BYTES = 4 + 8 * 4;
/** A data block's fixed trailer: the restart count (u32) and the checksum. */
const BLOCK_TRAILER_BYTES = 4 + BLOCK_CHECKSUM_BYTES;
/** An index handle's fixed part at most: offset u64, length u32, two key lengths as varints. */
const INDEX_HANDLE_FIXED_BYTES = 8 + 4 + 2 * 5;

// ---------------------------------------------------------------------------------------------
// SstInfo: what the manifest stores about an SST, so that opening one needs no footer read.
// ---------------------------------------------------------------------------------------------

/** A plain JSON-serialisable summary of one SST, produced by `SstBuilder.finish()`. */
export interface SstInfo {
  formatVersion: number;
  /** Size of the whole object. */
  sizeBytes: number;
  entryCount: number;
  /** Smallest key, base64. */
  firstKey: string;
  /** Largest key, base64. */
  lastKey: string;
  minSeq: number;
  maxSeq: number;
  /** Smallest non-zero expireAtMs of any entry; absent when no entry expires. */
  minExpireAtMs?: number;
  /** Offset and stored length of the index block. */
  indexOffset: number;
  indexLength: number;
}

/** Returns a validated copy of `info`, fit for JSON.stringify (fields in a fixed order). */
export function sstInfoToJson(info: SstInfo, source = "sst info"): SstInfo {
  return sstInfoFromJson(info, source);
}

/**
 * Validates a parsed JSON value as an SstInfo and returns a clean copy. Anything malformed
 * (a missing or mistyped field, bad base64, inconsistent sizes) is a CorruptionError naming
 * `source` (the manifest's key, typically).
 */
export function sstInfoFromJson(value: unknown, source = "sst info"): SstInfo {
  const fail = (detail: string): never => {
    throw new CorruptionError(source, `invalid SstInfo: ${detail}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("not an object");
  const raw = value as Record<string, unknown>;
  const int = (name: string, min: number): number => {
    const field = raw[name];
    if (typeof field !== "number" || !Number.isSafeInteger(field) || field < min) {
      return fail(`${name} must be a safe integer >= ${min}, got ${JSON.stringify(field)}`);
    }
    return field;
  };
  const info: SstInfo = {
    formatVersion: int("formatVersion", 1),
    sizeBytes: int("sizeBytes", SST_FOOTER_BYTES),
    entryCount: int("entryCount", 1),
    firstKey: base64Field(raw, "firstKey", fail),
    lastKey: base64Field(raw, "lastKey", fail),
    minSeq: int("minSeq", 1),
    maxSeq: int("maxSeq", 1),
    indexOffset: int("indexOffset", 0),
    indexLength: int("indexLength", BLOCK_CHECKSUM_BYTES + INDEX_HEADER_BYTES),
  };
  if (raw.minExpireAtMs !== undefined) info.minExpireAtMs = int("minExpireAtMs", 1);
  checkInfoConsistency(info, fail);
  return info;
}

function base64Field(raw: Record<string, unknown>, name: string, fail: (detail: string) => never): string {
  const field = raw[name];
  if (typeof field !== "string" || field.length === 0) return fail(`${name} must be a non-empty base64 string`);
  // Buffer's decoder skips bad characters silently; a round trip catches them.
  if (Buffer.from(field, "base64").toString("base64") !== field) return fail(`${name} is not canonical base64`);
  return field;
}

function checkInfoConsistency(info: SstInfo, fail: (detail: string) => never): void {
  if (info.formatVersion !== SST_FORMAT_VERSION) fail(`unknown SST format version ${info.formatVersion}`);
  if (info.minSeq > info.maxSeq) fail(`minSeq ${info.minSeq} > maxSeq ${info.maxSeq}`);
  if (compareKeys(sstInfoFirstKey(info), sstInfoLastKey(info)) > 0) fail("firstKey > lastKey");
  if (info.indexOffset + info.indexLength + SST_FOOTER_BYTES !== info.sizeBytes) {
    fail(`index [${info.indexOffset}, +${info.indexLength}) plus the footer does not end at sizeBytes ${info.sizeBytes}`);
  }
}

export function sstInfoFirstKey(info: SstInfo): Uint8Array {
  return new Uint8Array(Buffer.from(info.firstKey, "base64"));
}

export function sstInfoLastKey(info: SstInfo): Uint8Array {
  return new Uint8Array(Buffer.from(info.lastKey, "base64"));
}

function toBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("base64");
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/**
 * The builder's output: big-endian writers over one buffer, or a list of chunks once that buffer
 * is full. A caller that knows an upper bound of the SST's size passes it as the capacity: the
 * SST is then written into one buffer and `finish()` returns a view of it, so that the builder
 * never holds the object twice (a 64 MiB compaction output used to be 64 MiB of chunks plus its
 * 64 MiB concatenation while it was PUT). Past the capacity, writing goes on in chunks, so that
 * growing never copies what is written, and `finish()` copies every byte exactly once. A block
 * never straddles two chunks, because its checksum is computed over one contiguous array:
 * `reserve()` moves the open block (a few KiB at most) to the new chunk when it does not fit.
 *
 *   chunks: [ blocks 0..k ][ blocks k+1..m ][ current: open block | free ]
 *                                                   ^ blockStart    ^ pos
 */
class OutputBuffer {
  bytes: Uint8Array;
  view: DataView;
  /** Write position in `bytes`. */
  pos = 0;
  readonly #chunks: Uint8Array[] = [];
  /** Object offset of `bytes[0]`. */
  #base = 0;
  /** Position in `bytes` where the open block starts. */
  #blockStart = 0;

  /**
   * `buffer`: where to build (its old bytes are overwritten), instead of a fresh one of
   * `firstChunkBytes`. It may start anywhere in its ArrayBuffer (an aligned part of a larger
   * one, store/direct-write.ts): `view` covers exactly `bytes`.
   */
  constructor(firstChunkBytes: number, buffer?: Uint8Array) {
    this.bytes = buffer ?? unzeroedBytes(firstChunkBytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** Object offset of the next byte written. */
  get offset(): number {
    return this.#base + this.pos;
  }

  /** Marks the start of a block (data, index or footer) and returns its object offset. */
  startBlock(): number {
    this.#blockStart = this.pos;
    return this.offset;
  }

  /** Makes room for `extraBytes` more bytes in the current chunk, moving the open block if needed. */
  reserve(extraBytes: number): void {
    if (this.pos + extraBytes <= this.bytes.length) return;
    const openBlock = this.bytes.subarray(this.#blockStart, this.pos);
    this.#chunks.push(this.bytes.subarray(0, this.#blockStart));
    this.#base += this.#blockStart;
    const nextChunkBytes = Math.min(this.bytes.length * 2, MAX_SST_BUILDER_CHUNK_BYTES);
    this.bytes = unzeroedBytes(Math.max(nextChunkBytes, openBlock.length + extraBytes));
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.bytes.set(openBlock);
    this.pos = openBlock.length;
    this.#blockStart = 0;
  }

  // The writers below assume the caller reserved room first.
  u8(value: number): void {
    this.bytes[this.pos++] = value;
  }

  u16(value: number): void {
    this.view.setUint16(this.pos, value);
    this.pos += 2;
  }

  u32(value: number): void {
    writeU32(this.bytes, this.pos, value);
    this.pos += 4;
  }

  u64(value: number): void {
    writeU64(this.bytes, this.pos, value);
    this.pos += 8;
  }

  varint(value: number): void {
    this.pos = writeVarint(this.bytes, this.pos, value);
  }

  raw(value: Uint8Array): void {
    this.rawFrom(value, 0);
  }

  /** Writes value[from ..] without creating a view of it. */
  rawFrom(value: Uint8Array, from: number): void {
    const length = value.length - from;
    if (length <= 32) {
      // A loop beats TypedArray.set for the short keys that dominate an SST.
      const bytes = this.bytes;
      for (let i = 0; i < length; i++) bytes[this.pos + i] = value[from + i] as number;
    } else {
      this.bytes.set(from === 0 ? value : value.subarray(from), this.pos);
    }
    this.pos += length;
  }

  /** The open block's bytes from `from` (relative to the block start) to the write position. */
  blockBytes(from = 0): Uint8Array {
    return this.bytes.subarray(this.#blockStart + from, this.pos);
  }

  /** Overwrites a u32 inside the open block (the footer's checksum, written last). */
  setBlockU32(at: number, value: number): void {
    writeU32(this.bytes, this.#blockStart + at, value);
  }

  /**
   * All bytes written, as one array: a view of the first buffer when everything fit in it (no
   * copy), else one exactly-sized copy of the chunks. The buffer is unusable afterwards and
   * drops its chunks, so that they can be freed while the caller PUTs the result.
   */
  finish(): Uint8Array {
    let out: Uint8Array;
    if (this.#chunks.length === 0) {
      out = this.bytes.subarray(0, this.pos);
    } else {
      out = unzeroedBytes(this.offset);
      let at = 0;
      for (const chunk of this.#chunks) {
        out.set(chunk, at);
        at += chunk.length;
      }
      out.set(this.bytes.subarray(0, this.pos), at);
    }
    this.#chunks.length = 0;
    this.bytes = new Uint8Array(0);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.pos = 0;
    return out;
  }
}


/** One data block's entry in the index. */
export interface BlockHandle {
  offset: number;
  /** Stored length, checksum included. */
  length: number;
  firstKey: Uint8Array;
  lastKey: Uint8Array;
}

/** Index metadata that lets a reader rebuild the SstInfo without scanning the data. */
interface SstStats {
  entryCount: number;
  minSeq: number;
  maxSeq: number;
  /** 0 when no entry expires. */
  minExpireAtMs: number;
}

export interface SstBuilderOptions {
  /** Target stored size of a data block, in bytes (default and range: DEFAULT_SST_BLOCK_BYTES and MIN_/MAX_SST_BLOCK_BYTES in limits.ts). A larger row gets a block of its own. */
  blockBytes?: number;
  /**
   * Size of the output buffer allocated up front, in bytes: pass an upper bound of the SST's size
   * (`SstSizeBound`, `sizeBoundWith()`) and `finish()` returns a view of that buffer instead of a
   * copy. An SST that outgrows it is still built correctly, in chunks and copied once at the end.
   * Default: a 64 KiB buffer that grows in chunks.
   */
  capacityBytes?: number;
  /**
   * A buffer to build in instead of a fresh one (a reused one: SstOutputBuffers), at least
   * `capacityBytes` long (the capacity, when not given, is its length); its old bytes are
   * overwritten. The caller must not touch it until the bytes `finish()` returns are no longer needed.
   */
  buffer?: Uint8Array;
}

/**
 * Builds one SST from entries added in order. Memory: the encoded SST so far (the caller PUTs
 * it whole; one buffer of `capacityBytes` when the SST fits in it, twice the SST's size during
 * `finish()` when it does not) plus two keys per block for the index.
 *
 * The builder keeps a reference to the last added key until the next `add` (prefix
 * compression and the order check read it): callers must not mutate keys they added.
 */
export class SstBuilder {
  readonly #blockBytes: number;
  readonly #capacityBytes: number;
  readonly #out: OutputBuffer;
  readonly #handles: BlockHandle[] = [];
  readonly #stats: SstStats = { entryCount: 0, minSeq: Number.MAX_SAFE_INTEGER, maxSeq: 0, minExpireAtMs: 0 };
  #restarts: number[] = [];
  #blockStart = 0;
  #rowsInBlock = 0;
  #blockFirstKey: Uint8Array | undefined;
  #prevKey: Uint8Array | undefined;
  #prevSeq = 0;
  #indexKeyBytes = 0;
  #finished = false;

  constructor(options: SstBuilderOptions = {}) {
    const blockBytes = options.blockBytes ?? DEFAULT_SST_BLOCK_BYTES;
    if (!Number.isSafeInteger(blockBytes) || blockBytes < MIN_SST_BLOCK_BYTES || blockBytes > MAX_SST_BLOCK_BYTES) {
      throw new ValidationError(`blockBytes must be an integer in [${MIN_SST_BLOCK_BYTES}, ${MAX_SST_BLOCK_BYTES}], got ${blockBytes}`);
    }
    const capacityBytes = options.capacityBytes ?? options.buffer?.length ?? Math.max(MIN_SST_BUILDER_CAPACITY_BYTES, blockBytes * 2);
    assert(options.buffer === undefined || options.buffer.length >= capacityBytes, () => `a buffer of ${options.buffer?.length} bytes for a capacity of ${capacityBytes}`);
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < SST_FOOTER_BYTES || capacityBytes > MAX_SST_BUILDER_CAPACITY_BYTES) {
      throw new ValidationError(`capacityBytes must be an integer in [${SST_FOOTER_BYTES}, ${MAX_SST_BUILDER_CAPACITY_BYTES}], got ${capacityBytes}`);
    }
    this.#blockBytes = blockBytes;
    this.#capacityBytes = capacityBytes;
    this.#out = new OutputBuffer(capacityBytes, options.buffer);
    this.#blockStart = this.#out.startBlock();
  }

  /**
   * An upper bound of the size `finish()` returns if `entry` is added next (and nothing after
   * it). A caller that must keep an SST within a size checks this before `add()`.
   */
  sizeBoundWith(entry: Entry): number {
    // The open block closes (its trailer), the entry may open a new block (one restart, a
    // trailer) and the index gains up to two handles with their keys in full.
    const openBlockKeys = this.#rowsInBlock > 0 ? (this.#blockFirstKey?.length ?? 0) + (this.#prevKey?.length ?? 0) : 0;
    const data = this.#out.offset + encodedRowBytes(entry, 0) + 4 * (this.#restarts.length + 1) + 2 * BLOCK_TRAILER_BYTES;
    const index = indexStoredBound(this.#handles.length + 2, this.#indexKeyBytes + openBlockKeys + 2 * entry.key.length);
    return data + index + SST_FOOTER_BYTES;
  }

  /** Size of the output buffer allocated up front: an SST within it is finished without a copy. */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  /** Entries added so far. */
  get entryCount(): number {
    return this.#stats.entryCount;
  }

  /** The size `finish()` would produce now, give or take a few index bytes. */
  get estimatedBytes(): number {
    const openBlockTrailer = this.#rowsInBlock > 0 ? 4 * this.#restarts.length + 4 + BLOCK_CHECKSUM_BYTES : 0;
    const indexBytes = INDEX_HEADER_BYTES + BLOCK_CHECKSUM_BYTES + (this.#handles.length + 1) * 22 + this.#indexKeyBytes;
    return this.#out.offset + openBlockTrailer + indexBytes + SST_FOOTER_BYTES;
  }

  /** Appends one entry; it must sort strictly after the previous one (key asc, seq desc). */
  add(entry: Entry): void {
    assert(!this.#finished, "SstBuilder.add() after finish()");
    checkEntryFields(entry);
    let shared = this.#checkOrderAndShare(entry);
    let rowBytes = encodedRowBytes(entry, shared);
    if (this.#rowsInBlock > 0 && this.#blockStoredBytes() + rowBytes + 4 > this.#blockBytes) {
      this.#closeBlock();
      shared = 0;
      rowBytes = encodedRowBytes(entry, 0);
    }
    if (this.#rowsInBlock % RESTART_INTERVAL === 0) {
      shared = 0;
      rowBytes = encodedRowBytes(entry, 0);
      this.#restarts.push(this.#out.offset - this.#blockStart);
    }
    if (this.#rowsInBlock === 0) this.#blockFirstKey = entry.key;
    this.#writeRow(entry, shared, rowBytes);
    this.#rowsInBlock++;
    this.#prevKey = entry.key;
    this.#prevSeq = entry.seq;
    this.#recordStats(entry);
  }

  /** Closes the SST and returns its bytes and SstInfo. The builder is unusable afterwards. */
  finish(): { bytes: Uint8Array; info: SstInfo } {
    assert(!this.#finished, "SstBuilder.finish() called twice");
    assert(this.#stats.entryCount > 0, "an SST must hold at least one entry; do not build an empty one");
    this.#finished = true;
    this.#closeBlock();
    const indexOffset = this.#out.offset;
    this.#writeIndex();
    const indexLength = this.#out.offset - indexOffset;
    this.#writeFooter(indexOffset, indexLength);
    const bytes = this.#out.finish();
    const info = this.#info(bytes.length, indexOffset, indexLength);
    checkFinishedObject(bytes, info); // pair assertion: decode what was just encoded
    return { bytes, info };
  }

  /** Asserts the order and returns the key bytes shared with the previous key. */
  #checkOrderAndShare(entry: Entry): number {
    const prev = this.#prevKey;
    if (prev === undefined) return 0;
    const key = entry.key;
    const limit = Math.min(prev.length, key.length);
    let shared = 0;
    while (shared < limit && prev[shared] === key[shared]) shared++;
    const order = shared < limit ? (prev[shared] as number) - (key[shared] as number) : prev.length - key.length;
    if (order > 0 || (order === 0 && entry.seq >= this.#prevSeq)) {
      // The message is built only on failure: add() is the builder's hot loop.
      assert(
        false,
        `SstBuilder.add(): entries out of order (key ascending, then seq descending): seq ${entry.seq} after seq ${this.#prevSeq}` +
          (order === 0 ? " of the same key" : " of a larger key"),
      );
    }
    return shared;
  }

  /** Stored size of the open block if it were closed now. */
  #blockStoredBytes(): number {
    return this.#out.offset - this.#blockStart + 4 * this.#restarts.length + 4 + BLOCK_CHECKSUM_BYTES;
  }

  #writeRow(entry: Entry, shared: number, rowBytes: number): void {
    const out = this.#out;
    out.reserve(rowBytes);
    const start = out.offset;
    out.varint(shared);
    out.varint(entry.key.length - shared);
    out.rawFrom(entry.key, shared);
    out.u64(entry.seq);
    const flags = (entry.value === null ? FLAG_TOMBSTONE : 0) | (entry.expireAtMs !== 0 ? FLAG_HAS_EXPIRY : 0);
    out.u8(flags);
    if (entry.expireAtMs !== 0) out.u64(entry.expireAtMs);
    if (entry.value !== null) {
      out.varint(entry.value.length);
      out.raw(entry.value);
    }
    assert(out.offset - start === rowBytes, () => `row size ${out.offset - start} differs from its estimate ${rowBytes}`);
  }

  #recordStats(entry: Entry): void {
    const stats = this.#stats;
    stats.entryCount++;
    if (entry.seq < stats.minSeq) stats.minSeq = entry.seq;
    if (entry.seq > stats.maxSeq) stats.maxSeq = entry.seq;
    if (entry.expireAtMs !== 0 && (stats.minExpireAtMs === 0 || entry.expireAtMs < stats.minExpireAtMs)) {
      stats.minExpireAtMs = entry.expireAtMs;
    }
  }

  #closeBlock(): void {
    if (this.#rowsInBlock === 0) return;
    const out = this.#out;
    out.reserve(4 * this.#restarts.length + 4 + BLOCK_CHECKSUM_BYTES);
    for (const restart of this.#restarts) out.u32(restart);
    out.u32(this.#restarts.length);
    out.u32(checksum32(out.blockBytes()));
    const firstKey = this.#blockFirstKey;
    const lastKey = this.#prevKey;
    assert(firstKey !== undefined && lastKey !== undefined, "a non-empty block has a first and a last key");
    // Copies: the index must not change if a caller later reuses its key buffers.
    this.#handles.push({ offset: this.#blockStart, length: out.offset - this.#blockStart, firstKey: copyOf(firstKey), lastKey: copyOf(lastKey) });
    this.#indexKeyBytes += firstKey.length + lastKey.length;
    this.#blockStart = out.startBlock();
    this.#restarts = [];
    this.#rowsInBlock = 0;
    this.#blockFirstKey = undefined;
  }

  #writeIndex(): void {
    const out = this.#out;
    out.startBlock();
    const stats = this.#stats;
    out.reserve(indexStoredBound(this.#handles.length, this.#indexKeyBytes));
    out.u32(this.#handles.length);
    out.u64(stats.entryCount);
    out.u64(stats.minSeq);
    out.u64(stats.maxSeq);
    out.u64(stats.minExpireAtMs);
    for (const handle of this.#handles) {
      out.u64(handle.offset);
      out.u32(handle.length);
      out.varint(handle.firstKey.length);
      out.raw(handle.firstKey);
      out.varint(handle.lastKey.length);
      out.raw(handle.lastKey);
    }
    out.u32(checksum32(out.blockBytes()));
  }

  #writeFooter(indexOffset: number, indexLength: number): void {
    const out = this.#out;
    out.startBlock();
    out.reserve(SST_FOOTER_BYTES);
    out.u32(0); // the checksum, filled in below once the fields after it are written
    out.u64(indexOffset);
    out.u32(indexLength);
    out.u64(this.#stats.entryCount);
    out.u16(0);
    out.u16(SST_FORMAT_VERSION);
    out.raw(SST_MAGIC);
    out.setBlockU32(0, checksum32(out.blockBytes(4)));
  }

  #info(sizeBytes: number, indexOffset: number, indexLength: number): SstInfo {
    const first = this.#handles[0];
    const last = this.#handles[this.#handles.length - 1];
    assert(first !== undefined && last !== undefined, "a finished SST has at least one block");
    const stats = this.#stats;
    const info: SstInfo = {
      formatVersion: SST_FORMAT_VERSION,
      sizeBytes,
      entryCount: stats.entryCount,
      firstKey: toBase64(first.firstKey),
      lastKey: toBase64(last.lastKey),
      minSeq: stats.minSeq,
      maxSeq: stats.maxSeq,
      indexOffset,
      indexLength,
    };
    if (stats.minExpireAtMs !== 0) info.minExpireAtMs = stats.minExpireAtMs;
    return info;
  }
}

/**
 * An upper bound of the size of an SST built from any ordered subset of the entries added here,
 * with blocks of `blockBytes`: the L0 flusher sizes its builder with it before it starts, so
 * that the SST is written into one buffer (SstBuilderOptions.capacityBytes) and never copied.
 *
 * With T the rows' bytes without prefix compression, N the entries and K the longest key, an
 * SST has at most B = min(N, 1 + (2T + N/4 + 12) / (blockBytes - 16)) blocks: a block closes only
 * when its stored bytes S plus the next row r plus 4 exceed blockBytes, and summed over the
 * closed blocks (the S tile the data, the r are distinct rows) that gives
 * (B - 1)(blockBytes - 4) < (T + N/4 + 12B) + T. The size is then at most the rows (T), the
 * restart points (one u32 per 16 rows and per block), the block trailers, the index (at most
 * 22 + 2K bytes per block) and the footer.
 */
export class SstSizeBound {
  #rowBytes = 0;
  #entries = 0;
  #maxKeyBytes = 0;

  add(entry: Entry): void {
    this.#rowBytes += encodedRowBytes(entry, 0);
    this.#entries++;
    if (entry.key.length > this.#maxKeyBytes) this.#maxKeyBytes = entry.key.length;
  }

  /** The bound for blocks of `blockBytes` (as given to SstBuilder). */
  bytes(blockBytes: number): number {
    const n = this.#entries;
    const blocks = Math.min(n, 1 + Math.floor((2 * this.#rowBytes + Math.ceil(n / 4) + 12) / (blockBytes - 16)));
    const restartBytes = 4 * (Math.ceil(n / RESTART_INTERVAL) + blocks);
    const data = this.#rowBytes + restartBytes + blocks * BLOCK_TRAILER_BYTES;
    return data + indexStoredBound(blocks, blocks * 2 * this.#maxKeyBytes) + SST_FOOTER_BYTES;
  }
}

/** Stored size of an index block of `handles` handles whose keys total `keyBytes`, at most. */
function indexStoredBound(handles: number, keyBytes: number): number {
  return INDEX_HEADER_BYTES + handles * INDEX_HANDLE_FIXED_BYTES + keyBytes + BLOCK_CHECKSUM_BYTES;
}

/** Asserts the fields of one entry; messages are lazy, built only on failure (this runs per entry). */
function checkEntryFields(entry: Entry): void {
  const { key, seq, value, expireAtMs } = entry;
  assert(key.length > 0 && key.length <= MAX_VARINT_U32, () => `SST keys must be 1 byte to 4 GiB long, got ${key.length} bytes`);
  assert(Number.isSafeInteger(seq) && seq >= 1, () => `SST entry seq must be a safe integer >= 1, got ${seq}`);
  assert(Number.isSafeInteger(expireAtMs) && expireAtMs >= 0, () => `SST entry expireAtMs must be a safe integer >= 0, got ${expireAtMs}`);
  assert(value === null || value.length <= MAX_VARINT_U32, "SST values must be shorter than 4 GiB");
}

function encodedRowBytes(entry: Entry, shared: number): number {
  const unshared = entry.key.length - shared;
  let bytes = varintBytes(shared) + varintBytes(unshared) + unshared + 8 + 1;
  if (entry.expireAtMs !== 0) bytes += 8;
  if (entry.value !== null) bytes += varintBytes(entry.value.length) + entry.value.length;
  return bytes;
}

/** The builder's pair assertion: the footer and index it wrote decode to what it meant. */
function checkFinishedObject(bytes: Uint8Array, info: SstInfo): void {
  const source = "SstBuilder output";
  const footer = decodeFooter(source, bytes.subarray(bytes.length - SST_FOOTER_BYTES), bytes.length);
  assert(footer.indexOffset === info.indexOffset && footer.indexLength === info.indexLength, "footer does not match the SST");
  const stored = bytes.subarray(info.indexOffset, info.indexOffset + info.indexLength);
  const index = decodeIndex(source, verifyStoredBlock(source, info.indexOffset, stored), info.indexOffset);
  assert(index.entryCount === info.entryCount && index.handles.length > 0, "index does not match the SST");
  checkIndexAgainstInfo(source, index, info);
}

// ---------------------------------------------------------------------------------------------
// Decoding. Every function takes `source` (the object key) for its CorruptionErrors.
// ---------------------------------------------------------------------------------------------

export interface SstFooter {
  indexOffset: number;
  indexLength: number;
  entryCount: number;
  formatVersion: number;
}

/** The big-endian u64 at `pos` (util/bytes.ts readU64); CorruptionError when it is not a safe integer. */
function readSafeU64(bytes: Uint8Array, pos: number, source: string, what: string): number {
  const value = readU64(bytes, pos);
  if (value < 0) throw new CorruptionError(source, `${what} is not a safe integer`);
  return value;
}

/**
 * The same bytes as a plain Uint8Array. Stores may hand out Buffers, whose `slice()` is a view,
 * not a copy: the decoders rely on `slice()` copying.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes the 36-byte footer of an object of `objectBytes` bytes. Checks, in this order, the
 * magic, the version, the checksum and that the index lies between the data and the footer.
 */
export function decodeFooter(source: string, footer: Uint8Array, objectBytes: number): SstFooter {
  if (footer.length !== SST_FOOTER_BYTES) {
    throw new CorruptionError(source, `footer is ${footer.length} bytes, expected ${SST_FOOTER_BYTES} (truncated object?)`);
  }
  const magic = footer.subarray(SST_FOOTER_BYTES - SST_MAGIC.length);
  if (compareKeys(magic, SST_MAGIC) !== 0) {
    throw new CorruptionError(source, "bad magic at the end of the object: not a durastream SST, or truncated");
  }
  const view = viewOf(footer);
  const formatVersion = view.getUint16(26);
  if (formatVersion !== SST_FORMAT_VERSION) {
    throw new CorruptionError(source, `unknown SST format version ${formatVersion} (this build reads version ${SST_FORMAT_VERSION})`);
  }
  if (view.getUint32(0) !== checksum32(footer.subarray(4))) throw new CorruptionError(source, "footer checksum mismatch");
  if (view.getUint16(24) !== 0) throw new CorruptionError(source, "footer reserved field is not zero");
  const result: SstFooter = {
    indexOffset: readSafeU64(footer, 4, source, "footer indexOffset"),
    indexLength: view.getUint32(12),
    entryCount: readSafeU64(footer, 16, source, "footer entryCount"),
    formatVersion,
  };
  if (result.indexOffset + result.indexLength + SST_FOOTER_BYTES !== objectBytes) {
    throw new CorruptionError(
      source,
      `footer places the index at [${result.indexOffset}, +${result.indexLength}), which does not end where the footer of a ${objectBytes}-byte object starts`,
    );
  }
  return result;
}

/**
 * Checks a stored block's trailing checksum and returns its payload (a view of `stored`).
 * `offset` is only for the error message.
 */
export function verifyStoredBlock(source: string, offset: number, stored: Uint8Array): Uint8Array {
  if (stored.length < BLOCK_CHECKSUM_BYTES) {
    throw new CorruptionError(source, `block at offset ${offset} is ${stored.length} bytes, shorter than its checksum`);
  }
  const payload = stored.subarray(0, stored.length - BLOCK_CHECKSUM_BYTES);
  const expected = viewOf(stored).getUint32(payload.length);
  if (checksum32(payload) !== expected) {
    throw new CorruptionError(source, `checksum mismatch in the block at offset ${offset} (${stored.length} bytes)`);
  }
  return payload;
}

/** A decoded index: one handle per data block, plus the SST's stats. */
export interface SstIndex extends SstStats {
  handles: BlockHandle[];
}

/**
 * Decodes a verified index payload. Checks that the blocks tile [0, indexOffset) in order and
 * that their keys are ordered, so that every later lookup can trust the handles. The handles'
 * keys are views of `payload`, which must therefore never change.
 */
export function decodeIndex(source: string, indexPayload: Uint8Array, indexOffset: number): SstIndex {
  const payload = plainBytes(indexPayload);
  const fail = (detail: string): never => {
    throw new CorruptionError(source, `index block: ${detail}`);
  };
  if (payload.length < INDEX_HEADER_BYTES) fail(`payload of ${payload.length} bytes is shorter than its header`);
  const view = viewOf(payload);
  const blockCount = view.getUint32(0);
  const index: SstIndex = {
    handles: [],
    entryCount: readSafeU64(payload, 4, source, "index entryCount"),
    minSeq: readSafeU64(payload, 12, source, "index minSeq"),
    maxSeq: readSafeU64(payload, 20, source, "index maxSeq"),
    minExpireAtMs: readSafeU64(payload, 28, source, "index minExpireAtMs"),
  };
  if (blockCount < 1 || index.entryCount < blockCount) fail(`${blockCount} blocks for ${index.entryCount} entries`);
  if (index.minSeq < 1 || index.minSeq > index.maxSeq) fail(`seq range [${index.minSeq}, ${index.maxSeq}] is invalid`);
  const cursor: ByteCursor = { pos: INDEX_HEADER_BYTES };
  let expectedOffset = 0;
  for (let i = 0; i < blockCount; i++) {
    const handle = decodeHandle(payload, view, cursor, fail);
    if (handle.offset !== expectedOffset) fail(`block ${i} starts at ${handle.offset}, expected ${expectedOffset}`);
    if (compareKeys(handle.firstKey, handle.lastKey) > 0) fail(`block ${i} has firstKey > lastKey`);
    const prev = index.handles[i - 1];
    if (prev !== undefined && compareKeys(prev.lastKey, handle.firstKey) > 0) fail(`blocks ${i - 1} and ${i} overlap`);
    index.handles.push(handle);
    expectedOffset = handle.offset + handle.length;
  }
  if (cursor.pos !== payload.length) fail(`${payload.length - cursor.pos} unexpected bytes after the last block handle`);
  if (expectedOffset !== indexOffset) fail(`data blocks end at ${expectedOffset}, but the index starts at ${indexOffset}`);
  return index;
}

function decodeHandle(payload: Uint8Array, view: DataView, cursor: ByteCursor, fail: (detail: string) => never): BlockHandle {
  if (cursor.pos + 12 > payload.length) fail("truncated block handle");
  const offset = readU64(payload, cursor.pos);
  if (offset < 0) fail("block offset is not a safe integer");
  const length = view.getUint32(cursor.pos + 8);
  if (length <= BLOCK_CHECKSUM_BYTES + 4) fail(`block at ${offset} has an impossible length ${length}`);
  cursor.pos += 12;
  const firstKey = readIndexKey(payload, cursor, fail);
  const lastKey = readIndexKey(payload, cursor, fail);
  return { offset, length, firstKey, lastKey };
}

function readIndexKey(payload: Uint8Array, cursor: ByteCursor, fail: (detail: string) => never): Uint8Array {
  const length = readVarint(payload, cursor, payload.length);
  if (length < 1 || cursor.pos + length > payload.length) fail("bad key length in a block handle");
  // A view, not a copy: thousands of keys per index, and a copy each was most of a cold
  // index decode (a read start's CPU). The keys live as long as the index and its payload.
  const key = payload.subarray(cursor.pos, cursor.pos + length);
  cursor.pos += length;
  return key;
}

/** Cross-checks an index (and the footer's count) against the SstInfo the manifest holds. */
export function checkIndexAgainstInfo(source: string, index: SstIndex, info: SstInfo): void {
  const first = index.handles[0];
  const last = index.handles[index.handles.length - 1];
  const mismatches: string[] = [];
  if (index.entryCount !== info.entryCount) mismatches.push(`entryCount ${index.entryCount} vs ${info.entryCount}`);
  if (index.minSeq !== info.minSeq || index.maxSeq !== info.maxSeq) mismatches.push("seq range");
  if (index.minExpireAtMs !== (info.minExpireAtMs ?? 0)) mismatches.push("minExpireAtMs");
  if (first === undefined || toBase64(first.firstKey) !== info.firstKey) mismatches.push("firstKey");
  if (last === undefined || toBase64(last.lastKey) !== info.lastKey) mismatches.push("lastKey");
  if (mismatches.length > 0) {
    throw new CorruptionError(source, `the object does not match its SstInfo (${mismatches.join(", ")}): wrong object or corrupt manifest`);
  }
}

/** Rebuilds the SstInfo from a decoded footer and index (for SSTs opened without one). */
export function sstInfoFromIndex(footer: SstFooter, index: SstIndex, sizeBytes: number): SstInfo {
  const first = index.handles[0];
  const last = index.handles[index.handles.length - 1];
  assert(first !== undefined && last !== undefined, "a decoded index has at least one block");
  const info: SstInfo = {
    formatVersion: footer.formatVersion,
    sizeBytes,
    entryCount: index.entryCount,
    firstKey: toBase64(first.firstKey),
    lastKey: toBase64(last.lastKey),
    minSeq: index.minSeq,
    maxSeq: index.maxSeq,
    indexOffset: footer.indexOffset,
    indexLength: footer.indexLength,
  };
  if (index.minExpireAtMs !== 0) info.minExpireAtMs = index.minExpireAtMs;
  return info;
}

/** First block whose lastKey >= key (the first that can hold `key` or a larger one); n if none. */
export function firstBlockAtOrAfter(index: SstIndex, key: Uint8Array): number {
  return countBlocksBelow(index, "lastKey", key);
}

/** Last block whose firstKey < key (the last that can hold a key below `key`); -1 if none. */
export function lastBlockBefore(index: SstIndex, key: Uint8Array): number {
  return countBlocksBelow(index, "firstKey", key) - 1;
}

/** How many blocks, from the first, have their `bound` key below `key` (a binary search: the bounds are sorted). */
function countBlocksBelow(index: SstIndex, bound: "firstKey" | "lastKey", key: Uint8Array): number {
  let lo = 0;
  let hi = index.handles.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys((index.handles[mid] as BlockHandle)[bound], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Data blocks
// ---------------------------------------------------------------------------------------------

/**
 * Private copies of data blocks' rows for one scan, carved from 64 KiB slabs: allocating an
 * ArrayBuffer per 4 KiB block costs more than decoding the block (bench/sst.ts), one per slab
 * does not. The price: a value kept long after its scan keeps its slab (at most 64 KiB) alive.
 */
export class RowCopies {
  #slab = new Uint8Array(0);
  #used = 0;

  /**
   * `shareValues`: decoded values are views of the block payload itself, which the block cache
   * may share: nothing is copied, and the caller copies the few values it keeps. For a point
   * read, which would otherwise copy a whole block (and a seek decodes several rows).
   */
  constructor(readonly shareValues = false) {}

  copy(rows: Uint8Array): Uint8Array {
    if (rows.length > ROW_COPY_SLAB_BYTES / 4) return copyOf(rows);
    if (this.#used + rows.length > this.#slab.length) {
      this.#slab = new Uint8Array(ROW_COPY_SLAB_BYTES);
      this.#used = 0;
    }
    const copy = this.#slab.subarray(this.#used, this.#used + rows.length);
    copy.set(rows);
    this.#used += rows.length;
    return copy;
  }
}

/**
 * A verified data block payload, ready for cursors. Parsing checks the restart array; rows
 * are decoded (and checked) only as a cursor reaches them.
 *
 * `payload` may be shared with the block cache and is never written. Decoded keys are fresh
 * arrays; decoded values are views into one private copy of the rows, made once per
 * DataBlock (from `copies` when given), so an entry costs no allocation of its own for its
 * value, and a caller that modifies a value changes nothing the cache or another entry holds.
 */
export class DataBlock {
  readonly payload: Uint8Array;
  readonly view: DataView;
  readonly source: string;
  readonly offset: number;
  /** End of the rows: where the restart array starts. */
  readonly rowsEnd: number;
  readonly restartCount: number;
  readonly #copies: RowCopies | undefined;
  #valueBytes: Uint8Array | undefined;

  constructor(source: string, offset: number, payload: Uint8Array, copies?: RowCopies) {
    this.#copies = copies;
    this.source = source;
    this.offset = offset;
    this.payload = plainBytes(payload);
    this.view = viewOf(payload);
    if (payload.length < 8) this.fail(`payload of ${payload.length} bytes is too short`);
    this.restartCount = this.view.getUint32(payload.length - 4);
    const rowsEnd = payload.length - 4 - 4 * this.restartCount;
    if (this.restartCount < 1 || rowsEnd < 1) this.fail(`bad restart count ${this.restartCount}`);
    this.rowsEnd = rowsEnd;
    let prev = -1;
    for (let i = 0; i < this.restartCount; i++) {
      const restart = this.restartOffset(i);
      if (restart <= prev || restart >= rowsEnd || (i === 0 && restart !== 0)) this.fail(`bad restart offset ${restart}`);
      prev = restart;
    }
  }

  fail(detail: string): never {
    throw new CorruptionError(this.source, `data block at offset ${this.offset}: ${detail}`);
  }

  restartOffset(i: number): number {
    return this.view.getUint32(this.rowsEnd + 4 * i);
  }

  /** A decoded value: a view of the private copy of the rows, or of the payload itself (RowCopies `shareValues`). */
  valueAt(start: number, length: number): Uint8Array {
    if (this.#copies?.shareValues === true) return this.payload.subarray(start, start + length);
    return this.valueBytes().subarray(start, start + length);
  }

  /** The private copy of the rows that decoded values are views of. */
  valueBytes(): Uint8Array {
    this.#valueBytes ??= this.#copies?.copy(this.payload.subarray(0, this.rowsEnd)) ?? this.payload.slice(0, this.rowsEnd);
    return this.#valueBytes;
  }

  /** A cursor at the first row. */
  cursor(): BlockCursor {
    return new BlockCursor(this, 0);
  }

  /** A cursor at the first row whose key is >= `key`: binary search of the restarts, then a short scan. */
  seek(key: Uint8Array): BlockCursor {
    let lo = 0; // invariant: restart lo's key < key, or lo == 0
    let hi = this.restartCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#compareRestartKey(mid, key) < 0) lo = mid;
      else hi = mid - 1;
    }
    const cursor = new BlockCursor(this, this.restartOffset(lo));
    cursor.skipBelow(key);
    return cursor;
  }

  /** Every row of the block, in order. */
  decodeAll(): Entry[] {
    const entries: Entry[] = [];
    const cursor = this.cursor();
    for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) entries.push(entry);
    return entries;
  }

  /** The sign of compareKeys(restart i's key, key), read in place: a restart row shares no prefix, so its key is whole. */
  #compareRestartKey(i: number, key: Uint8Array): number {
    const { payload, rowsEnd } = this;
    const at = { pos: this.restartOffset(i) };
    const shared = readLength(payload, at, rowsEnd);
    const unshared = readLength(payload, at, rowsEnd);
    if (shared !== 0 || unshared <= 0 || at.pos + unshared > rowsEnd) this.fail(`bad key of the row at restart ${i}`);
    const n = unshared < key.length ? unshared : key.length;
    for (let j = 0; j < n; j++) {
      const d = (payload[at.pos + j] as number) - (key[j] as number);
      if (d !== 0) return d;
    }
    return unshared - key.length;
  }
}

/**
 * Reads a varint length, with fast paths for the one-byte lengths that most keys have and the
 * two-byte ones of values from 128 B to 16 KiB (readVarint's general loop cost a 1 KiB catch-up
 * scan a quarter of its CPU). Same acceptance as readVarint: a second byte of 0 is not canonical.
 */
function readLength(bytes: Uint8Array, cursor: ByteCursor, limit: number): number {
  const pos = cursor.pos;
  if (pos + 1 < limit) {
    const byte = bytes[pos] as number;
    if (byte < 0x80) {
      cursor.pos = pos + 1;
      return byte;
    }
    const high = bytes[pos + 1] as number;
    if (high < 0x80 && high !== 0) {
      cursor.pos = pos + 2;
      return (byte & 0x7f) | (high << 7);
    }
  } else if (pos < limit) {
    const byte = bytes[pos] as number;
    if (byte < 0x80) {
      cursor.pos = pos + 1;
      return byte;
    }
  }
  return readVarint(bytes, cursor, limit);
}

/** The previous key of a cursor at a restart point (never written: decoding only copies from it). */
const NO_KEY = new Uint8Array(0);

/** Decodes a block's rows one at a time, from a restart point onwards. */
export class BlockCursor {
  readonly #block: DataBlock;
  /** Doubles as the read position while a row is decoded. */
  readonly #at: ByteCursor;
  #prevKey: Uint8Array = NO_KEY;
  /** A row decoded by skipBelow() and not yet returned by next(). */
  #pending: Entry | undefined;

  constructor(block: DataBlock, restartPos: number) {
    this.#block = block;
    this.#at = { pos: restartPos };
  }

  /** Advances past every row whose key is below `key`. */
  skipBelow(key: Uint8Array): void {
    for (let entry = this.next(); entry !== undefined; entry = this.next()) {
      if (compareKeys(entry.key, key) >= 0) {
        this.#pending = entry;
        return;
      }
    }
  }

  /** The next row, or undefined at the end of the block. Throws CorruptionError on a bad row. */
  next(): Entry | undefined {
    if (this.#pending !== undefined) {
      const pending = this.#pending;
      this.#pending = undefined;
      return pending;
    }
    if (this.#at.pos >= this.#block.rowsEnd) return undefined;
    return this.#decodeRow();
  }

  // One function on purpose: this is the read path's innermost loop (see bench/sst.ts).
  #decodeRow(): Entry {
    const block = this.#block;
    const { payload, rowsEnd } = block;
    const at = this.#at;
    const rowStart = at.pos;
    const shared = readLength(payload, at, rowsEnd);
    const unshared = readLength(payload, at, rowsEnd);
    const prevKey = this.#prevKey;
    if (shared < 0 || unshared < 0 || shared > prevKey.length || shared + unshared === 0) {
      block.fail(`bad key lengths in the row at ${rowStart}`);
    }
    let pos = at.pos;
    if (pos + unshared + 9 > rowsEnd) block.fail(`row at ${rowStart} runs past the rows`);
    const key = new Uint8Array(shared + unshared);
    for (let i = 0; i < shared; i++) key[i] = prevKey[i] as number;
    if (unshared <= 32) {
      for (let i = 0; i < unshared; i++) key[shared + i] = payload[pos + i] as number;
    } else {
      key.set(payload.subarray(pos, pos + unshared), shared);
    }
    pos += unshared;
    const seq = readU64(payload, pos);
    const flags = payload[pos + 8] as number;
    pos += 9;
    if (seq < 1) block.fail(`bad seq in the row at ${rowStart}`); // -1: not a safe integer
    if ((flags & ~KNOWN_FLAGS) !== 0) block.fail(`unknown flags ${flags} in the row at ${rowStart}`);
    let expireAtMs = 0;
    if ((flags & FLAG_HAS_EXPIRY) !== 0) {
      if (pos + 8 > rowsEnd) block.fail(`row at ${rowStart} runs past the rows`);
      expireAtMs = readU64(payload, pos);
      if (expireAtMs <= 0) block.fail(`bad expireAtMs in the row at ${rowStart}`); // -1: not a safe integer
      pos += 8;
    }
    let value: Uint8Array | null = null;
    if ((flags & FLAG_TOMBSTONE) === 0) {
      at.pos = pos;
      const valueLength = readLength(payload, at, rowsEnd);
      if (valueLength < 0 || at.pos + valueLength > rowsEnd) block.fail(`bad value length in the row at ${rowStart}`);
      value = block.valueAt(at.pos, valueLength);
      pos = at.pos + valueLength;
    }
    at.pos = pos;
    this.#prevKey = key;
    return { key, seq, value, expireAtMs };
  }
}
