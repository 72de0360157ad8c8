/**
 * The WAL writer: group commit with one PUT in flight.
 *
 * Batches are appended (already encoded) to a buffer. When no PUT is in flight and the buffer
 * is not empty, the buffer becomes one WAL object `wal/<id>`, created create-only. Batches that
 * arrive while it is in flight gather for the next object. Flush starts are spaced at least
 * `flushIntervalMs` apart, so WAL PUTs never exceed 1000 / flushIntervalMs per second whatever
 * the load; an idle writer flushes at once (after the current turn of the event loop, so that
 * appends made in the same turn share the object).
 *
 *   append ──> [buffer] ──(idle, spacing elapsed)──> PUT wal/<id> (ifNoneMatch "*")
 *                 ^ appends gather here while a PUT is in flight      │ ok: onFlushed(maxSeq)
 *                                                                     │ error: onFailed(error)
 *
 * Right before the buffer becomes an object (the cut), `beforeCut` may append more batches:
 * the engine writes there what must be in the same object as the writes before it but only
 * once per object (see `Engine.writeAtNextCut`). A cut therefore never happens inside
 * `append`: a caller of `append` may still be updating its own state when it returns.
 *
 * A PUT that fails (after the retrying store gave up) stops the writer: nothing after it may
 * become durable before it, so the engine fails every pending write and reopens.
 */
import { InternalError, assert } from "../errors.js";
import type { ObjectStore } from "../store/object-store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { walKey } from "./paths.js";
import { encodeWalObject } from "./wal-format.js";
import { failpoint } from "../util/failpoints.js";
import type { WalFlush, WalSink } from "./wal.js";

/**
 * A buffer this large is flushed in a microtask right after the current one, instead of after
 * the current event-loop turn: a producer that never yields (a loop of promise continuations)
 * would otherwise starve the flush and nothing would ever become durable.
 */
export const WAL_FLUSH_NOW_BYTES = 1024 * 1024;

export type { WalFlush } from "./wal.js";

export interface WalWriterOptions {
  store: ObjectStore;
  clock: Clock;
  writerEpoch: number;
  firstWalId: number;
  flushIntervalMs: number;
  /** Called synchronously at each cut, before the buffer is taken; may call `append`. */
  beforeCut?: () => void;
  onFlushed: (flush: WalFlush) => void;
  onFailed: (error: unknown) => void;
}

export class WalWriter implements WalSink {
  readonly #options: WalWriterOptions;
  #batches: Uint8Array[] = [];
  #bufferedBytes = 0;
  #bufferMaxSeq = 0;
  #nextWalId: number;
  #inFlight = false;
  #lastStartMs = Number.NEGATIVE_INFINITY;
  #timer: TimerHandle | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #microtaskQueued = false;
  #cutting = false;
  #stopped = false;

  constructor(options: WalWriterOptions) {
    this.#options = options;
    this.#nextWalId = options.firstWalId;
  }

  /** The id the next WAL object will get (every lower id is written or is a fence). */
  get nextWalId(): number {
    return this.#nextWalId;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  get inFlight(): boolean {
    return this.#inFlight;
  }

  append(seq: number, encodedBatch: Uint8Array): void {
    assert(!this.#stopped, "append to a stopped WAL writer");
    assert(seq > this.#bufferMaxSeq, () => `WAL batch seq ${seq} after ${this.#bufferMaxSeq}`);
    this.#batches.push(encodedBatch);
    this.#bufferedBytes += encodedBatch.length;
    this.#bufferMaxSeq = seq;
    if (this.#cutting) return; // beforeCut is adding to the object being cut
    if (this.#bufferedBytes >= WAL_FLUSH_NOW_BYTES && this.#spacingElapsed() && !this.#inFlight) {
      if (this.#immediate !== undefined) clearImmediate(this.#immediate);
      this.#immediate = undefined;
      if (!this.#microtaskQueued) {
        this.#microtaskQueued = true;
        queueMicrotask(() => {
          this.#microtaskQueued = false;
          void this.#flush();
        });
      }
      return;
    }
    this.#schedule();
  }

  #spacingElapsed(): boolean {
    return this.#lastStartMs + this.#options.flushIntervalMs <= this.#options.clock.elapsedMs();
  }

  /** Stops flushing; the buffer is dropped (its batches were never durable). */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#batches = [];
    this.#bufferedBytes = 0;
  }

  #schedule(): void {
    if (this.#stopped || this.#inFlight || this.#microtaskQueued || this.#timer !== undefined || this.#immediate !== undefined) return;
    if (this.#batches.length === 0) return;
    const waitMs = this.#lastStartMs + this.#options.flushIntervalMs - this.#options.clock.elapsedMs();
    if (waitMs > 0) {
      this.#timer = this.#options.clock.setTimer(waitMs, () => {
        this.#timer = undefined;
        // Node timers can fire up to a millisecond early: check the spacing again, never assume it.
        this.#schedule();
      });
    } else {
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        void this.#flush();
      });
    }
  }

  async #flush(): Promise<void> {
    if (this.#stopped || this.#inFlight || this.#batches.length === 0) return;
    try {
      this.#cut();
    } catch (error) {
      if (!this.#stopped) {
        this.stop();
        this.#options.onFailed(error);
      }
      return;
    }
    if (this.#stopped) return;
    const batches = this.#batches;
    const maxSeq = this.#bufferMaxSeq;
    const walId = this.#nextWalId;
    this.#batches = [];
    this.#bufferedBytes = 0;
    this.#inFlight = true;
    const startMs = this.#options.clock.elapsedMs();
    this.#lastStartMs = startMs;
    const body = encodeWalObject(this.#options.writerEpoch, walId, batches);
    try {
      await this.#options.store.put(walKey(walId), body, { ifNoneMatch: "*" });
    } catch (error) {
      this.#inFlight = false;
      if (!this.#stopped) {
        this.stop();
        this.#options.onFailed(error);
      }
      return;
    }
    this.#inFlight = false;
    if (this.#stopped) return;
    this.#nextWalId = walId + 1;
    const durationMs = this.#options.clock.elapsedMs() - startMs;
    try {
      failpoint("wal.flushed");
      this.#options.onFlushed({ walId, maxSeq, bytes: body.length, batches: batches.length, durationMs });
    } catch (error) {
      this.stop();
      this.#options.onFailed(error);
      return;
    }
    this.#schedule();
  }

  /** Lets `beforeCut` add its batches to the object about to be cut. */
  #cut(): void {
    if (this.#options.beforeCut === undefined) return;
    this.#cutting = true;
    try {
      this.#options.beforeCut();
    } finally {
      this.#cutting = false;
    }
  }
}
