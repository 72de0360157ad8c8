/**
 * Group commit, the part both WAL writers share (wal-writer.ts for objects, segment-wal-writer.ts
 * for segment files): encoded batches gather in a buffer until the writer turns them into one
 * WAL object or frame; one group is in flight at a time; a durable group is reported through
 * `onFlushed`, a failure through `onFailed`, once, after which the writer writes nothing more.
 *
 *   append ──> WalBuffer [batches, bytes, first and last seq]
 *                 │ flushSoon(): after this event-loop turn (appends of one turn share a group)
 *                 │ flushInMicrotask(): right after this microtask (a big buffer)
 *                 v
 *   flushGroup: cut (beforeCut adds its batches) ──> take ──> writeGroup (the writer's own I/O)
 *                 ──> whileWriting (the engine's work for the group, during its I/O)
 *                 ──> onFlushed (acks) ──> afterFlush (the writer decides when the next starts)
 *
 * Invariants: seqs only increase; nothing is added once the writer stopped; a cut never happens
 * inside `append` (the caller of an append may still be updating its own state when it returns);
 * a group is reported durable only after `writeGroup` returned, and never after a failure.
 */
import { assert } from "../errors.js";
import type { Clock } from "../util/clock.js";
import { failpoint } from "../util/failpoints.js";
import type { EncodedBatch, WalFlush, WalSink } from "./wal.js";
import type { WriteOp } from "./wal-format.js";
import { WAL_OBJECT_MAX_BUFFER_BYTES, WAL_OBJECT_MIN_BUFFER_BYTES } from "../limits.js";

/**
 * The buffer size for the next WAL object, given the one just written and the current size:
 * 1.125x the last, decaying by 1/16 per flush, within WAL_OBJECT_MIN_/MAX_BUFFER_BYTES
 * (the object WAL builds in place: wal-writer.ts).
 */
export function nextWalBufferBytes(writtenBytes: number, currentBytes: number): number {
  const next = Math.max(Math.ceil(1.125 * writtenBytes), Math.floor(0.9375 * currentBytes));
  return Math.min(Math.max(next, WAL_OBJECT_MIN_BUFFER_BYTES), WAL_OBJECT_MAX_BUFFER_BYTES);
}

/** What one flush takes from the buffer. */
export interface WalGroup<B extends EncodedBatch = Uint8Array> {
  batches: B[];
  /** Seq of the first batch in the group. */
  firstSeq: number;
  /** Seq of the last batch in the group. */
  maxSeq: number;
}

export class WalBuffer<B extends EncodedBatch = Uint8Array> {
  readonly #flush: () => void;
  #batches: B[] = [];
  #bytes = 0;
  #firstSeq = 0;
  #maxSeq = 0;
  #immediate: NodeJS.Immediate | undefined;
  #microtaskQueued = false;
  #cutting = false;
  #stopped = false;

