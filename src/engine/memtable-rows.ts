/**
 * A memtable's rows, without a heap object per row: each row's key (and a short value) is copied
 * into slabs the memtable owns, a longer value stays where the writer put it (the buffer it is a
 * view of is kept, one reference per buffer, not per value), and the other fields sit in
 * typed-array columns indexed by row number.
 *
 *   buffers:  [ key0 key1 value1 key2 | ... ]  (own slabs)   [ value0 value2 ... ]  (a writer's slab)
 *   columns:  seq  expireAtMs  keyBuffer keyOffset keyBytes  valueBuffer valueOffset valueBytes
 *                                                                           (-1: a tombstone)
 *
 * A value longer than VALUE_COPY_MAX_BYTES is kept by reference: the stream layer encodes each
 * record's value into a slab of its own that nothing writes again (record-format.ts), and
 * WriteOp's contract is that a value is not changed after its write. Copying them cost a copy
 * of every record and as many bytes of new slabs again for the collector to track.
 *
 * Why: a memtable holds tens of thousands of entries for a second or more, and entries kept as
 * objects (an Entry, its key array, its value view) survived every young-generation collection
 * until their L0 flush: the scavenger copied them again and again, then promoted them
 * (bench/README.md, "The memtable's rows"). Rows in columns and buffers are a few large objects.
 *
 * Rows are appended only; a row's bytes are never overwritten (a row replaced in the memtable's
 * order keeps its bytes), so views handed out by `keyOf` and `entryOf` stay valid while the
 * memtable is in use: a key's for good (the memtable's own slabs), a value kept by reference
 * until the memtable releases it (`releaseValues`, once it was flushed and no scan reads it:
 * the appended values' slabs are reused then). Whoever keeps a value longer copies it.
 *
 * Own slabs grow from SLAB_FIRST_BYTES, doubling up to SLAB_MAX_BYTES, so that a small memtable
 * stays small; a key larger than SLAB_OWN_BUFFER_MIN_BYTES gets a slab of its own.
 */
import { assert } from "../errors.js";
import { KEY_JS_COMPARE_MAX_BYTES } from "../limits.js";
import { copyInto, unzeroedBytes } from "../util/bytes.js";
import { releaseSlabArrays } from "../util/slab.js";
import type { Entry } from "./entry.js";

/** The first slab of a memtable. */
const SLAB_FIRST_BYTES = 16 * 1024;
/** Slabs double up to this size. */
const SLAB_MAX_BYTES = 1024 * 1024;
/** A row at least this large (key and short value) gets a slab of exactly its size. */
const SLAB_OWN_BUFFER_MIN_BYTES = 256 * 1024;
/** Values up to this length are copied beside their key; longer ones are kept by reference (WriteOp). */
export const VALUE_COPY_MAX_BYTES = 64;
/** Rows the columns hold at first; they double when full. */
const FIRST_ROW_CAPACITY = 256;

/**
 * Bytes per row besides its key and value: eight column slots (40 bytes, up to twice that while
 * the columns wait to double), its slot in the memtable's order (8 bytes in a chunk, chunks half
 * full after a split) and slab space lost at slab ends. Measured: 65-73 bytes per row in
 * memtables of 100,000-200,000 rows whose values share 256 KiB buffers, as the stream layer's do
 * (heap and ArrayBuffer growth after a GC). A value in a buffer of its own keeps that buffer's
 * objects alive too, about 150 bytes more.
 */
export const ROW_OVERHEAD_BYTES = 96;

export class MemtableRows {
  /** Own slabs and the buffers of values kept by reference, each as a view of the whole buffer. */
  #buffers: Uint8Array[] = [];
  /** The buffer of the last value kept by reference, and its index: consecutive values share one. */
  #lastAdopted: ArrayBufferLike | undefined;
  #lastAdoptedIndex = -1;
  /** Each run of values kept by reference from one buffer, and how many: what releaseValues gives back. */
  readonly #adoptedValues: { buffer: ArrayBufferLike; count: number }[] = [];
  #released = false;
  /** The slab rows are appended to, and how much of it is used. */
  #slab: Uint8Array = new Uint8Array(0);
  #slabIndex = -1;
  #slabUsed = 0;
  #nextSlabBytes = SLAB_FIRST_BYTES;

  #count = 0;
  #seq = new Float64Array(FIRST_ROW_CAPACITY);
  #expireAtMs = new Float64Array(FIRST_ROW_CAPACITY);
  #keyBuffer = new Uint32Array(FIRST_ROW_CAPACITY);
  #keyOffset = new Uint32Array(FIRST_ROW_CAPACITY);
  #keyBytes = new Uint32Array(FIRST_ROW_CAPACITY);
  #valueBuffer = new Uint32Array(FIRST_ROW_CAPACITY);
  #valueOffset = new Uint32Array(FIRST_ROW_CAPACITY);
  #valueBytes = new Int32Array(FIRST_ROW_CAPACITY);

  get count(): number {
    return this.#count;
  }

