/**
 * Batches out of a ReadSession: the session hands records out one at a time, the API sends
 * them in batches (a JSON or protobuf ReadBatch, an SSE `batch` event, an s2s frame).
 *
 * `next()` waits for one record, then takes every further record the session can hand out
 * at once (already decoded, no I/O), up to a record count and a metered byte bound. A record
 * that would cross the byte bound is kept for the next batch, so no batch exceeds it.
 */
import type { ReadRecord, ReadSession } from "../index.js";
import { meteredBytes } from "../index.js";

const NOT_READY = Symbol("not ready");

/** Reads a ReadSession batch by batch. */
export class BatchReader {
  readonly #iterator: AsyncIterator<ReadRecord>;
  #pending: Promise<IteratorResult<ReadRecord>> | undefined;
  #held: ReadRecord | undefined;
  #done = false;

  constructor(session: ReadSession) {
    this.#iterator = session[Symbol.asyncIterator]();
  }

  /** Whether the session ended (limit, until, wait, end of a non-following read). */
  get done(): boolean {
    return this.#done;
  }

  /** The next batch, waiting for its first record; undefined once the session ended. */
  async next(maxRecords: number, maxBytes: number): Promise<ReadRecord[] | undefined> {
    const records: ReadRecord[] = [];
    let bytes = 0;
    const add = (record: ReadRecord): boolean => {
      const size = meteredBytes(record);
      if (records.length > 0 && (records.length >= maxRecords || bytes + size > maxBytes)) {
        this.#held = record;
        return false;
      }
      records.push(record);
      bytes += size;
      return true;
    };
    if (this.#held !== undefined) {
      const held = this.#held;
      this.#held = undefined;
      add(held);
    }
    while (!this.#done && records.length < maxRecords) {
      const pending = (this.#pending ??= this.#iterator.next());
      const step = records.length === 0 ? await pending : await Promise.race([pending, Promise.resolve(NOT_READY)]);
      if (step === NOT_READY) break;
      this.#pending = undefined;
      if (step.done === true) this.#done = true;
      else if (!add(step.value)) break;
    }
    return records.length === 0 ? undefined : records;
  }

  /** Ends the session and frees what it holds. */
  async close(): Promise<void> {
    this.#done = true;
    await this.#iterator.return?.();
  }
}
