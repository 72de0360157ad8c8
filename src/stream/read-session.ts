/**
 * Read sessions: one stream's durable records, from a sequence number, a timestamp or an offset
 * from the tail, that can follow the stream live. Two public shapes of one machine:
 *
 *   ReadBatchSession (`stream.readBatches()`): an async iterator of ReadBatch, arrays of records;
 *     the consumer pays one async step per batch
 *   ReadSession (`stream.read()`): an async iterator of records, built on a ReadBatchSession:
 *     it hands each batch's records out one by one (one resolved promise each)
 *
 * The phases:
 *
 *   resolve start ──> catch up from storage (engine scan of [start, tail)) ──> at the tail:
 *     caughtUp() resolves; without `follow` the session ends; with it, subscribe to the
 *     stream's durable batches ──> deliver them ──(fell 25 batches behind)──> back to storage
 *
 * Only durable records are ever returned; records below the trim point and expired ones never.
 * `limit` cuts exactly, `until` is exclusive, `waitMs` bounds idleness while following (each
 * delivered record resets it), `signal` and `close()` end the session. Everything it holds (an
 * engine scan, a subscription, a timer) is released when it ends, however it ends.
 *
 *   #chunks() (async generator): the phases above; decodes a chunk of the engine scan or one
 *     live batch at a time into records, cut at `until`
 *        │ ReadRecord[]
 *   #cut(): judges the chunk's records (session ended? trimmed meanwhile? limit reached?) into
 *     a ReadBatch of at most maxBatchRecords records and maxBatchBytes metered bytes; #chunks()
 *     is resumed only when the chunk is used up
 *        │ ReadBatch
 *   ReadSession.next(): takes each chunk whole, unjudged, and judges each record as it hands it
 *     out (the same `judge`), so a record trimmed, or a session closed, while a consumer works
 *     through a chunk stops there, and the limits count only records handed out
 *
 * What can change while a chunk waits (close, abort, waitMs, trim, the limits) is judged when a
 * record is handed out (in a batch or alone); what cannot (`until`, a timestamp start) when the
 * chunk is decoded.
 */
import { ClosedError, SstCompactedAwayError, UnwrittenError, type StreamPosition } from "../errors.js";
import type { Engine, ScannedEntry } from "../engine/engine.js";
import { isScanPrivate } from "../engine/sst-reader.js";
import { CATCH_UP_RESCAN_BYTES, FOLLOWER_MAX_LAG_BATCHES, MAX_FRUITLESS_SCAN_RESTARTS, HEADER_OVERHEAD_BYTES, READ_BATCH_MAX_BYTES, READ_BATCH_MAX_RECORDS, RECORD_OVERHEAD_BYTES } from "../limits.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { holdEventLoop } from "../util/keep-alive.js";
import { RecordDecoder } from "./record-format.js";
import { decodeRecordKey, recordRange, timestampSeekRange } from "./stream-keys.js";
import type { DurableBatch, Follower } from "./streamer.js";
import type { ReadOptions, ReadRecord } from "./types.js";
import { checkInteger, validateReadOptions, type ValidatedReadOptions } from "./validate.js";

/** What a read session needs of a stream: its durable tail, trim point and live batches. */
export interface StreamView {
  readonly streamId: number;
  readonly name: string;
  readonly tail: StreamPosition;
  readonly trimPoint: number;
  subscribe(follower: Follower): void;
  unsubscribe(follower: Follower): void;
}

export interface ReadContext {
  engine: Engine;
  clock: Clock;
  view: StreamView;
}


/** Raised inside the session to end it quietly (limit, until, wait, abort, close). */
class EndOfSession {}

/** What #nextBatch does with a decoded record: hand it out, skip it (trimmed meanwhile) or end. */
const enum Verdict {
  deliver,
  skip,
  end,
}

/**
 * Options of `stream.readBatches()`: those of `stream.read()`, and the size of a batch. A batch
 * holds at least one record, whatever its size (a record is at most MAX_RECORD_BYTES).
 */
