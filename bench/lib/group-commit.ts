/**
 * A minimal group commit, the reference the engine is measured against: chunks submitted while a
 * commit is in flight gather, and the next commit takes all of them at once. One commit in flight
 * at a time; a commit starts on `setImmediate`, the same point in the event loop at which the
 * engine's WAL writer starts a flush, so chunks submitted in the same turn (and in the same poll
 * phase) share it.
 *
 *   submit ──> [queue] ──(none in flight, next setImmediate)──> sink(all queued chunks) ──> resolve them
 *
 * A failed commit rejects the chunks it carried and the committer keeps going: the bench treats
 * any rejection as a failed run.
 */

export type CommitSink = (chunks: Uint8Array[], totalBytes: number) => Promise<void>;

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class GroupCommitter {
  readonly #sink: CommitSink;
  #chunks: Uint8Array[] = [];
  #waiters: Waiter[] = [];
  #bytes = 0;
  #inFlight = false;
  #scheduled = false;
  /** Commits made (each one sink call). */
  commits = 0;

  constructor(sink: CommitSink) {
    this.#sink = sink;
  }

  submit(chunk: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
      this.#waiters.push({ resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled || this.#chunks.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#commit();
    });
  }

  async #commit(): Promise<void> {
    if (this.#inFlight || this.#chunks.length === 0) return;
    const chunks = this.#chunks;
    const waiters = this.#waiters;
    const bytes = this.#bytes;
    this.#chunks = [];
    this.#waiters = [];
    this.#bytes = 0;
    this.#inFlight = true;
    try {
      await this.#sink(chunks, bytes);
      this.commits++;
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      for (const waiter of waiters) waiter.reject(error);
    } finally {
      this.#inFlight = false;
      this.#schedule();
    }
  }
}
