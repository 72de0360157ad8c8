/**
 * RetryingStore: retries failed store calls with exponential backoff until a deadline.
 *
 * Stack (top to bottom): engine -> RetryingStore -> InstrumentedStore -> the user's store
 * (possibly FaultyStore -> MemoryStore / LocalStore / S3Store). Each attempt below is counted.
 *
 * Only errors marked `retryable` are retried (a store outage, a timeout, a 5xx). A
 * precondition failure, a missing key, a corrupt object are answers, not failures.
 *
 * Ambiguity: when a conditional PUT attempt failed retryably, its bytes may have landed anyway.
 * If a later attempt then finds the key taken, the object is read back and compared with what
 * we wrote: equal bytes mean the earlier attempt won, and the put succeeds. (Every object the
 * engine writes create-only is unique to its writer: it carries the writer epoch and id.)
 */
import { PreconditionFailedError, StorageError, isDurastreamError } from "../errors.js";
import { getInto, type ByteRange, type ListEntry, type ListOptions, type ObjectInfo, type ObjectStore, type PutCondition, type PutResult } from "../store/object-store.js";
import type { Clock } from "../util/clock.js";

export interface RetryPolicy {
  /** Give up when a call has been failing for this long (the engine's storeRetryDeadlineMs). */
  deadlineMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export class RetryingStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #clock: Clock;
  readonly #policy: RetryPolicy;
  readonly #signal: AbortSignal | undefined;

  constructor(inner: ObjectStore, clock: Clock, policy: RetryPolicy, signal?: AbortSignal) {
    this.#inner = inner;
    this.#clock = clock;
    this.#policy = policy;
    this.#signal = signal;
  }

  get description(): string | undefined {
    return this.#inner.description;
  }

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.#retry(() => this.#inner.get(key, range));
  }

  /** Attempts run one after another, so nothing writes into `into` once this settles. */
  getInto(key: string, range: Required<ByteRange>, into: Uint8Array): Promise<Uint8Array> {
    return this.#retry(() => getInto(this.#inner, key, range, into));
  }

  head(key: string): Promise<ObjectInfo> {
    return this.#retry(() => this.#inner.head(key));
  }

  delete(key: string): Promise<void> {
    return this.#retry(() => this.#inner.delete(key));
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    // A listing is retried as a whole page sequence from the last key it yielded.
    let startAfter = options.startAfter;
    let failingSinceMs: number | undefined;
    let backoffMs = this.#policy.initialBackoffMs;
    for (;;) {
      try {
        for await (const entry of this.#inner.list(prefix, startAfter === undefined ? {} : { startAfter })) {
          failingSinceMs = undefined;
          startAfter = entry.key;
          yield entry;
        }
        return;
      } catch (error) {
        failingSinceMs ??= this.#clock.elapsedMs();
        await this.#backoffOrThrow(error, failingSinceMs, backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.#policy.maxBackoffMs);
      }
    }
  }

  async put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    let ambiguous = false;
    return this.#retry(async () => {
      try {
        return await this.#inner.put(key, body, condition);
      } catch (error) {
        if (error instanceof PreconditionFailedError && ambiguous && condition !== undefined) {
          const mine = await this.#isOurs(key, body);
          if (mine !== undefined) return mine;
        }
        if (isDurastreamError(error) && error.retryable) ambiguous = true;
        throw error;
      }
    });
  }

  async #isOurs(key: string, body: Uint8Array): Promise<PutResult | undefined> {
    const info = await this.#inner.head(key);
    if (info.size !== body.length) return undefined;
    const stored = await this.#inner.get(key);
    return Buffer.from(stored).equals(Buffer.from(body.buffer, body.byteOffset, body.byteLength)) ? { etag: info.etag } : undefined;
  }

  async #retry<T>(attempt: () => Promise<T>): Promise<T> {
    const startMs = this.#clock.elapsedMs();
    let backoffMs = this.#policy.initialBackoffMs;
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        await this.#backoffOrThrow(error, startMs, backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.#policy.maxBackoffMs);
      }
    }
  }

  async #backoffOrThrow(error: unknown, failingSinceMs: number, backoffMs: number): Promise<void> {
    if (!isDurastreamError(error) || !error.retryable) throw error;
    if (this.#signal?.aborted) throw error;
    const elapsedMs = this.#clock.elapsedMs() - failingSinceMs;
    if (elapsedMs + backoffMs > this.#policy.deadlineMs) {
      throw new StorageError(
        `the store kept failing for ${Math.round(elapsedMs)} ms (storeRetryDeadlineMs is ${this.#policy.deadlineMs}): ${error.message}`,
        { cause: error, retryable: true, outcome: "unknown" },
      );
    }
    try {
      await this.#clock.sleep(backoffMs, this.#signal);
    } catch {
      throw error;
    }
  }
}
