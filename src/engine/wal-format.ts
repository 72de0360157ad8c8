/**
 * WAL object format (version 1). One object per group-commit flush; every batch in it whole.
 *
 *   field            width     meaning
 *   magic            4         "DSWL"
 *   version          1         format version, 1
 *   writerEpoch      8  u64    epoch of the writer that created the object
 *   walId            8  u64    the object's own id (guards against a misplaced object)
 *   batchCount       4  u32
 *   batches          ...       batchCount times:
 *     seq            8  u64    the engine sequence number of the batch
 *     opCount        4  u32
 *     ops            ...       opCount times:
 *       kind         1         1 = put, 2 = delete
 *       key          4+n       u32 length, then the key bytes
 *       expireAtMs   8  u64    (put only) 0 = never expires
 *       value        4+n       (put only) u32 length, then the value bytes
 *   checksum         8  u64    xxhash64 of every byte before it
 *
 * Batches are encoded once, at write time (`encodeBatch`). The object WAL encodes them straight
 * into the object it is building (`WalObjectBuilder`), so a flush only adds header and checksum;
 * other writers concatenate them (`encodeWalObject`).
 *
 * Fence object (fence.ts): what a writer taking over puts at the first free WAL id. It carries
 * no batches; it is deleted only when it stops no writer (fence.ts). Always exactly WAL_FENCE_BYTES long, shorter than any WAL
 * object (at least 33 bytes), so a listing's sizes tell fences apart:
 *
 *   field            width     meaning
 *   magic            4         "DSFN"
 *   version          1         format version, 1
 *   writerEpoch      8  u64    epoch of the writer that placed the fence
 *   walId            8  u64    the fence's own id
 *   checksum         8  u64    xxhash64 of every byte before it
 *
 * Before fences had a body, a fence was a zero-byte object. A zero-byte object is still read as
 * a fence where an older version may have written one (at or below the manifest's
 * `zeroByteFencesThroughWalId`); anywhere else it is a WAL object that lost its contents.
 */
import { CorruptionError, assert } from "../errors.js";
import { ByteReader, ByteWriter, DecodeError, unzeroedBytes, writeBigU64, writeU32, writeU64 } from "../util/bytes.js";
import { SlabAllocator } from "../util/slab.js";
import { checksum64, checksum64Matches } from "../util/checksum.js";
import { WAL_BATCH_MAX_SLABBED_BYTES, WAL_BATCH_SLAB_BYTES } from "../limits.js";

export const WAL_MAGIC = Buffer.from("DSWL", "latin1");
export const WAL_FORMAT_VERSION = 1;
const HEADER_BYTES = 4 + 1 + 8 + 8 + 4;
const CHECKSUM_BYTES = 8;
export const WAL_FENCE_MAGIC = Buffer.from("DSFN", "latin1");
/** The size of every fence object with a body. */
export const WAL_FENCE_BYTES = 4 + 1 + 8 + 8 + CHECKSUM_BYTES;

/** Whether a WAL object of this size may be a fence: a fence with a body, or an older version's zero-byte one. */
export function mayBeWalFence(sizeBytes: number): boolean {
  return sizeBytes === 0 || sizeBytes === WAL_FENCE_BYTES;
}

/** The fence object a writer of `writerEpoch` puts at `walId`. */
export function encodeWalFence(writerEpoch: number, walId: number): Uint8Array {
  const writer = new ByteWriter(WAL_FENCE_BYTES);
  writer.bytes(WAL_FENCE_MAGIC).u8(WAL_FORMAT_VERSION).u64(writerEpoch).u64(walId);
  writer.bigU64(checksum64(writer.view()));
  return writer.view();
}

/**
 * One operation of a write batch. A value longer than VALUE_COPY_MAX_BYTES (memtable-rows.ts)
 * is kept by reference until the memtable holding it is flushed: it must not change after the
 * write. A key is copied.
 */
export type WriteOp =
  | { type: "put"; key: Uint8Array; value: Uint8Array; expireAtMs?: number }
  | { type: "delete"; key: Uint8Array };

export interface WalBatch {
  seq: number;
  ops: WriteOp[];
}

export const OP_PUT = 1;
export const OP_DELETE = 2;

/** Where encoded batches are made: slabs of WAL_BATCH_SLAB_BYTES; a batch past WAL_BATCH_MAX_SLABBED_BYTES gets its own buffer. */
const batchSlabs = new SlabAllocator({ slabBytes: WAL_BATCH_SLAB_BYTES, maxSlabbedBytes: WAL_BATCH_MAX_SLABBED_BYTES });

/** Bytes `encodeBatch` writes for `ops`: seq and op count, then per op its kind, key and (put) expiry and value. */
export function encodedBatchBytes(ops: readonly WriteOp[]): number {
  let bytes = 8 + 4;
  for (const op of ops) bytes += op.type === "put" ? 1 + 4 + op.key.length + 8 + 4 + op.value.length : 1 + 4 + op.key.length;
  return bytes;
}

