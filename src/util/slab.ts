/**
 * Small byte arrays carved out of a few large ones ("slabs"), for bytes made in great numbers
 * that live and die together: the encoded values of appended records (they stay in a memtable
 * until its L0 flush), the WAL encoding of each write batch (until its WAL flush), the values a
 * read session decodes.
 *
 * Why: every ArrayBuffer is a separate allocation outside the JS heap that the garbage collector
 * tracks and sweeps one by one. Node's own Buffer pool makes one per 8 KiB, so one per 7 records
 * of 1 KiB; a 256 KiB slab makes one per 250, and a 1 KiB value kept in a memtable cost about
 * half as much to make (bench/README.md, "Append path CPU").
 *
 *   slab: [ value | value | value | ...free ]   an array that does not fit starts a new slab;
 *                                                 the old one lives while any of its arrays does
 *
 * The price: an array kept long after its neighbours keeps its whole slab alive, so arrays larger
 * than `maxSlabbedBytes` get a buffer of their own, and slabs stay small next to the memory they
 * serve (a memtable of 64 MiB, a read batch).
 */
import { assert } from "../errors.js";

/** Copies up to this length run as a loop: cheaper than TypedArray.set (and a subarray) for a few bytes. */
const SHORT_COPY_BYTES = 32;

export interface SlabOptions {
  /** Bytes per slab. */
  slabBytes: number;
  /** Larger arrays get a buffer of their own (at most `slabBytes`). */
  maxSlabbedBytes: number;
}

export class SlabAllocator {
  readonly slabBytes: number;
  readonly maxSlabbedBytes: number;
  #slab: ArrayBuffer = new ArrayBuffer(0);
  #used = 0;

  constructor(options: SlabOptions) {
    const { slabBytes, maxSlabbedBytes } = options;
    assert(
      Number.isSafeInteger(slabBytes) && Number.isSafeInteger(maxSlabbedBytes) && 0 < maxSlabbedBytes && maxSlabbedBytes <= slabBytes,
      () => `slab options need 0 < maxSlabbedBytes (${maxSlabbedBytes}) <= slabBytes (${slabBytes})`,
    );
    this.slabBytes = slabBytes;
    this.maxSlabbedBytes = maxSlabbedBytes;
  }

  /**
   * `size` bytes that no other array returned here overlaps. Not zeroed (like
   * `Buffer.allocUnsafe`): the caller writes every byte before anything reads them.
   */
  allocUnsafe(size: number): Uint8Array {
    if (size > this.maxSlabbedBytes) return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
    if (this.#used + size > this.#slab.byteLength) {
      this.#slab = Buffer.allocUnsafeSlow(this.slabBytes).buffer;
      this.#used = 0;
    }
    const out = new Uint8Array(this.#slab, this.#used, size);
    this.#used += size;
    return out;
  }

  /** A copy of `bytes` from index `from` on (shares no memory with it). */
  copy(bytes: Uint8Array, from = 0): Uint8Array {
    const length = bytes.length - from;
    const out = this.allocUnsafe(length);
    if (length <= SHORT_COPY_BYTES) {
      for (let i = 0; i < length; i++) out[i] = bytes[from + i]!;
    } else {
      out.set(from === 0 ? bytes : bytes.subarray(from));
    }
    return out;
  }
}