  /** Appends `entry` (its key copied, its value copied or kept: see the header) and returns its row number. */
  append(entry: Entry): number {
    const key = entry.key;
    const value = entry.value;
    const copied = value !== null && value.length <= VALUE_COPY_MAX_BYTES ? value.length : 0;
    if (this.#count === this.#seq.length) this.#grow();
    const slab = this.#room(key.length + copied);
    const offset = this.#slabUsed;
    copyInto(slab, offset, key);
    this.#slabUsed += key.length + copied;
    const row = this.#count++;
    this.#seq[row] = entry.seq;
    this.#expireAtMs[row] = entry.expireAtMs;
    this.#keyBuffer[row] = this.#slabIndex;
    this.#keyOffset[row] = offset;
    this.#keyBytes[row] = key.length;
    if (value === null) {
      this.#valueBytes[row] = -1;
    } else if (value.length <= VALUE_COPY_MAX_BYTES) {
      copyInto(slab, offset + key.length, value);
      this.#valueBuffer[row] = this.#slabIndex;
      this.#valueOffset[row] = offset + key.length;
      this.#valueBytes[row] = value.length;
    } else {
      this.#valueBuffer[row] = this.#adopt(value.buffer);
      this.#valueOffset[row] = value.byteOffset;
      this.#valueBytes[row] = value.length;
    }
    return row;
  }

  seqOf(row: number): number {
    return this.#seq[row]!;
  }

  /** A view of the row's key (valid for good: rows are never overwritten). */
  keyOf(row: number): Uint8Array {
    const offset = this.#keyOffset[row]!;
    return this.#buffers[this.#keyBuffer[row]!]!.subarray(offset, offset + this.#keyBytes[row]!);
  }

  /** The row as an Entry whose key and value are views of the buffers that hold them. */
  entryOf(row: number): Entry {
    const keyStart = this.#keyOffset[row]!;
    const valueBytes = this.#valueBytes[row]!;
    const valueStart = this.#valueOffset[row]!;
    return {
      key: this.#buffers[this.#keyBuffer[row]!]!.subarray(keyStart, keyStart + this.#keyBytes[row]!),
      seq: this.#seq[row]!,
      value: valueBytes < 0 ? null : this.#buffers[this.#valueBuffer[row]!]!.subarray(valueStart, valueStart + valueBytes),
      expireAtMs: this.#expireAtMs[row]!,
    };
  }

  /** The index of `buffer` in #buffers, added when it is not the last one kept; counts the value kept (releaseValues). */
  #adopt(buffer: ArrayBufferLike): number {
    if (buffer !== this.#lastAdopted) {
      this.#buffers.push(new Uint8Array(buffer));
      this.#lastAdopted = buffer;
      this.#lastAdoptedIndex = this.#buffers.length - 1;
      this.#adoptedValues.push({ buffer, count: 0 });
    }
    this.#adoptedValues[this.#adoptedValues.length - 1]!.count++;
    return this.#lastAdoptedIndex;
  }

  /**
   * Nothing reads this memtable's values any more (it was flushed and left the read view, and no
   * scan holds it: Memtable.drop): the values kept by reference are released to the slab
   * allocator they came from (util/slab.ts releaseSlabArrays; other buffers are left alone). Once.
   */
  releaseValues(): void {
    assert(!this.#released, "a memtable's values released twice");
    this.#released = true;
    for (const { buffer, count } of this.#adoptedValues) releaseSlabArrays(buffer, count);
  }

  /**
   * Entry order (key ascending, then seq descending) of row `row` against (`key`, `seq`): negative
   * when the row sorts first. The hot comparison of every insert and seek.
   */
  compare(row: number, key: Uint8Array, seq: number): number {
    const slab = this.#buffers[this.#keyBuffer[row]!]!;
    const offset = this.#keyOffset[row]!;
    const length = this.#keyBytes[row]!;
    if (length > KEY_JS_COMPARE_MAX_BYTES || key.length > KEY_JS_COMPARE_MAX_BYTES) {
      return Buffer.compare(slab.subarray(offset, offset + length), key) || seq - this.#seq[row]!;
    }
    const n = length < key.length ? length : key.length;
    for (let i = 0; i < n; i++) {
      const d = slab[offset + i]! - key[i]!;
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    if (length !== key.length) return length < key.length ? -1 : 1;
    return seq - this.#seq[row]!;
  }

  /** The slab to append `rowBytes` to: the current one, a new one, or one of its own. */
  #room(rowBytes: number): Uint8Array {
    if (this.#slabUsed + rowBytes <= this.#slab.length) return this.#slab;
    const size = rowBytes >= SLAB_OWN_BUFFER_MIN_BYTES ? rowBytes : Math.max(this.#nextSlabBytes, rowBytes);
    if (rowBytes < SLAB_OWN_BUFFER_MIN_BYTES) this.#nextSlabBytes = Math.min(SLAB_MAX_BYTES, this.#nextSlabBytes * 2);
    // Not zeroed: every byte of a row is written before anything reads it.
    this.#slab = unzeroedBytes(size);
    this.#buffers.push(this.#slab);
    this.#slabIndex = this.#buffers.length - 1;
    this.#slabUsed = 0;
    return this.#slab;
  }

  #grow(): void {
    const capacity = this.#seq.length * 2;
    assert(capacity <= 2 ** 32, "a memtable of more than 2^32 rows");
    this.#seq = grown(this.#seq, new Float64Array(capacity));
    this.#expireAtMs = grown(this.#expireAtMs, new Float64Array(capacity));
    this.#keyBuffer = grown(this.#keyBuffer, new Uint32Array(capacity));
    this.#keyOffset = grown(this.#keyOffset, new Uint32Array(capacity));
    this.#keyBytes = grown(this.#keyBytes, new Uint32Array(capacity));
    this.#valueBuffer = grown(this.#valueBuffer, new Uint32Array(capacity));
    this.#valueOffset = grown(this.#valueOffset, new Uint32Array(capacity));
    this.#valueBytes = grown(this.#valueBytes, new Int32Array(capacity));
  }
}

function grown<T extends Float64Array | Uint32Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