/**
 * Encodes one batch (seq + ops) as it will sit inside a WAL object. Hot (every write): the size
 * is computed first and the batch written into one exactly-sized array, no growing writer, carved
 * from a slab (util/slab.ts): the batches of a WAL object are dropped together once it is written.
 * (The object WAL encodes straight into the object being built instead: wal-writer.ts.)
 */
export function encodeBatch(seq: number, ops: readonly WriteOp[]): Uint8Array {
  const out = batchSlabs.allocUnsafe(encodedBatchBytes(ops));
  encodeBatchInto(out, seq, ops);
  return out;
}

/** Encodes the batch into `out`, which must be exactly `encodedBatchBytes(ops)` long; writes every byte of it. */
export function encodeBatchInto(out: Uint8Array, seq: number, ops: readonly WriteOp[]): void {
  writeU64(out, 0, seq);
  writeU32(out, 8, ops.length);
  let pos = 12;
  for (const op of ops) {
    out[pos] = op.type === "put" ? OP_PUT : OP_DELETE;
    pos = writeLengthPrefixed(out, pos + 1, op.key);
    if (op.type === "put") {
      writeU64(out, pos, op.expireAtMs ?? 0);
      pos = writeLengthPrefixed(out, pos + 8, op.value);
    }
  }
  assert(pos === out.length, () => `WAL batch encoder wrote ${pos} of ${out.length} bytes`);
}

/** Writes `bytes` with its u32 length in front at `pos`; returns the position after them. */
export function writeLengthPrefixed(out: Uint8Array, pos: number, bytes: Uint8Array): number {
  writeU32(out, pos, bytes.length);
  const at = pos + 4;
  const length = bytes.length;
  if (length <= 32) {
    for (let i = 0; i < length; i++) out[at + i] = bytes[i]!; // keys: a loop beats TypedArray.set
  } else {
    out.set(bytes, at);
  }
  return at + length;
}

/**
 * Builds a WAL object from batches already encoded with `encodeBatch`: one exactly-sized array
 * of its own (not from a pool, not zeroed: every byte is written here), so that a store may keep
 * it as it is once the caller hands it over (store/memory-store.ts `handOverBytes`).
 */
export function encodeWalObject(writerEpoch: number, walId: number, encodedBatches: readonly Uint8Array[]): Uint8Array {
  let size = HEADER_BYTES + CHECKSUM_BYTES;
  for (const batch of encodedBatches) size += batch.length;
  const out = unzeroedBytes(size);
  writeWalHeader(out, writerEpoch, walId, encodedBatches.length);
  let pos = HEADER_BYTES;
  for (const batch of encodedBatches) {
    out.set(batch, pos);
    pos += batch.length;
  }
  const body = out.subarray(0, pos);
  writeBigU64(out, pos, checksum64(body));
  assert(pos + CHECKSUM_BYTES === size, () => `WAL object encoder wrote ${pos + CHECKSUM_BYTES} of ${size} bytes`);
  return out;
}

function writeWalHeader(out: Uint8Array, writerEpoch: number, walId: number, batchCount: number): void {
  out.set(WAL_MAGIC, 0);
  out[4] = WAL_FORMAT_VERSION;
  writeU64(out, 5, writerEpoch);
  writeU64(out, 13, walId);
  writeU32(out, 21, batchCount);
}

/**
 * A WAL object built in place (the object WAL's writer, wal-writer.ts): batches are encoded
 * straight into one buffer, after room for the header, and `finish` writes the header and the
 * checksum around them, so the batches are never copied into the object. The buffer is fresh
 * (not pooled, not zeroed: every byte of the object is written) and its capacity fixed: a batch
 * that does not fit is refused and goes elsewhere (the writer then concatenates the object with
 * `encodeWalObject`). Same bytes as `encodeWalObject` of the same batches.
 */
export class WalObjectBuilder {
  readonly #bytes: Uint8Array;
  /** End of the batches reserved so far. */
  #end = HEADER_BYTES;
  #finished = false;

  constructor(capacityBytes: number) {
    const size = Math.max(capacityBytes, HEADER_BYTES + CHECKSUM_BYTES);
    this.#bytes = unzeroedBytes(size);
  }

  /** Bytes a builder needs for one batch of `batchBytes` alone. */
  static capacityFor(batchBytes: number): number {
    return HEADER_BYTES + batchBytes + CHECKSUM_BYTES;
  }

