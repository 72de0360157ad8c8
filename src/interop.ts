/**
 * Interop with Node streams and web streams: a read session as a Node `Readable` or a web
 * `ReadableStream` of records, an append sink as a Node `Writable` or a web `WritableStream`,
 * and `splitLines()`, which turns bytes into one chunk per line:
 *
 *   await pipeline(createReadStream("events.log"), splitLines(), toAppendWritable(stream));
 *   // resolves once every line is durable; rejects with the first append error
 *
 *   for await (const record of toReadable(stream.read({ from: { seqNum: 0 } }))) ...
 *
 * Backpressure: a readable pulls the next record only when its consumer wants more; a writable
 * takes the next chunk only when its append session has room (`submit()` resolved), so a fast
 * producer is paced by durability. Cleanup: destroying or cancelling a readable closes its read
 * session; destroying or aborting a writable stops accepting chunks and settles after every
 * append it submitted has been acknowledged or failed. `signal` destroys either kind with an
 * AbortedError (code "aborted").
 */
import { Readable, Transform, Writable } from "node:stream";
import { CountQueuingStrategy, ReadableStream, WritableStream, type ReadableStreamDefaultController, type WritableStreamDefaultController } from "node:stream/web";
import { AbortedError, ValidationError } from "./errors.js";
import { MAX_APPEND_BYTES, MAX_APPEND_RECORDS, MAX_RECORD_BYTES } from "./limits.js";
import type { AppendSession } from "./stream/append-session.js";
import { meteredBytes } from "./stream/record-format.js";
import type { ReadSession } from "./stream/read-session.js";
import { Stream } from "./stream/stream.js";
import type { AppendAck, AppendOptions, AppendRecord, ReadRecord } from "./stream/types.js";

/** Options of `toReadable()` and `toReadableStream()`. */
export interface RecordReadableOptions {
  /** Records buffered ahead of the consumer (default 16). */
  highWaterMark?: number;
  /** Destroys the readable with an AbortedError and closes the session. */
  signal?: AbortSignal;
}

/**
 * What an append sink accepts per chunk: a record; an array of records, appended as one atomic
 * batch of its own; or a string or bytes, which become the body of one record.
 */
export type AppendChunk = AppendRecord | AppendRecord[] | string | Uint8Array;

/** Options of `toAppendWritable()` and `toAppendWritableStream()`. */
export interface AppendSinkOptions {
  /** Headers given to every record built from a string or bytes chunk. */
  headers?: [Uint8Array | string, Uint8Array | string][];
  /**
   * The seqNum the first record must get. The sink advances it by every append, so the whole
   * sink appends only if nobody else appended in between (an idempotent producer).
   */
  matchSeqNum?: number;
  /** Fencing token for every append. */
  fencingToken?: string;
  /** Cap on this sink's metered bytes awaiting acks, when it opens its own session (default: the log's cap). */
  maxInflightBytes?: number;
  /** Chunks buffered before the sink reports backpressure (default 16). */
  highWaterMark?: number;
  /** Called with each append's ack, in order. */
  onAck?: (ack: AppendAck) => void;
  /** Destroys (aborts) the sink with an AbortedError; appends already submitted may still become durable. */
  signal?: AbortSignal;
}

/** Options of `splitLines()`. */
export interface SplitLinesOptions {
  /** Longest line accepted, in bytes (default 1 MiB, the record limit); a longer one fails the stream. */
  maxLineBytes?: number;
  /** Lines buffered for the reader (default 1000). */
  highWaterMark?: number;
}

/** A read session as a Node object-mode `Readable` of ReadRecords. Destroying it closes the session. */
export function toReadable(session: ReadSession, options: RecordReadableOptions = {}): Readable {
  const iterator = session[Symbol.asyncIterator]();
  let pulling = false;
  const readable = new Readable({
    objectMode: true,
    highWaterMark: options.highWaterMark ?? 16,
    read() {
      if (pulling) return;
      pulling = true;
      void pump().finally(() => (pulling = false));
    },
    destroy(error, callback) {
      closeIterator(session, iterator).then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
  const pump = async (): Promise<void> => {
    try {
      for (;;) {
        const next = await iterator.next();
        if (readable.destroyed) return;
        if (next.done === true) {
          readable.push(null);
          return;
        }
        if (!readable.push(next.value)) return;
      }
    } catch (error) {
      readable.destroy(error as Error);
    }
  };
  onAbort(options.signal, () => readable.destroy(new AbortedError("the read stream")));
  return readable;
}

/** A read session as a web `ReadableStream` of ReadRecords. Cancelling it closes the session. */
export function toReadableStream(session: ReadSession, options: RecordReadableOptions = {}): ReadableStream<ReadRecord> {
  const iterator = session[Symbol.asyncIterator]();
  let controller!: ReadableStreamDefaultController<ReadRecord>;
  const stream = new ReadableStream<ReadRecord>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        const next = await iterator.next();
        if (next.done === true) c.close();
        else c.enqueue(next.value);
      },
      cancel: () => closeIterator(session, iterator),
    },
    new CountQueuingStrategy({ highWaterMark: options.highWaterMark ?? 16 }),
  );
  onAbort(options.signal, () => {
    controller.error(new AbortedError("the read stream"));
    void closeIterator(session, iterator);
  });
  return stream;
}

