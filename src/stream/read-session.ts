/**
 * A read session: an async iterator over one stream's durable records, from a sequence number,
 * a timestamp or an offset from the tail, that can follow the stream live.
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
 * Two stages, so that a record costs one resolved promise rather than a trip through async
 * generators (a catch-up scan spent more time there than in the engine):
 *
 *   #batches() (async generator): the phases above; decodes a chunk of the engine scan or one
 *     live batch at a time into a batch of records, cut at `until`
 *        │ ReadRecord[]
 *   next(): hands the batch's records out one by one, each checked as it goes (session ended?
 *     trimmed meanwhile? limit reached?), and resumes #batches() only when the batch is used up
 *
 * What can change while a batch waits (close, abort, waitMs, trim, the limits) is judged when a
 * record is handed out, exactly as when records were decoded one by one; what cannot (`until`,
 * a timestamp start) is judged when the batch is decoded.
 */
import { ClosedError, UnwrittenError, isDurastreamError, type StreamPosition } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { isScanPrivate } from "../engine/sst-reader.js";
import { FOLLOWER_MAX_LAG_BATCHES, HEADER_OVERHEAD_BYTES, RECORD_OVERHEAD_BYTES } from "../limits.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { holdEventLoop } from "../util/keep-alive.js";
import { RecordDecoder } from "./record-format.js";
import { decodeRecordKey, decodeTimestampIndexKey, recordRange, timestampSeekRange } from "./stream-keys.js";
import type { DurableBatch, Follower } from "./streamer.js";
import type { ReadRecord } from "./types.js";
import { validateReadOptions, type ValidatedReadOptions } from "./validate.js";

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

/** Restarts of a catch-up scan whose SSTs a writer elsewhere compacted away meanwhile. */
const MAX_STALE_SCAN_RETRIES = 5;

/** Raised inside the session to end it quietly (limit, until, wait, abort, close). */
class EndOfSession {}

/** What next() does with a decoded record: hand it out, skip it (trimmed meanwhile) or end. */
const enum Verdict {
  deliver,
  skip,
  end,
}

/**
 * A read of one stream: iterate it with `for await`. Only durable records are returned; with
 * `follow` it waits for new ones. See this module's header for the phases and how it ends.
 */
export class ReadSession implements AsyncIterable<ReadRecord> {
  readonly #open: () => Promise<ReadContext>;
  readonly #rawOptions: unknown;
  #context!: ReadContext;
  #options!: ValidatedReadOptions;
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
  /** The decoded batch being handed out, and the next record of it to hand out. */
  #batch: ReadRecord[] = [];
  #batchIndex = 0;
  #source: AsyncGenerator<ReadRecord[], void, void> | undefined;
  /** A pull from #source in flight: further next() calls wait for it, in call order. */
  #pulling: Promise<unknown> | undefined;
  #waitTimer: TimerHandle | undefined;
  #waitExpired = false;
  /** Records before this timestamp are skipped (a timestamp start that resolved to the tail). */
  #minTimestamp = 0;
  readonly #onAbort = () => this.#interrupt();