  /** `flush` starts the writer's flush; it is called from a queued immediate or microtask. */
  constructor(flush: () => void) {
    this.#flush = flush;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get isEmpty(): boolean {
    return this.#batches.length === 0;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** True while `beforeCut` runs: what it adds goes into the group being cut. */
  get cutting(): boolean {
    return this.#cutting;
  }

  /** True when a flush is queued (an immediate or a microtask). */
  get flushQueued(): boolean {
    return this.#immediate !== undefined || this.#microtaskQueued;
  }

  /** Adds one encoded batch; `seq` must exceed every seq added before. */
  add(seq: number, encodedBatch: B): void {
    assert(!this.#stopped, "append to a stopped WAL writer");
    assert(seq > this.#maxSeq, () => `WAL batch seq ${seq} after ${this.#maxSeq}`);
    if (this.#batches.length === 0) this.#firstSeq = seq;
    this.#batches.push(encodedBatch);
    this.#bytes += encodedBatch.length;
    this.#maxSeq = seq;
  }

  /** Lets `beforeCut` add its batches to the group about to be taken. */
  cut(beforeCut: (() => void) | undefined): void {
    if (beforeCut === undefined) return;
    this.#cutting = true;
    try {
      beforeCut();
    } finally {
      this.#cutting = false;
    }
  }

  /** Takes everything buffered as one group and empties the buffer. */
  take(): WalGroup<B> {
    const group = { batches: this.#batches, firstSeq: this.#firstSeq, maxSeq: this.#maxSeq };
    this.#batches = [];
    this.#bytes = 0;
    return group;
  }

  /** Queues a flush after the current event-loop turn, unless one is queued already. */
  flushSoon(): void {
    if (this.flushQueued || this.#stopped) return;
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      this.#flush();
    });
  }

  /** Queues a flush right after the current microtask (replacing a queued immediate). */
  flushInMicrotask(): void {
    this.#cancelImmediate();
    if (this.#microtaskQueued || this.#stopped) return;
    this.#microtaskQueued = true;
    queueMicrotask(() => {
      this.#microtaskQueued = false;
      this.#flush();
    });
  }

  /** Stops for good: what is buffered is dropped (it was never durable) and no queued flush runs. */
  stop(): void {
    this.#stopped = true;
    this.#cancelImmediate();
    this.#batches = [];
    this.#bytes = 0;
  }

  #cancelImmediate(): void {
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }
}

/** What a writer is told by the engine that runs it. */
export interface GroupCommitHooks {
  clock: Clock;
  firstWalId: number;
  /** Called synchronously at each cut, before the buffer is taken; may call `append`. */
  beforeCut?: () => void;
  /**
   * Called once per group, right after its write started (the frame is in the page cache and its
   * fdatasync dispatched, or the PUT sent) and before any report: work the engine owes the group
   * that may overlap its wait (the memtable adds of its batches). A throw fails the writer.
   */
  whileWriting?: (maxSeq: number) => void;
  onFlushed: (flush: WalFlush) => void;
  onFailed: (error: unknown) => void;
}

/** The bookkeeping of a WAL writer: its buffer, ids, the group in flight and the reports. */
export abstract class GroupCommitWriter<B extends EncodedBatch = Uint8Array> implements WalSink {
  protected readonly buffer = new WalBuffer<B>(() => void this.flushGroup());
  readonly #hooks: GroupCommitHooks;
  #nextWalId: number;
  #inFlight = false;

  constructor(hooks: GroupCommitHooks) {
    this.#hooks = hooks;
    this.#nextWalId = hooks.firstWalId;
  }

  /** The id the next group will get (every lower id is written, a fence, or void). */
  get nextWalId(): number {
    return this.#nextWalId;
  }

  get bufferedBytes(): number {
    return this.buffer.bytes;
  }

  get inFlight(): boolean {
    return this.#inFlight;
  }

  /** Encodes one batch for `append`, where the writer builds its group. */
  abstract encodeBatch(seq: number, ops: readonly WriteOp[]): B;

  abstract append(seq: number, encodedBatch: B): void;

  /** Stops writing; buffered batches are dropped (they were never durable). */
  stop(): void {
    this.buffer.stop();
  }

  /** Writes `group` as WAL id `walId` and makes it durable; returns the bytes written. */
  protected abstract writeGroup(walId: number, group: WalGroup<B>): Promise<number>;

  /** After a group was reported durable: the writer starts or schedules the next one. */
  protected abstract afterFlush(): void;

  /** One group commit: cut, take, write, report. At most one runs at a time. */
  protected async flushGroup(): Promise<void> {
    if (this.buffer.stopped || this.#inFlight || this.buffer.isEmpty) return;
    try {
      this.buffer.cut(this.#hooks.beforeCut);
    } catch (error) {
      return this.fail(error);
    }
    if (this.buffer.stopped) return; // the cut's own write failed the engine
    const group = this.buffer.take();
    const walId = this.#nextWalId;
    const startMs = this.#hooks.clock.elapsedMs();
    let bytes: number;
    this.#inFlight = true;
    try {
      const writing = this.writeGroup(walId, group);
      if (this.#hooks.whileWriting !== undefined) {
        try {
          this.#hooks.whileWriting(group.maxSeq);
        } catch (error) {
          writing.catch(() => undefined); // its outcome no longer matters: nothing of it is reported
          throw error;
        }
      }
      bytes = await writing;
    } catch (error) {
      this.#inFlight = false;
      return this.fail(error);
    }
    this.#inFlight = false;
    if (this.buffer.stopped) return;
    this.#nextWalId = walId + 1;
    try {
      failpoint("wal.flushed");
      const durationMs = this.#hooks.clock.elapsedMs() - startMs;
      this.#hooks.onFlushed({ walId, maxSeq: group.maxSeq, bytes, batches: group.batches.length, durationMs });
    } catch (error) {
      return this.fail(error); // a broken invariant past the ack point: the engine fails (Engine.fail)
    }
    this.afterFlush();
  }

  /** Stops and reports `error`, once; nothing after a failure may become durable before it. */
  protected fail(error: unknown): void {
    if (this.buffer.stopped) return;
    this.stop();
    this.#hooks.onFailed(error);
  }
}