/**
 * A Node object-mode `Writable` that appends what is written to `target` (a stream, through an
 * append session of its own, or an append session the caller keeps). Its `finish` event (and so
 * `pipeline()`) comes only once every append is acknowledged; the first failed append destroys it
 * with that error. Chunks written while it is busy are merged into batches of up to 1000 records
 * and 1 MiB (an array chunk stays one batch of its own).
 */
export function toAppendWritable(target: Stream | AppendSession, options: AppendSinkOptions = {}): Writable {
  const sink = new AppendSink(target, options);
  const writable: Writable = new Writable({
    objectMode: true,
    highWaterMark: options.highWaterMark ?? 16,
    write(chunk: AppendChunk, _encoding, callback) {
      sink.submitChunks([chunk]).then(() => callback(), callback);
    },
    writev(chunks, callback) {
      sink.submitChunks(chunks.map((c) => c.chunk as AppendChunk)).then(() => callback(), callback);
    },
    final(callback) {
      sink.finish().then(() => callback(), callback);
    },
    destroy(error, callback) {
      sink.settle().then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
  sink.onFailure = (error) => writable.destroy(error);
  onAbort(options.signal, () => writable.destroy(new AbortedError("the append writable", "unknown")));
  return writable;
}

/**
 * A web `WritableStream` that appends each chunk to `target` (one append per chunk, pipelined).
 * `close()` resolves once every append is acknowledged; the first failed append errors the stream.
 */
export function toAppendWritableStream(target: Stream | AppendSession, options: AppendSinkOptions = {}): WritableStream<AppendChunk> {
  const sink = new AppendSink(target, options);
  let controller!: WritableStreamDefaultController;
  const stream = new WritableStream<AppendChunk>(
    {
      start(c) {
        controller = c;
      },
      write: (chunk) => sink.submitChunks([chunk]),
      close: () => sink.finish(),
      abort: () => sink.settle(),
    },
    new CountQueuingStrategy({ highWaterMark: options.highWaterMark ?? 16 }),
  );
  sink.onFailure = (error) => controller.error(error);
  onAbort(options.signal, () => {
    controller.error(new AbortedError("the append stream", "unknown"));
    void sink.settle();
  });
  return stream;
}

/**
 * A Transform from bytes (or strings) to one Buffer per line, without the "\n" (a "\r" before
 * it is kept). A last line without a newline is emitted at the end; empty lines are emitted too.
 */
export function splitLines(options: SplitLinesOptions = {}): Transform {
  const maxLineBytes = options.maxLineBytes ?? MAX_RECORD_BYTES;
  let partial: Buffer[] = [];
  let partialBytes = 0;
  const tooLong = (bytes: number) => new ValidationError(`a line of ${bytes} bytes or more is longer than the ${maxLineBytes} bytes allowed`);
  return new Transform({
    readableObjectMode: true,
    readableHighWaterMark: options.highWaterMark ?? 1000,
    transform(chunk: Buffer | string, encoding, callback) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
      let start = 0;
      for (let newline = bytes.indexOf(0x0a, start); newline !== -1; newline = bytes.indexOf(0x0a, start)) {
        const piece = bytes.subarray(start, newline);
        if (partialBytes + piece.length > maxLineBytes) return callback(tooLong(partialBytes + piece.length));
        this.push(partial.length === 0 ? piece : Buffer.concat([...partial, piece]));
        partial = [];
        partialBytes = 0;
        start = newline + 1;
      }
      if (start < bytes.length) {
        partial.push(bytes.subarray(start));
        partialBytes += bytes.length - start;
        if (partialBytes > maxLineBytes) return callback(tooLong(partialBytes));
      }
      callback();
    },
    flush(callback) {
      if (partial.length > 0) this.push(Buffer.concat(partial));
      partial = [];
      callback();
    },
  });
}

/** Ends a session's iteration: close() wakes a pending next(), then return() releases the generator. */
async function closeIterator(session: ReadSession, iterator: AsyncIterator<ReadRecord>): Promise<void> {
  await session.close();
  await iterator.return?.();
}

function onAbort(signal: AbortSignal | undefined, action: () => void): void {
  if (signal === undefined) return;
  if (signal.aborted) queueMicrotask(action);
  else signal.addEventListener("abort", action, { once: true });
}

/**
 * The part both writables share: turns chunks into batches, submits them in order through one
 * append session, tracks the acks, and remembers the first failure.
 */
class AppendSink {
  readonly #session: AppendSession;
  readonly #ownsSession: boolean;
  readonly #options: AppendSinkOptions;
  readonly #pending = new Set<Promise<void>>();
  #nextMatchSeqNum: number | undefined;
  #failure: Error | undefined;
  /** Told once, on the first failed append, so the stream can fail at once rather than at its next write. */
  onFailure: ((error: Error) => void) | undefined;

  constructor(target: Stream | AppendSession, options: AppendSinkOptions) {
    this.#ownsSession = target instanceof Stream;
    this.#session =
      target instanceof Stream
        ? target.appendSession(options.maxInflightBytes === undefined ? {} : { maxInflightBytes: options.maxInflightBytes })
        : target;
    this.#options = options;
    this.#nextMatchSeqNum = options.matchSeqNum;
  }

  /** Submits the chunks in order, as few batches as the limits allow; resolves once all are submitted. */
  async submitChunks(chunks: readonly AppendChunk[]): Promise<void> {
    for (const batch of toBatches(chunks, this.#options.headers)) {
      if (this.#failure !== undefined) throw this.#failure;
      const ticket = await this.#session.submit(batch, this.#appendOptions(batch.length));
      const acked = ticket.ack().then(
        (ack) => this.#options.onAck?.(ack),
        (error: Error) => this.#fail(error),
      );
      this.#pending.add(acked);
      void acked.finally(() => this.#pending.delete(acked));
    }
  }

  /** Waits for every submitted append; rejects with the first failure. */
  async finish(): Promise<void> {
    await this.settle();
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Waits until every submitted append was acknowledged or failed (closing our own session). */
  async settle(): Promise<void> {
    if (this.#ownsSession) await this.#session.close();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #appendOptions(records: number): AppendOptions {
    const options: AppendOptions = {};
    if (this.#options.fencingToken !== undefined) options.fencingToken = this.#options.fencingToken;
    if (this.#options.signal !== undefined) options.signal = this.#options.signal;
    if (this.#nextMatchSeqNum !== undefined) {
      options.matchSeqNum = this.#nextMatchSeqNum;
      this.#nextMatchSeqNum += records;
    }
    return options;
  }

  #fail(error: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.onFailure?.(error);
  }
}

/** Groups chunks into appends: array chunks alone, the rest merged up to the record and byte limits. */
function toBatches(chunks: readonly AppendChunk[], headers: AppendSinkOptions["headers"]): AppendRecord[][] {
  const batches: AppendRecord[][] = [];
  let current: AppendRecord[] = [];
  let currentBytes = 0;
  const cut = () => {
    if (current.length > 0) batches.push(current);
    current = [];
    currentBytes = 0;
  };
  for (const chunk of chunks) {
    if (Array.isArray(chunk)) {
      cut();
      batches.push(chunk);
      continue;
    }
    const record = toRecord(chunk, headers);
    const bytes = safeMeteredBytes(record);
    if (current.length >= MAX_APPEND_RECORDS || (current.length > 0 && currentBytes + bytes > MAX_APPEND_BYTES)) cut();
    current.push(record);
    currentBytes += bytes;
  }
  cut();
  return batches;
}

/** Metered size for batching; a malformed record counts 0 here and is refused by submit()'s validation. */
function safeMeteredBytes(record: AppendRecord): number {
  try {
    const bytes = meteredBytes(record);
    return Number.isFinite(bytes) ? bytes : 0;
  } catch {
    return 0;
  }
}

function toRecord(chunk: AppendRecord | string | Uint8Array, headers: AppendSinkOptions["headers"]): AppendRecord {
  if (typeof chunk === "string" || chunk instanceof Uint8Array) return headers === undefined ? { body: chunk } : { body: chunk, headers };
  return chunk;
}