  /** The `size` bytes right after the previous batch, for the next batch to be encoded into; undefined when they do not fit. */
  reserve(size: number): Uint8Array | undefined {
    if (this.#finished || this.#end + size + CHECKSUM_BYTES > this.#bytes.length) return undefined;
    const out = new Uint8Array(this.#bytes.buffer, this.#end, size);
    this.#end += size;
    return out;
  }

  /** Whether `batches` are exactly the batches reserved here, in order (none left out, none from elsewhere). */
  holds(batches: readonly Uint8Array[]): boolean {
    let pos = HEADER_BYTES;
    for (const batch of batches) {
      if (batch.buffer !== this.#bytes.buffer || batch.byteOffset !== pos) return false;
      pos += batch.length;
    }
    return pos === this.#end && batches.length > 0;
  }

  /** The object: header, the batches where they were encoded, checksum. Nothing can be reserved afterwards. */
  finish(writerEpoch: number, walId: number, batchCount: number): Uint8Array {
    assert(!this.#finished, "WalObjectBuilder.finish() called twice");
    this.#finished = true;
    const out = this.#bytes;
    writeWalHeader(out, writerEpoch, walId, batchCount);
    writeBigU64(out, this.#end, checksum64(out.subarray(0, this.#end)));
    return out.subarray(0, this.#end + CHECKSUM_BYTES);
  }
}

export interface WalObject {
  writerEpoch: number;
  walId: number;
  batches: WalBatch[];
  /** A fence with a body (then `batches` is empty). */
  fence: boolean;
}

/**
 * Decodes a non-empty WAL object or fence; any damage is a CorruptionError, never partial data.
 * (A zero-byte object is the caller's to judge: see the format notes above.)
 */
export function decodeWalObject(objectKey: string, expectedWalId: number, bytes: Uint8Array): WalObject {
  if (bytes.length === WAL_FENCE_BYTES && Buffer.from(bytes.buffer, bytes.byteOffset, 4).equals(WAL_FENCE_MAGIC)) {
    return decodeWalFence(objectKey, expectedWalId, bytes);
  }
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) {
    throw new CorruptionError(objectKey, `WAL object of ${bytes.length} bytes is shorter than its header and checksum`);
  }
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!checksum64Matches(bytes, 0, body.length)) throw new CorruptionError(objectKey, "WAL checksum mismatch");
  try {
    const reader = new ByteReader(body);
    if (!Buffer.from(reader.bytes(4)).equals(WAL_MAGIC)) throw new DecodeError("bad magic");
    const version = reader.u8();
    if (version !== WAL_FORMAT_VERSION) throw new DecodeError(`unknown WAL format version ${version}`);
    const writerEpoch = reader.u64();
    const walId = reader.u64();
    if (walId !== expectedWalId) throw new DecodeError(`object claims WAL id ${walId}`);
    const batches = readBatches(reader, reader.u32());
    if (reader.remaining !== 0) throw new DecodeError(`${reader.remaining} trailing bytes`);
    return { writerEpoch, walId, batches, fence: false };
  } catch (error) {
    if (error instanceof DecodeError) throw new CorruptionError(objectKey, error.message);
    throw error;
  }
}

function decodeWalFence(objectKey: string, expectedWalId: number, bytes: Uint8Array): WalObject {
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!checksum64Matches(bytes, 0, body.length)) throw new CorruptionError(objectKey, "WAL fence checksum mismatch");
  try {
    const reader = new ByteReader(body, WAL_FENCE_MAGIC.length);
    const version = reader.u8();
    if (version !== WAL_FORMAT_VERSION) throw new DecodeError(`unknown WAL fence format version ${version}`);
    const writerEpoch = reader.u64();
    const walId = reader.u64();
    if (walId !== expectedWalId) throw new DecodeError(`fence claims WAL id ${walId}`);
    return { writerEpoch, walId, batches: [], fence: true };
  } catch (error) {
    if (error instanceof DecodeError) throw new CorruptionError(objectKey, error.message);
    throw error;
  }
}

/** Reads `count` batches as `encodeBatch` wrote them (also the payload of a segment WAL frame). */
export function readBatches(reader: ByteReader, count: number): WalBatch[] {
  const batches: WalBatch[] = [];
  for (let b = 0; b < count; b++) {
    const seq = reader.u64();
    const opCount = reader.u32();
    const ops: WriteOp[] = [];
    for (let i = 0; i < opCount; i++) {
      const kind = reader.u8();
      const key = reader.lengthPrefixed();
      if (kind === OP_PUT) {
        const expireAtMs = reader.u64();
        ops.push({ type: "put", key, value: reader.lengthPrefixed(), expireAtMs });
      } else if (kind === OP_DELETE) {
        ops.push({ type: "delete", key });
      } else {
        throw new DecodeError(`unknown op kind ${kind}`);
      }
    }
    if (batches.length > 0 && seq <= batches[batches.length - 1]!.seq) throw new DecodeError("batch seqs do not increase");
    batches.push({ seq, ops });
  }
  return batches;
}