  /**
   * @internal Sessions come from `stream.read()`.
   * `open` finds the stream when iteration starts; `options` are validated then too, so that every
   * problem (bad options, a missing stream, a start past the tail) surfaces from the first `next()`.
   */
  constructor(open: () => Promise<ReadContext>, options: unknown) {
    this.#open = open;
    this.#rawOptions = options;
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

  /** `close()`, for `await using session = stream.read(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The records, in sequence order. A session can be iterated once; breaking out of the loop ends it. */
  [Symbol.asyncIterator](): AsyncIterator<ReadRecord> {
    if (this.#started) throw new ClosedError("this read session (it can be iterated only once)");
    this.#started = true;
    this.#source = this.#batches();
    return { next: () => this.#next(), return: () => this.#return() };
  }

  /** The next record: from the decoded batch at hand if it has one, else from a new batch. */
  #next(): Promise<IteratorResult<ReadRecord, undefined>> {
    if (this.#pulling !== undefined) return this.#pulling.then(() => this.#next());
    const record = this.#take();
    if (record !== undefined) return Promise.resolve({ value: record, done: false });
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

  /** Resumes #batches() until it gives a record to hand out, or ends. */
  async #pull(): Promise<IteratorResult<ReadRecord, undefined>> {
    const source = this.#source!;
    for (;;) {
      const step = await source.next();
      if (step.done === true) return { value: undefined, done: true };
      this.#batch = step.value;
      this.#batchIndex = 0;
      const record = this.#take();
      if (record !== undefined) return { value: record, done: false };
    }
  }

  /** The next record of the batch at hand that may be handed out now; undefined when none is left. */
  #take(): ReadRecord | undefined {
    const batch = this.#batch;
    while (this.#batchIndex < batch.length) {
      const record = batch[this.#batchIndex++]!;
      const verdict = this.#judge(record);
      if (verdict === Verdict.deliver) return record;
      if (verdict === Verdict.end) break; // #batches() sees the session ended and finishes
    }
    this.#batch = [];
    this.#batchIndex = 0;
    return undefined;
  }

  /** `break` out of the loop (or `return()` by hand): ends the session and releases what it holds. */
  async #return(): Promise<IteratorResult<ReadRecord, undefined>> {
    this.#interrupt();
    this.#batch = [];
    await this.#pulling?.catch(() => undefined);
    await this.#source?.return(undefined);
    return { value: undefined, done: true };
  }

  /**
   * Decides, as a record is handed out, what may have changed since its batch was decoded: the
   * session ended (close, abort, waitMs), the stream was trimmed past it, a limit was reached.
   */
  #judge(record: ReadRecord): Verdict {
    if (this.#closed || this.#waitExpired || this.#options.signal?.aborted === true) return Verdict.end;
    if (record.seqNum < this.#context.view.trimPoint) return Verdict.skip;
    const { limit } = this.#options;
    if (limit.count !== undefined && this.#delivered >= limit.count) return this.#endAtLimit();
    if (limit.bytes !== undefined) {
      const metered = meteredReadBytes(record);
      if (this.#deliveredBytes + metered > limit.bytes) return this.#endAtLimit();
      this.#deliveredBytes += metered;
    }
    this.#delivered++;
    this.#armWait();
    return Verdict.deliver;
  }

  #endAtLimit(): Verdict {
    this.#limitReached = true;
    return Verdict.end;
  }

  /** The session's phases, as batches of decoded records (see the module header). */
  async *#batches(): AsyncGenerator<ReadRecord[], void, void> {
    try {
      this.#options = validateReadOptions(this.#rawOptions);
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
   * Where a read by `timestamp` starts: the last indexed record with an earlier timestamp (a
   * reverse seek in the sparse timestamp index, stream-keys.ts), or the stream's start. Every
   * record from there up to the first at or after `timestamp` (at most
   * TIMESTAMP_INDEX_INTERVAL_RECORDS) is skipped by #decode, which `#minTimestamp` tells to.
   */
  async #seekTimestamp(timestamp: number, tail: StreamPosition): Promise<number> {
    const { engine, view } = this.#context;
    const range = timestampSeekRange(view.streamId, timestamp);
    for await (const entry of engine.scan(range.end === undefined ? { start: range.start } : { start: range.start, end: range.end }, { reverse: true })) {
      const { seqNum } = decodeTimestampIndexKey(entry.key);
      return Math.min(Math.max(seqNum, view.trimPoint), tail.seqNum);
    }
    return Math.min(view.trimPoint, tail.seqNum);
  }

  /**
   * Catch-up that survives a read-only log's SSTs being compacted away under it: the engine then
   * reloads the manifest and fails the scan with a retryable StorageError, and the scan restarts
   * after the last record delivered.
   */
  async *#catchUpRetrying(next: number): AsyncGenerator<ReadRecord[], number, void> {
    for (let attempt = 1; ; attempt++) {
      const progress = { next };
      try {
        return yield* this.#catchUp(progress);
      } catch (error) {
        if (!isDurastreamError(error) || error.code !== "storage" || !error.retryable || attempt >= MAX_STALE_SCAN_RETRIES) throw error;
        next = progress.next;
      }
    }
  }

  /**
   * Reads [next, tail) from storage, a batch per engine chunk; returns where it stopped (the
   * tail, when all went well). `progress.next` follows the records decoded, which are all handed
   * out (or judged) before the scan goes on, so a retry resumes after the last one.
   */
  async *#catchUp(progress: { next: number }): AsyncGenerator<ReadRecord[], number, void> {
    this.#throwIfEnded();
    const { engine, view } = this.#context;
    const tail = view.tail;
    if (progress.next >= tail.seqNum) return progress.next;
    const range = recordRange(view.streamId, { startSeqNum: Math.max(progress.next, view.trimPoint), endSeqNum: tail.seqNum });
    for await (const chunk of engine.scanChunks({ start: range.start, ...(range.end === undefined ? {} : { end: range.end }) })) {
      this.#throwIfEnded();
      const batch: ReadRecord[] = [];
      try {
        for (const entry of chunk) {
          const { seqNum, timestamp } = decodeRecordKey(entry.key);
          progress.next = seqNum + 1;
          if (seqNum < view.trimPoint) continue; // trimmed while we read
          const record = this.#decode(seqNum, timestamp, entry.value, isScanPrivate(entry.value));
          if (record !== undefined) batch.push(record);
        }
      } catch (error) {
        if (batch.length > 0) yield batch; // the records before the one that ends the session
        throw error;
      }
      if (batch.length > 0) {
        yield batch;
        this.#throwIfEnded(); // before the scan reads on
      }
    }
    return tail.seqNum; // records that expired or were trimmed meanwhile are skipped, not waited for
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
            const delivered = this.#decode(record.seqNum, record.timestamp, record.value, false); // the memtable holds these bytes too
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