export interface ReadBatchOptions extends ReadOptions {
  /** Most records in one batch: 1..READ_BATCH_MAX_RECORDS (1000), the default. */
  maxBatchRecords?: number;
  /** Most metered bytes in one batch: 1..READ_BATCH_MAX_BYTES (1 MiB), the default. */
  maxBatchBytes?: number;
}

/** Records of a stream, in sequence order, as one step of a `ReadBatchSession`. */
export interface ReadBatch {
  /** One or more records, consecutive among those the read delivers. */
  records: ReadRecord[];
  /**
   * The stream's durable tail, given when this batch reaches it: its last record is the last
   * durable one when the batch was cut (later batches exist only if more are appended).
   */
  tail?: StreamPosition;
}

/** Splits the batch sizes off read options, validated; the rest goes to validateReadOptions. */
function splitBatchOptions(options: unknown): { read: unknown; maxRecords: number; maxBytes: number } {
  if (options === null || typeof options !== "object" || Array.isArray(options)) return { read: options, maxRecords: READ_BATCH_MAX_RECORDS, maxBytes: READ_BATCH_MAX_BYTES };
  const { maxBatchRecords, maxBatchBytes, ...read } = options as Record<string, unknown>;
  return {
    read,
    maxRecords: maxBatchRecords === undefined ? READ_BATCH_MAX_RECORDS : checkInteger(maxBatchRecords, "maxBatchRecords", 1, READ_BATCH_MAX_RECORDS),
    maxBytes: maxBatchBytes === undefined ? READ_BATCH_MAX_BYTES : checkInteger(maxBatchBytes, "maxBatchBytes", 1, READ_BATCH_MAX_BYTES),
  };
}

/**
 * A read of one stream in batches: iterate it with `for await`, each step an array of records
 * (`ReadBatch`). Only durable records are returned; with `follow` it waits for new ones. See
 * this module's header for the phases and how it ends.
 */
export class ReadBatchSession implements AsyncIterable<ReadBatch> {
  readonly #open: () => Promise<ReadContext>;
  readonly #rawOptions: unknown;
  /** False under a ReadSession: `stream.read()` takes no batch sizes. */
  readonly #takesBatchOptions: boolean;
  #context!: ReadContext;
  #options!: ValidatedReadOptions;
  #maxBatchRecords = READ_BATCH_MAX_RECORDS;
  #maxBatchBytes = READ_BATCH_MAX_BYTES;
  readonly #caughtUp: Promise<StreamPosition>;
  #resolveCaughtUp!: (tail: StreamPosition) => void;
  #rejectCaughtUp!: (error: unknown) => void;
  #closed = false;
  /** A limit was reached: the session ends at the next step. */
  #limitReached = false;
  #wake: (() => void) | undefined;
  #started = false;
  #delivered = 0;
  #deliveredBytes = 0;
  readonly #decoder = new RecordDecoder();
  /** The decoded chunk being cut into batches, and the next record of it to judge. */
  #chunk: ReadRecord[] = [];
  #chunkIndex = 0;
  #source: AsyncGenerator<ReadRecord[], void, void> | undefined;
  /** A pull in flight: further calls wait for it, in call order. */
  #pulling: Promise<unknown> | undefined;
  #waitTimer: TimerHandle | undefined;
  #waitExpired = false;
  /** Records before this timestamp are skipped (a timestamp start that resolved to the tail). */
  #minTimestamp = 0;
  readonly #onAbort = () => this.#interrupt();

