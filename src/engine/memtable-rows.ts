/**
 * A memtable's rows, without a heap object per row: each row's key and value bytes are copied
 * into slabs (large byte arrays the memtable owns), and its other fields sit in typed-array
 * columns indexed by row number.
 *
 *   slabs:    [ key0 value0 | key1 value1 | ... ]  [ ... ]     bytes, written once, never moved
 *   columns:  seq[row]  expireAtMs[row]  slab[row]  offset[row]  keyBytes[row]  valueBytes[row]
 *                                                                        (-1: a tombstone)
 *
 * Why: a memtable holds tens of thousands of entries for a second or more, and entries kept as
 * objects (an Entry, its key array, its value view) survived every young-generation collection
 * until their L0 flush: the scavenger copied them again and again, then promoted them
 * (bench/README.md, "The memtable's rows"). Rows in columns and slabs are a few large objects.
 *
 * Rows are appended only; a row's bytes are never overwritten (a row replaced in the memtable's
 * order keeps its bytes), so views handed out by `keyOf` and `entryOf` stay valid for as long
 * as anyone holds them: a view keeps its slab alive, never the memtable.
 *
 * Slabs grow from SLAB_FIRST_BYTES, doubling up to SLAB_MAX_BYTES, so that a small memtable
 * stays small; a row larger than SLAB_OWN_BUFFER_MIN_BYTES gets a slab of its own.
 */
import { assert } from "../errors.js";
import { KEY_JS_COMPARE_MAX_BYTES } from "../limits.js";
import type { Entry } from "./entry.js";

/** The first slab of a memtable. */
const SLAB_FIRST_BYTES = 16 * 1024;
/** Slabs double up to this size. */
const SLAB_MAX_BYTES = 1024 * 1024;
/** A row at least this large (key and value) gets a slab of exactly its size. */
const SLAB_OWN_BUFFER_MIN_BYTES = 256 * 1024;
/** Rows the columns hold at first; they double when full. */
const FIRST_ROW_CAPACITY = 256;

/**
 * Bytes per row besides its key and value: six column slots (32 bytes, up to twice that while the
 * columns wait to double), its slot in the memtable's order (8 bytes in a chunk, chunks half
 * full after a split) and slab space lost at slab ends. Measured: 55-61 bytes per row in
 * memtables of 100,000-200,000 rows (heap and ArrayBuffer growth after a GC).
 */
export const ROW_OVERHEAD_BYTES = 96;

export class MemtableRows {
  #slabs: Uint8Array[] = [];
  /** The slab rows are appended to, and how much of it is used. */
  #slab: Uint8Array = new Uint8Array(0);
  #slabIndex = -1;
  #slabUsed = 0;
  #nextSlabBytes = SLAB_FIRST_BYTES;

  #count = 0;
  #seq = new Float64Array(FIRST_ROW_CAPACITY);
  #expireAtMs = new Float64Array(FIRST_ROW_CAPACITY);
  #slabOf = new Uint32Array(FIRST_ROW_CAPACITY);
  #offset = new Uint32Array(FIRST_ROW_CAPACITY);
  #keyBytes = new Uint32Array(FIRST_ROW_CAPACITY);
  #valueBytes = new Int32Array(FIRST_ROW_CAPACITY);

  get count(): number {
    return this.#count;
  }


  /** Appends a copy of `entry` and returns its row number. */
  append(entry: Entry): number {
    const key = entry.key;
    const value = entry.value;
    const rowBytes = key.length + (value === null ? 0 : value.length);
    if (this.#count === this.#seq.length) this.#grow();
    const slab = this.#room(rowBytes);
    const offset = this.#slabUsed;
    copyInto(slab, offset, key);
    if (value !== null) copyInto(slab, offset + key.length, value);
    this.#slabUsed += rowBytes;
    const row = this.#count++;
    this.#seq[row] = entry.seq;
    this.#expireAtMs[row] = entry.expireAtMs;
    this.#slabOf[row] = this.#slabIndex;
    this.#offset[row] = offset;
    this.#keyBytes[row] = key.length;
    this.#valueBytes[row] = value === null ? -1 : value.length;
    return row;
  }

  seqOf(row: number): number {
    return this.#seq[row]!;
  }

  /** A view of the row's key (valid for good: rows are never overwritten). */
  keyOf(row: number): Uint8Array {
    const offset = this.#offset[row]!;
    return this.#slabs[this.#slabOf[row]!]!.subarray(offset, offset + this.#keyBytes[row]!);
  }

  /** The row as an Entry whose key and value are views of its slab. */
  entryOf(row: number): Entry {
    const slab = this.#slabs[this.#slabOf[row]!]!;
    const keyStart = this.#offset[row]!;
    const valueStart = keyStart + this.#keyBytes[row]!;
    const valueBytes = this.#valueBytes[row]!;
    return {
      key: slab.subarray(keyStart, valueStart),
      seq: this.#seq[row]!,
      value: valueBytes < 0 ? null : slab.subarray(valueStart, valueStart + valueBytes),
      expireAtMs: this.#expireAtMs[row]!,
    };
  }

  /**
   * Entry order (key ascending, then seq descending) of row `row` against (`key`, `seq`): negative
   * when the row sorts first. The hot comparison of every insert and seek.
   */
  compare(row: number, key: Uint8Array, seq: number): number {
    const slab = this.#slabs[this.#slabOf[row]!]!;
    const offset = this.#offset[row]!;
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
    this.#slab = new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
    this.#slabs.push(this.#slab);

    this.#slabIndex = this.#slabs.length - 1;
    this.#slabUsed = 0;
    return this.#slab;
  }

  #grow(): void {
    const capacity = this.#seq.length * 2;
    assert(capacity <= 2 ** 32, "a memtable of more than 2^32 rows");
    this.#seq = grown(this.#seq, new Float64Array(capacity));
    this.#expireAtMs = grown(this.#expireAtMs, new Float64Array(capacity));
    this.#slabOf = grown(this.#slabOf, new Uint32Array(capacity));
    this.#offset = grown(this.#offset, new Uint32Array(capacity));
    this.#keyBytes = grown(this.#keyBytes, new Uint32Array(capacity));
    this.#valueBytes = grown(this.#valueBytes, new Int32Array(capacity));
  }
}

function grown<T extends Float64Array | Uint32Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Copies `bytes` to `target` at `offset`: a loop for a few bytes (cheaper than TypedArray.set). */
function copyInto(target: Uint8Array, offset: number, bytes: Uint8Array): void {
  if (bytes.length <= 32) {
    for (let i = 0; i < bytes.length; i++) target[offset + i] = bytes[i]!;
  } else {
    target.set(bytes, offset);
  }
}
