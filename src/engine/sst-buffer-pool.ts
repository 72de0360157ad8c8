/**
 * The L0 flusher's output buffer, kept from one flush to the next on a store that is done with
 * a put's body once the put returned (LocalStore: the bytes are in a file by then).
 *
 * Why: an L0 is one buffer of up to `l0SstBytes` (64 MiB by default). A fresh one per flush
 * costs a page fault per 4 KiB on first touch (on the 2-core VM of bench/README.md, copying into
 * fresh memory ran at 1.4 GB/s against 9.4 GB/s into memory touched before: the copy of the
 * values into the SST was most of an L0 build), and each one freed raised glibc's mmap threshold
 * to its size, after which every buffer up to that size came from malloc's heap, which keeps
 * what it frees ("Memory soak: the allocator, not only V8").
 *
 *   flush:  take(bound) ──> SstBuilder builds in it ──> PUT resolves ──> give(buffer)
 *                                                                      └─ idle SST_BUFFER_IDLE_MS: dropped
 *   memtable half full, none kept: prepare(bound) ──> pages faulted in on the thread pool ──> kept
 *
 * Invariants: a buffer is out to at most one builder at a time (take empties the pool), and it
 * comes back only once the PUT of the SST built in it resolved, that is when nothing reads the
 * SST's bytes any more (SstHandle info holds copies; readers load the SST from the store). A pool
 * that sees no flush for SST_BUFFER_IDLE_MS drops its buffer, so that an idle log gives the
 * memory back. A buffer being prepared is never handed out: the kernel writes into it until its
 * prefault settles, and a take() meanwhile gets a fresh one.
 */
import { assert } from "../errors.js";
import { MAX_SST_BUILDER_CAPACITY_BYTES, SST_BUFFER_HEADROOM, SST_BUFFER_IDLE_MS } from "../limits.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { SstOutputBuffers } from "./compaction-output.js";
import { prefault } from "../util/prefault.js";
import { unzeroedBytes } from "../util/bytes.js";

export class SstBufferPool implements SstOutputBuffers {
  #buffer: Uint8Array | undefined;
  #idleTimer: TimerHandle | undefined;
  #out = false;
  #closed = false;
  /** Settles once the buffer prepare() is faulting in is kept or dropped. */
  #preparing: Promise<void> | undefined;

  /**
   * `allocate`: where fresh buffers come from (default: plain ones). On a LocalStore, its
   * allocatePutBuffer, so that an SST built here is written around the page cache.
   */
  constructor(
    private readonly clock: Pick<Clock, "setTimer">,
    private readonly allocate: (sizeBytes: number) => Uint8Array = unzeroedBytes,
  ) {}

  /**
   * A buffer of at least `minBytes` for one SST: the kept one if it is big enough, else a fresh
   * one with some headroom (the next memtable's bound is a little larger or smaller).
   */
  take(minBytes: number): Uint8Array {
    assert(!this.#out, "SstBufferPool.take() while its buffer is out: one L0 is built at a time");
    this.#out = true;
    this.#cancelIdle();
    const kept = this.#buffer;
    this.#buffer = undefined;
    if (kept !== undefined && kept.length >= minBytes) return kept;
    return this.#fresh(minBytes);
  }

  /**
   * Gets the next L0's buffer ready ahead of time when none is kept: allocated now, its pages
   * faulted in on the thread pool (util/prefault.ts), kept once they are in. The engine calls
   * this when the active memtable is half full, so that the first L0 of a process (and the
   * first after an idle spell dropped the buffer) is built into memory that is already there:
   * faulting in a fresh 64 MiB buffer cost that build 35-70 ms on the log's thread.
   */
  prepare(minBytes: number): void {
    if (this.#buffer !== undefined || this.#out || this.#closed || this.#preparing !== undefined) return;
    const buffer = this.#fresh(minBytes);
    this.#preparing = prefault(buffer).then(() => {
      this.#preparing = undefined;
      // A take() meanwhile got a fresh buffer; the one it gives back is kept instead of this one.
      if (this.#buffer !== undefined || this.#out || this.#closed) return;
      this.#keep(buffer);
    });
  }

  /** Gives back the buffer `take` returned, once the SST built in it is stored (see the header). */
  give(buffer: Uint8Array): void {
    assert(this.#out, "SstBufferPool.give() without a take()");
    this.#out = false;
    if (this.#closed) return;
    this.#keep(buffer);
  }

  /** Keeps `buffer` until the next take(), or for SST_BUFFER_IDLE_MS. */
  #keep(buffer: Uint8Array): void {
    this.#buffer = buffer;
    this.#idleTimer = this.clock.setTimer(SST_BUFFER_IDLE_MS, () => {
      this.#idleTimer = undefined;
      this.#buffer = undefined;
    });
    this.#idleTimer.unref?.(); // upkeep nobody awaits: it must not keep the process alive
  }

  /** The build failed or was given up: its buffer may still be read by a PUT that did not return, so it is not kept. */
  forget(): void {
    this.#out = false;
  }

  /** Settles once a prepare() under way kept or dropped its buffer (tests). */
  whenPrepared(): Promise<void> {
    return this.#preparing ?? Promise.resolve();
  }

  /** Whether a buffer is kept (tests). */
  get holdsBytes(): number {
    return this.#buffer?.length ?? 0;
  }

  /** Drops the kept buffer; a buffer given back afterwards is not kept. */
  close(): void {
    this.#closed = true;
    this.#cancelIdle();
    this.#buffer = undefined;
  }

  /** A fresh buffer for an SST of `minBytes`, with some headroom (the next memtable's bound is a little larger or smaller). */
  #fresh(minBytes: number): Uint8Array {
    return this.allocate(Math.max(minBytes, Math.min(Math.ceil(minBytes * SST_BUFFER_HEADROOM), MAX_SST_BUILDER_CAPACITY_BYTES)));
  }

  #cancelIdle(): void {
    this.#idleTimer?.cancel();
    this.#idleTimer = undefined;
  }
}