  /**
   * @internal Sessions come from `stream.readBatches()` (and, inside a ReadSession, `stream.read()`).
   * `open` finds the stream when iteration starts; `options` are validated then too, so that every
   * problem (bad options, a missing stream, a start past the tail) surfaces from the first `next()`.
   */
  constructor(open: () => Promise<ReadContext>, options: unknown, takesBatchOptions = true) {
    this.#open = open;
    this.#rawOptions = options;
    this.#takesBatchOptions = takesBatchOptions;
    this.#caughtUp = new Promise((resolve, reject) => {
      this.#resolveCaughtUp = resolve;
      this.#rejectCaughtUp = reject;
    });
    this.#caughtUp.catch(() => undefined);
  }

  /** Resolves with the tail when the session first reaches it; rejects if it ends before. */
  caughtUp(): Promise<StreamPosition> {
    return this.#caughtUp;
  }

  /** Ends the session; a pending `next()` returns done. */
  async close(): Promise<void> {
    this.#interrupt();
  }

  /** `close()`, for `await using session = stream.readBatches(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The batches, in sequence order. A session can be iterated once; breaking out of the loop ends it. */
  [Symbol.asyncIterator](): AsyncIterator<ReadBatch> {
    if (this.#started) throw new ClosedError("this read session (it can be iterated only once)");
    this.#started = true;
    this.#source = this.#chunks();
    // A batch at hand comes as an already resolved promise (the server's BatchReader relies on
    // that to tell ready batches from ones that wait).
    return { next: () => this.#next(), return: () => this.#return() };
  }

  /** @internal True once the session was closed, aborted or idle past waitMs: records at hand must not be handed out. */
  get interrupted(): boolean {
    return this.#closed || this.#waitExpired || this.#options?.signal?.aborted === true;
  }

  /** The next batch, from the chunk at hand if it has records left, else from the next chunk. */
  #next(): Promise<IteratorResult<ReadBatch, undefined>> {
    if (this.#pulling !== undefined) return this.#pulling.then(() => this.#next());
    const batch = this.#cut();
    if (batch !== undefined) return Promise.resolve({ value: batch, done: false });
    // A pull may wait for the next durable append, which no Node handle stands for: hold the
    // event loop open meanwhile, or a script whose only work is this read would exit.
    const release = holdEventLoop();
    const pull = this.#pull();
    this.#pulling = pull;
    const clear = (): void => {
      release();
      if (this.#pulling === pull) this.#pulling = undefined;
    };
    pull.then(clear, clear);
    return pull;
  }

  /** Resumes #chunks() until it gives a batch, or ends. */
  async #pull(): Promise<IteratorResult<ReadBatch, undefined>> {
    const source = this.#source!;
    for (;;) {
      const step = await source.next();
      if (step.done === true) return { value: undefined, done: true };
      this.#chunk = step.value;
      this.#chunkIndex = 0;
      const batch = this.#cut();
      if (batch !== undefined) return { value: batch, done: false };
    }
  }

  /**
   * The next batch of the chunk at hand: the records that may be handed out now, up to the
   * batch bounds (a record that would cross the byte bound starts the next batch). Undefined
   * when the chunk has none left.
   */
  #cut(): ReadBatch | undefined {
    const chunk = this.#chunk;
    if (!this.#takesBatchOptions) {
      // Under a ReadSession: the chunk as it is; the ReadSession judges each record as it hands it out.
      this.#chunk = [];
      this.#chunkIndex = 0;
      return chunk.length === 0 ? undefined : { records: chunk };
    }
    const maxRecords = this.#maxBatchRecords;
    const maxBytes = this.#maxBatchBytes;
    const records: ReadRecord[] = [];
    let bytes = 0;
    while (this.#chunkIndex < chunk.length && records.length < maxRecords) {
      const record = chunk[this.#chunkIndex]!;
      const size = meteredReadBytes(record);
      if (records.length > 0 && bytes + size > maxBytes) break;
      this.#chunkIndex++;
      const verdict = this.judge(record, size);
      if (verdict === Verdict.deliver) {
        records.push(record);
        bytes += size;
      } else if (verdict === Verdict.end) {
        this.#chunkIndex = chunk.length; // #chunks() sees the session ended and finishes
      }
    }
    if (this.#chunkIndex >= chunk.length) {
      this.#chunk = [];
      this.#chunkIndex = 0;
    }
    if (records.length === 0) return undefined;
    const tail = this.#context.view.tail;
    return records[records.length - 1]!.seqNum + 1 >= tail.seqNum ? { records, tail } : { records };
  }

  /** `break` out of the loop (or `return()` by hand): ends the session and releases what it holds. */
  async #return(): Promise<IteratorResult<ReadBatch, undefined>> {
    this.#interrupt();
    this.#chunk = [];
    await this.#pulling?.catch(() => undefined);
    await this.#source?.return(undefined);
    return { value: undefined, done: true };
  }

  /**
   * Decides, as a record goes into a batch (under a ReadSession: as it is handed out), what may
   * have changed since its chunk was decoded:
   * the session ended (close, abort, waitMs), the stream was trimmed past it, a limit was reached.
   */
  /** @internal `size`: the record's metered bytes, when the caller has them. */
  judge(record: ReadRecord, size?: number): Verdict {
    if (this.interrupted) return Verdict.end;
    if (record.seqNum < this.#context.view.trimPoint) return Verdict.skip;
    const { limit } = this.#options;
    if (limit.count !== undefined && this.#delivered >= limit.count) return this.#endAtLimit();
    if (limit.bytes !== undefined) {
      size ??= meteredReadBytes(record);
      if (this.#deliveredBytes + size > limit.bytes) return this.#endAtLimit();
      this.#deliveredBytes += size;
    }
    this.#delivered++;
    this.#armWait();
    return Verdict.deliver;
  }

  #endAtLimit(): Verdict {
    this.#limitReached = true;
    return Verdict.end;
  }

  /** The session's phases, as chunks of decoded records (see the module header). */
  async *#chunks(): AsyncGenerator<ReadRecord[], void, void> {
    try {
      const { read, maxRecords, maxBytes } = this.#takesBatchOptions ? splitBatchOptions(this.#rawOptions) : { read: this.#rawOptions, maxRecords: READ_BATCH_MAX_RECORDS, maxBytes: READ_BATCH_MAX_BYTES };
      this.#options = validateReadOptions(read);
      this.#maxBatchRecords = maxRecords;
      this.#maxBatchBytes = maxBytes;
      this.#options.signal?.addEventListener("abort", this.#onAbort, { once: true });
      this.#context = await this.#open();
      this.#throwIfEnded();
      let next = await this.#resolveStart();
      for (;;) {
        next = yield* this.#catchUpRetrying(next);
        const tail = this.#context.view.tail;
        if (next < tail.seqNum) continue;
        this.#resolveCaughtUp(tail);
        if (!this.#options.follow) return;
        next = yield* this.#follow(next);
      }
    } catch (error) {
      if (error instanceof EndOfSession) return;
      this.#rejectCaughtUp(error);
      throw error;
    } finally {
      this.#closed = true;
      this.#waitTimer?.cancel();
      this.#options?.signal?.removeEventListener("abort", this.#onAbort);
      this.#rejectCaughtUp(new ClosedError("the read session (it ended before reaching the tail)"));
    }
  }

  /** The first seqNum to read, per `from` and `clamp` (S2's rules; see docs/design.md section 4). */
  async #resolveStart(): Promise<number> {
    const { from, clamp } = this.#options;
    const view = this.#context.view;
    const tail = view.tail;
    let start: number;
    if (from.tailOffset !== undefined) {
      start = Math.max(0, tail.seqNum - from.tailOffset);
    } else if (from.seqNum !== undefined) {
      start = from.seqNum;
      if (start > tail.seqNum) {
        if (!clamp) throw new UnwrittenError(tail, `seqNum ${start}`);
        start = tail.seqNum;
      }
    } else {
      if (from.timestamp > tail.timestamp && tail.seqNum > 0 && !clamp && !this.#options.follow) {
        throw new UnwrittenError(tail, `timestamp ${from.timestamp}`);
      }
      start = await this.#seekTimestamp(from.timestamp, tail);
      this.#minTimestamp = from.timestamp;
    }
    return Math.max(start, view.trimPoint);
  }

  /**
   * Where a read by `timestamp` starts: a record before every record at or after `timestamp`
   * (timestamps never decrease with seqNum), found in the record keys, which hold each record's
   * timestamp, by the engine's floor seek: exact in the memtables, at most an SST block earlier
   * from the SST indexes, never a data block read (`timestampSeekRange`, stream-keys.ts). Or the
   * stream's start when none is. The records from there up to the first at or after `timestamp`
   * are skipped by #decode, which `#minTimestamp` tells to.
   */
  async #seekTimestamp(timestamp: number, tail: StreamPosition): Promise<number> {
    const { engine, view } = this.#context;
    const seek = timestampSeekRange(view.streamId, timestamp, { startSeqNum: view.trimPoint, endSeqNum: tail.seqNum });
    const key = await engine.floorKey(seek.range, seek.isBelow);
    const seqNum = key === undefined ? view.trimPoint : decodeRecordKey(key).seqNum;
    return Math.min(Math.max(seqNum, view.trimPoint), tail.seqNum);
  }

  /**
   * Catch-up that survives a read-only log's SSTs being compacted away under it: the engine then
   * reloads the manifest and fails the scan with an SstCompactedAwayError, and the scan restarts
   * after the last record delivered. The retries are counted from the last restart that got
   * somewhere: a long catch-up behind a busy writer may meet many compactions, and fails only
   * when MAX_FRUITLESS_SCAN_RESTARTS restarts in a row deliver nothing.
   */
  async *#catchUpRetrying(next: number): AsyncGenerator<ReadRecord[], number, void> {
    for (let fruitless = 1; ; fruitless++) {
      const progress = { next };
      try {
        return yield* this.#catchUp(progress);
      } catch (error) {
        if (!(error instanceof SstCompactedAwayError)) throw error;
        if (progress.next > next) fruitless = 0;
        else if (fruitless >= MAX_FRUITLESS_SCAN_RESTARTS) throw error;
        next = progress.next;
      }
    }
  }

  /**
   * Reads [next, tail) from storage, a batch per engine chunk; returns where it stopped (the
   * tail, when all went well). `progress.next` follows the records decoded, which are all handed
   * out (or judged) before the scan goes on, so a retry resumes after the last one. It returns
   * early, and the session scans on from there with a new scan, once a memtable it started on was
   * flushed (after a chunk that decoded something: each scan gets somewhere), or past
   * CATCH_UP_RESCAN_BYTES once any of the engine's sources changed: a scan holds every memtable
   * it started on, and a slow reader's would otherwise hold flushed ones beside the engine's own.
   */
  async *#catchUp(progress: { next: number }): AsyncGenerator<ReadRecord[], number, void> {
    this.#throwIfEnded();
    const { engine, view } = this.#context;
    const tail = view.tail;
    if (progress.next >= tail.seqNum) return progress.next;
    const range = recordRange(view.streamId, { startSeqNum: Math.max(progress.next, view.trimPoint), endSeqNum: tail.seqNum });
    // bulk: past its first MiBs, a long catch-up neither fills the block cache nor allocates a buffer per GET.
    const scanRange = { start: range.start, ...(range.end === undefined ? {} : { end: range.end }) };
    const startedOn = engine.sourcesToken;
    let valueBytes = 0;
    for await (const chunk of engine.scanChunks(scanRange, { bulk: true })) {
      this.#throwIfEnded();
      const batch: ReadRecord[] = [];
      try {
        valueBytes += this.#decodeEntries(chunk, batch, progress);
      } catch (error) {
        if (batch.length > 0) yield batch; // the records before the one that ends the session
        throw error;
      }
      if (batch.length > 0) {
        yield batch;
        this.#throwIfEnded(); // before the scan reads on
      }
      if (engine.sourcesToken !== startedOn && (valueBytes >= CATCH_UP_RESCAN_BYTES || (valueBytes > 0 && engine.memtableLeftSince(startedOn)))) {
        return progress.next;
      }
    }
    return tail.seqNum; // records that expired or were trimmed meanwhile are skipped, not waited for
  }

  /**
   * Decodes a chunk of the engine scan into `batch`, advancing `progress.next`; returns the value
   * bytes it went through. A plain method, not part of #catchUp, on purpose: V8 optimizes a loop
   * inside a generator only once the generator is called again, which a catch-up scan never
   * does, so the per-record loop ran unoptimized for the whole scan (the largest share of a cold
   * scan's CPU).
   */
  #decodeEntries(chunk: readonly ScannedEntry[], batch: ReadRecord[], progress: { next: number }): number {
    const trimPoint = this.#context.view.trimPoint;
    let valueBytes = 0;
    for (let i = 0; i < chunk.length; i++) {
      const entry = chunk[i]!;
      valueBytes += entry.value.length;
      const { seqNum, timestamp } = decodeRecordKey(entry.key);
      progress.next = seqNum + 1;
      if (seqNum < trimPoint) continue; // trimmed while we read
      const record = this.#decode(seqNum, timestamp, entry.value, isScanPrivate(entry.value));
      if (record !== undefined) batch.push(record);
    }
    return valueBytes;
  }

  /** Follows live batches from `next` (== the tail); returns where to catch up from if it fell behind. */
  async *#follow(next: number): AsyncGenerator<ReadRecord[], number, void> {
    const view = this.#context.view;
    if (view.tail.seqNum !== next) return next;
    const follower = new BoundedFollower(FOLLOWER_MAX_LAG_BATCHES, () => this.#wake?.());
    view.subscribe(follower);
    this.#armWait();
    try {
      for (;;) {
        this.#throwIfEnded();
        const batch = follower.take();
        if (batch === undefined) {
          if (follower.interrupted !== undefined) {
            if (follower.interrupted === true) return next;
            throw follower.interrupted;
          }
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        const decoded: ReadRecord[] = [];
        let gap = false;
        try {
          for (const record of batch.records) {
            if (record.seqNum < next) continue;
            if (record.seqNum > next) {
              gap = true; // catch up from storage instead
              break;
            }
            next = record.seqNum + 1;
            if (record.seqNum < view.trimPoint) continue; // trimmed by this batch or a later one
            const delivered = this.#decode(record.seqNum, record.timestamp, record.value, false); // a copy shared by every follower of the stream (streamer.ts withOwnValues)
            if (delivered !== undefined) decoded.push(delivered);
          }
        } catch (error) {
          if (decoded.length > 0) yield decoded;
          throw error;
        }
        if (decoded.length > 0) yield decoded;
        if (gap) return next;
      }
    } finally {
      view.unsubscribe(follower);
    }
  }

  /**
   * Decodes one record, or undefined if it is before a timestamp start; ends the session at
   * `until`. The limits are not judged here but when the record is handed out (#judge).
   */
  #decode(seqNum: number, timestamp: number, value: Uint8Array, isPrivate: boolean): ReadRecord | undefined {
    const { until } = this.#options;
    if (until !== undefined && timestamp >= until) throw new EndOfSession();
    if (timestamp < this.#minTimestamp) return undefined;
    this.#minTimestamp = 0; // timestamps never decrease within a stream: no need to look again
    return this.#decoder.decode(seqNum, timestamp, value, this.#context.view.name, isPrivate);
  }

  #armWait(): void {
    const waitMs = this.#options.waitMs;
    if (waitMs === undefined || !this.#options.follow) return;
    this.#waitTimer?.cancel();
    this.#waitTimer = this.#context.clock.setTimer(waitMs, () => {
      this.#waitExpired = true;
      this.#wake?.();
    });
  }

  #throwIfEnded(): void {
    if (this.#closed || this.#waitExpired || this.#limitReached || this.#options.signal?.aborted === true) throw new EndOfSession();
    const { limit } = this.#options;
    if (limit.count !== undefined && this.#delivered >= limit.count) throw new EndOfSession();
  }

  #interrupt(): void {
    this.#closed = true;
    this.#wake?.();
  }
}

