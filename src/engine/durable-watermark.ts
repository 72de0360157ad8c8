/**
 * The durable watermark: the highest engine seq whose batch is in a WAL object the store
 * confirmed. It only moves forward, and only from the WAL writer's success path.
 *
 * Waiters are kept sorted by target seq, so advancing releases a prefix. A failure fails every
 * waiter (and every later one) with the engine's error. Listeners hear each advance.
 */
import Denque from "denque";
import { assert } from "../errors.js";

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class DurableWatermark {
  #seq: number;
  readonly #waiters = new Denque<Waiter>();
  readonly #listeners = new Set<(durableSeq: number) => void>();
  #failure: Error | undefined;

  constructor(initialSeq: number) {
    this.#seq = initialSeq;
  }

  get seq(): number {
    return this.#seq;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves once `seq` is durable; rejects if the engine fails or closes first. */
  whenDurable(seq: number): Promise<void> {
    if (seq <= this.#seq) return Promise.resolve();
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      const waiter = { seq, resolve, reject };
      const last = this.#waiters.peekBack();
      if (last === undefined || last.seq <= seq) {
        this.#waiters.push(waiter);
        return;
      }
      // Out of order (rare): insert at the sorted position.
      const all = this.#waiters.toArray();
      const index = all.findIndex((w) => w.seq > seq);
      this.#waiters.splice(index, 0, waiter);
    });
  }

  advance(seq: number): void {
    assert(seq >= this.#seq, () => `durable watermark would go back from ${this.#seq} to ${seq}`);
    if (seq === this.#seq) return;
    this.#seq = seq;
    for (let front = this.#waiters.peekFront(); front !== undefined && front.seq <= seq; front = this.#waiters.peekFront()) {
      this.#waiters.shift();
      front.resolve();
    }
    for (const listener of this.#listeners) listener(seq);
  }

  /** Fails every waiter; later calls to whenDurable for non-durable seqs reject too. */
  fail(error: Error): void {
    this.#failure = error;
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) waiter.reject(error);
  }

  /** Fails the current waiters but keeps accepting new ones (after a reset and reopen). */
  failPending(error: Error): void {
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) waiter.reject(error);
  }


  onAdvance(listener: (durableSeq: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
