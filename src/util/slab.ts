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
import { copyInto, unzeroedBytes } from "./bytes.js";
import { prefault } from "./prefault.js";

export interface SlabOptions {
  /** Bytes per slab. */
  slabBytes: number;
  /** Larger arrays get a buffer of their own (at most `slabBytes`). */
  maxSlabbedBytes: number;
  /**
   * Keep the next slab ready, its pages faulted in on the thread pool (prefault.ts): for
   * allocators that go through slabs fast (appended values), where faulting a fresh slab in on
   * first write was most of the cost of filling it. One slab is held ahead.
   */
  prefaultNext?: boolean;
}

export class SlabAllocator {
  readonly slabBytes: number;
  readonly maxSlabbedBytes: number;
  #slab: ArrayBuffer = new ArrayBuffer(0);
  #used = 0;
  readonly #prefaultNext: boolean;
  /** The next slab, once its prefault settled (prefaultNext), and the prefault under way. */
  #next: ArrayBuffer | undefined;
  #preparing: Promise<void> | undefined;

  constructor(options: SlabOptions) {
    const { slabBytes, maxSlabbedBytes } = options;
    assert(
      Number.isSafeInteger(slabBytes) && Number.isSafeInteger(maxSlabbedBytes) && 0 < maxSlabbedBytes && maxSlabbedBytes <= slabBytes,
      () => `slab options need 0 < maxSlabbedBytes (${maxSlabbedBytes}) <= slabBytes (${slabBytes})`,
    );
    this.slabBytes = slabBytes;
    this.maxSlabbedBytes = maxSlabbedBytes;
    this.#prefaultNext = options.prefaultNext === true;
  }

  /**
   * `size` bytes that no other array returned here overlaps. Not zeroed (like
   * `Buffer.allocUnsafe`): the caller writes every byte before anything reads them.
   */
  allocUnsafe(size: number): Uint8Array {
    if (size > this.maxSlabbedBytes) return unzeroedBytes(size);
    if (this.#used + size > this.#slab.byteLength) {
      this.#slab = this.#next ?? Buffer.allocUnsafeSlow(this.slabBytes).buffer;
      this.#next = undefined;
      this.#used = 0;
      if (this.#prefaultNext) this.#prepareNext();
    }
    const out = new Uint8Array(this.#slab, this.#used, size);
    this.#used += size;
    return out;
  }

  /** Settles once the next slab being prepared (prefaultNext) is ready (tests). */
  whenNextReady(): Promise<void> {
    return this.#preparing ?? Promise.resolve();
  }

  /**
   * Starts faulting in the next slab's pages, unless that is under way; it is used only once the
   * prefault settled (where it could not run, the slab is faulted in by its first use).
   */
  #prepareNext(): void {
    if (this.#preparing !== undefined) return;
    const next = unzeroedBytes(this.slabBytes);
    this.#preparing = prefault(next).then(() => {
      this.#preparing = undefined;
      this.#next = next.buffer as ArrayBuffer;
    });
  }

  /** A copy of `bytes` from index `from` on (shares no memory with it). */
  copy(bytes: Uint8Array, from = 0): Uint8Array {
    const out = this.allocUnsafe(bytes.length - from);
    copyInto(out, 0, bytes, from);
    return out;
  }
}

/**
 * Buffers of one size, lent out for reads and taken back once every part of them was used: for
 * a loop that would otherwise allocate a fresh large buffer per step (a long SST scan's
 * readahead GETs, bench/README.md "1 KiB catch-up scan: buffers": a fresh 1 MiB buffer per GET
 * faults in every page and drives the garbage collector by external memory).
 *
 *   take() ──> read into it ──> lend(buffer, parts) ──> release(part) x parts ──> free again
 *                      └ not used: giveBack(buffer)      (a failed read: drop it, never give it back)
 *
 * The lender's duty: nothing reads or keeps a part once it was released, and a buffer goes back
 * only when whatever wrote into it is done. The pool keeps at most `maxFree` free buffers.
 */
export class BufferPool {
  readonly bufferBytes: number;
  readonly maxFree: number;
  readonly #free: ArrayBuffer[] = [];
  /** Lent buffers and the count of their parts not yet released. */
  readonly #partsLeft = new Map<ArrayBufferLike, number>();

  constructor(options: { bufferBytes: number; maxFree: number }) {
    const { bufferBytes, maxFree } = options;
    assert(Number.isSafeInteger(bufferBytes) && bufferBytes > 0 && Number.isSafeInteger(maxFree) && maxFree >= 0, "a pool needs bufferBytes > 0 and maxFree >= 0");
    this.bufferBytes = bufferBytes;
    this.maxFree = maxFree;
  }

  /** A buffer of `bufferBytes` that nothing else holds (uninitialized): a free one, or a new one. */
  take(): Uint8Array {
    return new Uint8Array(this.#free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes).buffer, 0, this.bufferBytes);
  }

  /** A taken buffer that was not used after all (nothing wrote into it or will). */
  giveBack(buffer: Uint8Array): void {
    assert(!this.#partsLeft.has(buffer.buffer), "giveBack of a lent buffer");
    this.#keep(buffer.buffer);
  }

  /** A taken buffer now holds `parts` parts in use (views of it); it is free again once each was released. */
  lend(buffer: Uint8Array, parts: number): void {
    assert(Number.isSafeInteger(parts) && parts > 0 && !this.#partsLeft.has(buffer.buffer), () => `lend of ${parts} parts, or of a buffer already lent`);
    this.#partsLeft.set(buffer.buffer, parts);
  }

  /** True when `bytes` is a view of a lent buffer. */
  holds(bytes: Uint8Array): boolean {
    return this.#partsLeft.has(bytes.buffer);
  }

  /** One part of a lent buffer is no longer in use (nothing reads it any more); anything else is ignored. */
  release(part: Uint8Array): void {
    const left = this.#partsLeft.get(part.buffer);
    if (left === undefined) return;
    if (left > 1) {
      this.#partsLeft.set(part.buffer, left - 1);
      return;
    }
    this.#partsLeft.delete(part.buffer);
    this.#keep(part.buffer);
  }

  #keep(buffer: ArrayBufferLike): void {
    if (this.#free.length < this.maxFree && buffer.byteLength === this.bufferBytes) this.#free.push(buffer as ArrayBuffer);
  }
}
