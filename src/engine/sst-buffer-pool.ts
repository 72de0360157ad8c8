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
 *
 * Invariants: a buffer is out to at most one builder at a time (take empties the pool), and it
 * comes back only once the PUT of the SST built in it resolved, that is when nothing reads the
 * SST's bytes any more (SstHandle info holds copies; readers load the SST from the store). A pool
 * that sees no flush for SST_BUFFER_IDLE_MS drops its buffer, so that an idle log gives the
 * memory back.
 */
import { assert } from "../errors.js";
import { MAX_SST_BUILDER_CAPACITY_BYTES, SST_BUFFER_HEADROOM, SST_BUFFER_IDLE_MS } from "../limits.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { SstOutputBuffers } from "./compaction-output.js";

export class SstBufferPool implements SstOutputBuffers {
  #buffer: Uint8Array | undefined;
  #idleTimer: TimerHandle | undefined;
  #out = false;
  #closed = false;

  constructor(private readonly clock: Pick<Clock, "setTimer">) {}

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
    const size = Math.max(minBytes, Math.min(Math.ceil(minBytes * SST_BUFFER_HEADROOM), MAX_SST_BUILDER_CAPACITY_BYTES));
    return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
  }

  /** Gives back the buffer `take` returned, once the SST built in it is stored (see the header). */
  give(buffer: Uint8Array): void {
    assert(this.#out, "SstBufferPool.give() without a take()");
    this.#out = false;
    if (this.#closed) return;
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

  #cancelIdle(): void {
    this.#idleTimer?.cancel();
    this.#idleTimer = undefined;
  }
}
