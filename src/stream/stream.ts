/**
 * Stream: the handle users hold for one stream of a Log. Appends, append sessions, reads,
 * the tail, and the two command records (fence, trim). Every method that returns a promise
 * reports failure by rejecting it.
 */
import { InternalError, StreamNotFoundError, type StreamPosition } from "../errors.js";
import { DEFAULT_INFLIGHT_BYTES } from "../limits.js";
import { AppendSession, type AppendTicket } from "./append-session.js";
import { ReadBatchSession, ReadSession, type ReadBatchOptions, type ReadContext, type StreamView } from "./read-session.js";
import { fenceRecord, trimRecord } from "./record-format.js";
import type { Streamer } from "./streamer.js";
import type { AppendAck, AppendOptions, AppendRecord, ReadOptions } from "./types.js";
import { checkInteger, validateAppend } from "./validate.js";
import type { ByteSemaphore } from "./byte-semaphore.js";
import { holdEventLoop } from "../util/keep-alive.js";

/** What a Stream needs from its Log (log.ts implements it). */
export interface StreamHost {
  streamer(name: string): Promise<Streamer>;
  /** The stream's streamer when it is loaded and `streamer()` would return it at once; else undefined. */
  readyStreamer(name: string): Streamer | undefined;
  /** What reads see of the stream: its Streamer, or on a read-only log its tracker. */
  view(name: string): Promise<StreamView>;
  readContext(name: string): Promise<ReadContext>;
  readonly semaphore: ByteSemaphore;
  recordAppend(latencyMs: number, ok: boolean): void;
  /** Monotonic ms, for latencies. */
  nowMs(): number;
  close(): Promise<void>;
  /** The failure route (Engine.fail): a broken invariant met in front of the streamer closes the Log as failed. */
  fail(error: unknown): void;
  /** Calls `listener` once when the Log closes (or fails); returns a function that unregisters it. */
  onClose(listener: () => void): () => void;
}

/** Options of `stream.appendSession()`. */
export interface AppendSessionOptions {
  /** Cap on this session's metered bytes awaiting acks (default: the Log's in-flight cap). */
  maxInflightBytes?: number;
}

export type { AppendTicket };

/**
 * A handle on one stream of a Log: appends, append sessions, reads, the tail, fence and trim.
 * Get one from `log.openStream()` or `openStream()`. Every method that returns a promise reports failure by rejecting it.
 */
export class Stream {
  /** The stream's name. */
  readonly name: string;
  readonly #host: StreamHost;
  readonly #ownsLog: boolean;
  readonly #streamId: number;

  /** @internal Streams come from `log.openStream()` or `openStream()`. */
  constructor(host: StreamHost, name: string, ownsLog: boolean, streamId: number) {
    this.#host = host;
    this.name = name;
    this.#ownsLog = ownsLog;
    this.#streamId = streamId;
  }

  /** @internal The id of the stream this handle names; a stream created later under the same name has another. */
  get streamId(): number {
    return this.#streamId;
  }

  /** What the host found under this handle's name, if it is still this handle's stream (else stream_not_found). */
  #same<T extends { readonly streamId: number }>(found: T): T {
    if (found.streamId !== this.#streamId) throw new StreamNotFoundError(this.name);
    return found;
  }

  #streamer(): Promise<Streamer> {
    return this.#host.streamer(this.name).then((streamer) => this.#same(streamer));
  }

  /**
   * Appends 1..1000 records as one atomic batch; resolves once they are durable. With
   * `matchSeqNum` the append happens only if the stream's next seqNum equals it; with
   * `fencingToken` only if the stream's token equals it.
   */
  async append(records: AppendRecord[], options?: AppendOptions): Promise<AppendAck> {
    const startMs = this.#host.nowMs();
    let release: (() => void) | undefined;
    try {
      const input = validateAppend(records, options);
      release = holdEventLoop(); // the ack waits on the engine's flush, which no Node handle may stand for
      const ready = this.#host.readyStreamer(this.name);
      const streamer = ready === undefined ? await this.#streamer() : this.#same(ready);
      let ack: AppendAck;
      try {
        ack = await streamer.append(input);
      } catch (error) {
        this.#host.recordAppend(this.#host.nowMs() - startMs, false);
        throw error;
      }
      this.#host.recordAppend(this.#host.nowMs() - startMs, true);
      return ack;
    } catch (error) {
      if (error instanceof InternalError) this.#host.fail(error); // the one route: the log closes as failed
      throw error;
    } finally {
      release?.();
    }
  }

  /** Opens a session for pipelined appends acknowledged in order. */
  appendSession(options: AppendSessionOptions = {}): AppendSession {
    const maxInflightBytes =
      options.maxInflightBytes === undefined ? DEFAULT_INFLIGHT_BYTES : checkInteger(options.maxInflightBytes, "maxInflightBytes", 1);
    return new AppendSession(
      {
        streamer: () => this.#streamer(),
        logSemaphore: this.#host.semaphore,
        onLogClose: (listener) => this.#host.onClose(listener),
        fail: (error) => this.#host.fail(error),
      },
      maxInflightBytes,
    );
  }

  /**
   * Reads durable records as an async iterable. `from` defaults to the tail; with `follow` the
   * session waits for new records (up to `waitMs` of idleness, or until `signal` aborts).
   */
  read(options: ReadOptions = {}): ReadSession {
    return new ReadSession(() => this.#readContext(), options);
  }

  /**
   * Reads durable records in batches, as an async iterable of `ReadBatch` (arrays of records):
   * the same options and records as `read()`, one async step per batch instead of per record.
   * A batch holds at most `maxBatchRecords` (default 1000) records and `maxBatchBytes` (default
   * 1 MiB) metered bytes, and at least one record.
   */
  readBatches(options: ReadBatchOptions = {}): ReadBatchSession {
    return new ReadBatchSession(() => this.#readContext(), options);
  }

  async #readContext(): Promise<ReadContext> {
    const context = await this.#host.readContext(this.name);
    this.#same(context.view);
    return context;
  }

  /** The durable tail: the seqNum the next record will get, and the last record's timestamp. */
  async checkTail(): Promise<StreamPosition> {
    return this.#same(await this.#host.view(this.name)).tail;
  }

  /** Appends a fence command record: from then on appends must carry `fencingToken: token`. */
  fence(token: string, options?: AppendOptions): Promise<AppendAck> {
    return this.append([fenceRecord(token)], options);
  }

  /** Appends a trim command record: records below `seqNum` become unreadable and are deleted in the background. */
  async trim(seqNum: number, options?: AppendOptions): Promise<AppendAck> {
    return this.append([trimRecord(seqNum)], options);
  }

  /** Closes the Log this stream opened (for `openStream()`); a no-op for streams of a shared Log. */
  async close(): Promise<void> {
    if (this.#ownsLog) await this.#host.close();
  }

  /** `close()`, for `await using stream = await openStream(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
