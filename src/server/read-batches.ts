/**
 * Batches for the API out of a ReadBatchSession (`stream.readBatches()`): the session hands out
 * arrays of records as the engine decodes them, the API sends batches of its own bounds (a JSON
 * or protobuf ReadBatch, an SSE `batch` event, an s2s frame).
 *
 * `next()` waits for one record, then takes every further record the session can hand out at
 * once (the rest of the session's batch at hand, and further batches already decoded: no I/O),
 * up to a record count and a metered byte bound. A record that would cross the byte bound is
 * kept for the next batch, so no batch exceeds it (a batch holds at least one record).
 */
import type { ReadBatch, ReadBatchSession, ReadRecord } from "../index.js";
import { meteredBytes } from "../index.js";

const NOT_READY = Symbol("not ready");

/** Reads a ReadBatchSession batch by batch, in batches of the caller's bounds. */
export class BatchReader {
  readonly #iterator: AsyncIterator<ReadBatch>;
  #pending: Promise<IteratorResult<ReadBatch>> | undefined;
  /** The session's batch at hand and the next record of it to send. */
  #held: ReadRecord[] = [];
  #heldIndex = 0;
  #done = false;

  constructor(session: ReadBatchSession) {
    this.#iterator = session[Symbol.asyncIterator]();
  }

  /** Whether the session ended (limit, until, wait, end of a non-following read). */
  get done(): boolean {
    return this.#done && this.#heldIndex >= this.#held.length;
  }

  /** The next batch, waiting for its first record; undefined once the session ended. */
  async next(maxRecords: number, maxBytes: number): Promise<ReadRecord[] | undefined> {
    const records: ReadRecord[] = [];
    let bytes = 0;
    /** Moves held records into `records`; false once the batch is full. */
    const take = (): boolean => {
      while (this.#heldIndex < this.#held.length) {
        const record = this.#held[this.#heldIndex]!;
        const size = meteredBytes(record);
        if (records.length > 0 && (records.length >= maxRecords || bytes + size > maxBytes)) return false;
        records.push(record);
        bytes += size;
        this.#heldIndex++;
      }
      return true;
    };
    let room = take();
    while (room && !this.#done && records.length < maxRecords) {
      const pending = (this.#pending ??= this.#iterator.next());
      const step = records.length === 0 ? await pending : await Promise.race([pending, Promise.resolve(NOT_READY)]);
      if (step === NOT_READY) break;
      this.#pending = undefined;
      if (step.done === true) {
        this.#done = true;
        break;
      }
      this.#held = step.value.records;
      this.#heldIndex = 0;
      room = take();
    }
    return records.length === 0 ? undefined : records;
  }

  /** Ends the session and frees what it holds. */
  async close(): Promise<void> {
    this.#done = true;
    this.#held = [];
    await this.#iterator.return?.();
  }
}
