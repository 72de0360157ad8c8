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
 *
 * Recycled slabs (`recycleSlabs`, the appended values' allocator): slabs that outlive the
 * collector's young generation die in its old one, where dead ArrayBuffers wait for a full
 * collection and raise the process's peak memory (bench/README.md, "Value slabs"). Such an
 * allocator counts the arrays it carves from each slab; whoever holds them says when they are
 * done with (`releaseSlabArrays`: a flushed memtable that no scan reads any more), and a slab
 * the allocator has left whose every array was released is carved from again. The promise of a
 * caller of `releaseSlabArrays` is what makes it safe: nothing reads those arrays afterwards.
 * An array never released keeps its slab out of reuse: that slab is left to the collector.
 */
import { assert } from "../errors.js";
import { copyInto, unzeroedBytes } from "./bytes.js";
import { prefault } from "./prefault.js";

/**
 * Per slab of a recycling allocator (SlabOptions `recycleSlabs`): arrays carved from it, arrays
 * released, and whether the allocator moved on to another slab. Held weakly (by the slab): a
 * slab some of whose arrays are never released is garbage like any other once unreferenced.
 */
interface SlabLedger {
  handedOut: number;
  released: number;
  sealed: boolean;
  /** Gives the slab back to its allocator (once sealed and all released). */
  readonly takeBack: (slab: ArrayBufferLike) => void;
}

const ledgers = new WeakMap<ArrayBufferLike, SlabLedger>();

/**
 * `count` arrays of the slab `buffer` are no longer read by anyone and never will be: once all
 * of a sealed slab's arrays are, its allocator carves from it again. A buffer that is no
 * recycling allocator's slab is ignored. The caller's promise (see the header): nothing holds a
 * view of those arrays any more, and each array is released once.
 */
export function releaseSlabArrays(buffer: ArrayBufferLike, count: number): void {
  const ledger = ledgers.get(buffer);
  if (ledger === undefined) return;
  ledger.released += count;
  assert(ledger.released <= ledger.handedOut, () => `${ledger.released} arrays released of a slab that handed out ${ledger.handedOut}`);
  if (ledger.sealed && ledger.released === ledger.handedOut) ledger.takeBack(buffer);
}

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
  /**
   * Keep up to this many slabs whose arrays were all released (`releaseSlabArrays`) and carve
   * from them again, instead of leaving them to the garbage collector: for slabs that outlive
   * the collector's young generation (appended values live until their memtable's L0 flush), so
   * that they do not pile up dead in the old generation (bench/README.md, "Value slabs").
   */
  recycleSlabs?: number;
}

export class SlabAllocator {
  readonly slabBytes: number;
  readonly maxSlabbedBytes: number;
  #slab: ArrayBuffer = new ArrayBuffer(0);
  #used = 0;
  readonly #prefaultNext: boolean;
  readonly #recycleSlabs: number;
  /** Slabs whose arrays were all released, to carve from again (recycleSlabs). */
  readonly #recycled: ArrayBuffer[] = [];
  /** The current slab's ledger (recycleSlabs). */
  #ledger: SlabLedger | undefined;
  #reused = 0;
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
    this.#recycleSlabs = options.recycleSlabs ?? 0;
  }

  /**
   * `size` bytes that no other array returned here overlaps. Not zeroed (like
   * `Buffer.allocUnsafe`): the caller writes every byte before anything reads them.
   */
  allocUnsafe(size: number): Uint8Array {
    if (size > this.maxSlabbedBytes) return unzeroedBytes(size);
    if (this.#used + size > this.#slab.byteLength) this.#nextSlab();
    const out = new Uint8Array(this.#slab, this.#used, size);
    this.#used += size;
    if (this.#ledger !== undefined) this.#ledger.handedOut++;
    return out;
  }

  #nextSlab(): void {
    if (this.#recycleSlabs > 0) this.#seal(this.#slab);
    const recycled = this.#recycled.pop();
    if (recycled !== undefined) {
      this.#slab = recycled;
      this.#reused++;
    } else {
      this.#slab = this.#next ?? Buffer.allocUnsafeSlow(this.slabBytes).buffer;
      this.#next = undefined;
      if (this.#prefaultNext) this.#prepareNext();
    }
    this.#used = 0;
    if (this.#recycleSlabs > 0) {
      this.#ledger = { handedOut: 0, released: 0, sealed: false, takeBack: this.#takeBack };
      ledgers.set(this.#slab, this.#ledger);
    }
  }

  /** No more arrays are carved from `slab`: it can be taken back once all of its arrays were released. */
  #seal(slab: ArrayBuffer): void {
    const ledger = ledgers.get(slab);
    if (ledger === undefined) return; // the empty slab before the first
    ledger.sealed = true;
    if (ledger.released === ledger.handedOut) this.#takeBack(slab);
  }

  /** Slabs carved from again after all their arrays were released (recycleSlabs). */
  get reusedSlabs(): number {
    return this.#reused;
  }

  /** A sealed slab all of whose arrays were released (releaseSlabArrays): carved from again, up to recycleSlabs kept. */
  readonly #takeBack = (slab: ArrayBufferLike): void => {
    ledgers.delete(slab);
    if (this.#recycled.length < this.#recycleSlabs && slab.byteLength === this.slabBytes) this.#recycled.push(slab as ArrayBuffer);
  };

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