/**
 * A read of one stream, record by record: iterate it with `for await`. Only durable records are
 * returned; with `follow` it waits for new ones. Built on a ReadBatchSession (see this module's
 * header): a record costs one resolved promise, a batch one pull. `stream.readBatches()` gives
 * the batches themselves, for consumers that can take arrays.
 */
export class ReadSession implements AsyncIterable<ReadRecord> {
  readonly #batches: ReadBatchSession;
  /** The batch being handed out, and the next record of it to hand out. */
  #records: ReadRecord[] = [];
  #index = 0;
  #iterator: AsyncIterator<ReadBatch> | undefined;
  /** A pull of the next batch in flight: further next() calls wait for it, in call order. */
  #pulling: Promise<unknown> | undefined;

  /** @internal Sessions come from `stream.read()`. */
  constructor(open: () => Promise<ReadContext>, options: unknown) {
    this.#batches = new ReadBatchSession(open, options, false);
  }

  /** Resolves with the tail when the session first reaches it; rejects if it ends before. */
  caughtUp(): Promise<StreamPosition> {
    return this.#batches.caughtUp();
  }

  /** Ends the session; a pending `next()` returns done. */
  close(): Promise<void> {
    return this.#batches.close();
  }

  /** `close()`, for `await using session = stream.read(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The records, in sequence order. A session can be iterated once; breaking out of the loop ends it. */
  [Symbol.asyncIterator](): AsyncIterator<ReadRecord> {
    this.#iterator = this.#batches[Symbol.asyncIterator]();
    return { next: () => this.#next(), return: () => this.#return() };
  }

  /** The next record: from the batch at hand while the session goes on, else from the next batch. */
  #next(): Promise<IteratorResult<ReadRecord, undefined>> {
    if (this.#pulling !== undefined) return this.#pulling.then(() => this.#next());
    const record = this.#take();
    if (record !== undefined) return Promise.resolve({ value: record, done: false });
    const pull = this.#pull();
    this.#pulling = pull;
    const clear = (): void => {
      if (this.#pulling === pull) this.#pulling = undefined;
    };
    pull.then(clear, clear);
    return pull;
  }

  async #pull(): Promise<IteratorResult<ReadRecord, undefined>> {
    for (;;) {
      const step = await this.#iterator!.next();
      if (step.done === true) return { value: undefined, done: true };
      this.#records = step.value.records;
      this.#index = 0;
      const record = this.#take();
      if (record !== undefined) return { value: record, done: false };
    }
  }

  /**
   * The next record of the batch at hand that may be handed out now, judged as it is (session
   * ended? trimmed meanwhile? limit reached?); undefined when none is left.
   */
  #take(): ReadRecord | undefined {
    const records = this.#records;
    while (this.#index < records.length) {
      const record = records[this.#index++]!;
      const verdict = this.#batches.judge(record);
      if (verdict === Verdict.deliver) return record;
      if (verdict === Verdict.end) break; // the batch session sees it ended and finishes
    }
    this.#records = [];
    this.#index = 0;
    return undefined;
  }

  async #return(): Promise<IteratorResult<ReadRecord, undefined>> {
    this.#records = [];
    const ending = this.#iterator?.return?.();
    await this.#pulling?.catch(() => undefined);
    await ending;
    return { value: undefined, done: true };
  }
}

/** A read record's metered size (see meteredBytes), without its string cases. */
function meteredReadBytes(record: ReadRecord): number {
  let total = RECORD_OVERHEAD_BYTES + record.body.length;
  for (const [name, value] of record.headers) total += HEADER_OVERHEAD_BYTES + name.length + value.length;
  return total;
}

/** A follower that keeps at most `maxBatches` batches; past that it leaves and the reader catches up. */
class BoundedFollower implements Follower {
  readonly #batches: DurableBatch[] = [];
  /** true: fell behind or history changed (catch up again); an Error: the stream is gone. */
  interrupted: true | Error | undefined;

  constructor(
    private readonly maxBatches: number,
    private readonly wake: () => void,
  ) {}

  push(batch: DurableBatch): boolean {
    if (this.interrupted !== undefined) return false;
    if (this.#batches.length >= this.maxBatches) {
      this.interrupted = true;
      this.wake();
      return false;
    }
    this.#batches.push(batch);
    this.wake();
    return true;
  }

  interrupt(error?: Error): void {
    this.interrupted ??= error ?? true;
    this.wake();
  }

  take(): DurableBatch | undefined {
    return this.#batches.shift();
  }
}
