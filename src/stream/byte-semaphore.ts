/**
 * The log-wide byte semaphore that bounds in-flight appends (docs/design.md section 3, "Backpressure").
 *
 * Every append acquires its metered size in bytes before it is sequenced and holds the permit
 * until its reply (ack or error) is delivered, so the bytes held by all streams of one log never
 * exceed `capacityBytes` (`openLog({ inflightBytes })`, 128 MiB by default).
 *
 *   acquire(n) ──> [ waiter FIFO ] ──> granted when inUse + n <= capacity ──> release()
 *
 * Decisions:
 * - Strict FIFO: a request waits while anyone is queued ahead of it, even if it would fit, so a
 *   large append is never starved by a stream of small ones.
 * - A request takes max(bytes, 1) so that an empty append still counts, and at most the whole
 *   capacity: with MIN_INFLIGHT_BYTES >= MAX_APPEND_BYTES no valid append is ever clamped, and
 *   clamping instead of refusing keeps a caller-sized request from waiting forever.
 * - The waiter queue has no limit of its own: each waiter is one caller's pending append call,
 *   so the queue is bounded by the caller's concurrency (an append session allows one waiter).
 *
 * Invariant: 0 <= inUseBytes <= capacityBytes; a waiter is granted only at the queue's head.
 */
import Denque from "denque";
import { AbortedError, InternalError, assert } from "../errors.js";

/** Bytes held from the semaphore; give them back with `release()` (idempotent). */
export interface Permit {
  /** The bytes this permit holds (the request, raised to 1 and clamped to the capacity). */
  readonly bytes: number;
  release(): void;
}

interface Waiter {
  bytes: number;
  resolve: (permit: Permit) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class ByteSemaphore {
  readonly capacityBytes: number;
  #inUseBytes = 0;
  #waits = 0;
  readonly #waiters = new Denque<Waiter>();
  #closedWith: unknown = undefined;
  #closed = false;

  constructor(capacityBytes: number) {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes >= 1, () => `capacityBytes must be >= 1, got ${capacityBytes}`);
    this.capacityBytes = capacityBytes;
  }

  /** Bytes held by granted permits that were not released yet. */
  get inUseBytes(): number {
    return this.#inUseBytes;
  }

  /** Requests queued, waiting for bytes. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Requests since construction that had to wait (a backpressure counter for metrics). */
  get waits(): number {
    return this.#waits;
  }

  /**
   * Resolves with a permit once `bytes` (raised to 1, clamped to the capacity) are free and every
   * earlier request was served. Rejects with AbortedError if `signal` fires first (nothing is
   * held then), or with the close error once `close()` was called.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<Permit> {
    if (this.#closed) return Promise.reject(this.#closedWith);
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      return Promise.reject(new InternalError(`asked for ${bytes} in-flight bytes, not a byte count`));
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const need = Math.min(Math.max(bytes, 1), this.capacityBytes);
    if (this.#waiters.isEmpty() && this.#inUseBytes + need <= this.capacityBytes) {
      return Promise.resolve(this.#grant(need));
    }
    this.#waits++;
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = { bytes: need, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => this.#abort(waiter);
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /**
   * `acquire` without the promise, for the append fast path: a permit when the bytes are free
   * now and nobody waits ahead (the FIFO order is kept), undefined otherwise (then `acquire`).
   */
  tryAcquire(bytes: number, signal?: AbortSignal): Permit | undefined {
    if (this.#closed || !Number.isSafeInteger(bytes) || bytes < 0 || signal?.aborted === true) return undefined;
    const need = Math.min(Math.max(bytes, 1), this.capacityBytes);
    if (!this.#waiters.isEmpty() || this.#inUseBytes + need > this.capacityBytes) return undefined;
    return this.#grant(need);
  }

  /** Fails every waiting request and every later `acquire` with `error`. Held permits stay valid. */
  close(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedWith = error;
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
      detach(waiter);
      waiter.reject(error);
    }
  }

  #grant(bytes: number): Permit {
    this.#inUseBytes += bytes;
    assert(this.#inUseBytes <= this.capacityBytes, () => `in-flight bytes ${this.#inUseBytes} over capacity ${this.capacityBytes}`);
    return new GrantedPermit(bytes, this.#onRelease);
  }

  /** Takes back a permit's bytes (GrantedPermit calls it at most once). */
  readonly #onRelease = (bytes: number): void => {
    this.#inUseBytes -= bytes;
    assert(this.#inUseBytes >= 0, () => `in-flight bytes went negative: ${this.#inUseBytes}`);
    this.#drain();
  };

  /** Grants waiters from the head while they fit. */
  #drain(): void {
    for (let head = this.#waiters.peekFront(); head !== undefined; head = this.#waiters.peekFront()) {
      if (this.#inUseBytes + head.bytes > this.capacityBytes) return;
      this.#waiters.shift();
      detach(head);
      head.resolve(this.#grant(head.bytes));
    }
  }

  #abort(waiter: Waiter): void {
    for (let i = 0; i < this.#waiters.length; i++) {
      if (this.#waiters.peekAt(i) !== waiter) continue;
      this.#waiters.removeOne(i);
      waiter.reject(abortError(waiter.signal!));
      // The aborted request may have been the head that blocked the others.
      if (i === 0) this.#drain();
      return;
    }
  }
}

/** A permit as an object of its own, not a closure: one is made per append. */
class GrantedPermit implements Permit {
  #released = false;

  constructor(
    readonly bytes: number,
    private readonly onRelease: (bytes: number) => void,
  ) {}

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.onRelease(this.bytes);
  }
}

function detach(waiter: Waiter): void {
  if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener("abort", waiter.onAbort);
}

function abortError(signal: AbortSignal): AbortedError {
  return new AbortedError("waiting for in-flight byte capacity", "not_applied", { cause: signal.reason });
}
