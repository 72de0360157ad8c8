/**
 * The segment WAL writer: group commit at disk speed, one fdatasync per group.
 *
 *   append ──> [buffer] ──(no write in flight)──> frame ──pwrite──> segment ──fdatasync──>
 *                 ^ appends gather here meanwhile          seal check (seal-<epoch> absent?)
 *                                                           │ absent: onFlushed (acks), next group at once
 *                                                           │ present: onFailed(FencedError), nothing acked
 *
 * No timer on the ack path: an idle writer flushes after the current event-loop turn (so that
 * appends of one turn share a frame), and a busy one starts the next group the moment the
 * previous fdatasync and seal check returned. `flushIntervalMs` does not apply (it bounds PUTs
 * of the object WAL). Exactly one frame is in flight at any time: it is written, made durable
 * and checked before the next one is written, which the fencing proof relies on (0005).
 *
 * The fdatasync is made on the log's thread with `inlineDatasync` (walDatasync "inline", decision
 * 0012): the event loop waits for the disk, and saves the thread pool's round trip. One that took
 * WAL_INLINE_DATASYNC_STALL_MS or more sends the next ones to the thread pool for
 * WAL_INLINE_DATASYNC_BACKOFF_MS, so that a stalling disk does not hold the event loop every time.
 *
 * A group is acknowledged only after (1) its frame's fdatasync returned and (2) the epoch's seal
 * file was found absent after that fdatasync. A failed write or fdatasync stops the writer:
 * nothing after it may become durable before it, so the engine fails what is pending and reopens.
 *
 * Frames are gathered, not built (`encodeBatch` into a FrameGather, segment-format.ts): a batch's
 * small fields are copied into chunks of the writer's own, its values stay where the engine's
 * caller put them, and one vectored write copies the frame into the page cache. Nothing holds a
 * second copy of the data in flight; the chunks go back to their pool once the write returned.
 */
import { FencedError, StorageError, assert } from "../errors.js";
import { FrameGather, frameBytesFor, GatherChunks, sealName, type FrameHeader } from "./segment-format.js";
import type { OpenSegment, SegmentSet } from "./segment-set.js";
import { GroupCommitWriter, type GroupCommitHooks, type WalGroup } from "./wal-group-commit.js";
import type { EncodedBatch } from "./wal.js";
import type { WriteOp } from "./wal-format.js";
import type { DeviceTurns } from "../store/device-turns.js";
import { WAL_FLUSH_NOW_BYTES, WAL_INLINE_DATASYNC_BACKOFF_MS, WAL_INLINE_DATASYNC_STALL_MS } from "../limits.js";

export interface SegmentWalWriterOptions extends GroupCommitHooks {
  segments: SegmentSet;
  /** Each group's fdatasync on the log's thread (walDatasync "inline", decision 0012); default: the thread pool. */
  inlineDatasync?: boolean;
  /** Told when an inline fdatasync stalled (took WAL_INLINE_DATASYNC_STALL_MS or more), with how long it took. */
  onInlineStall?: (durationMs: number) => void;
  /** Told when each group's write and fdatasync start and end, so that the store's large writes go between them (device-turns.ts). */
  turns?: DeviceTurns | undefined;
}

export class SegmentWalWriter extends GroupCommitWriter<EncodedBatch> {
  readonly #segments: SegmentSet;
  readonly #turns: DeviceTurns | undefined;
  readonly #sealName: string;
  #active: OpenSegment | undefined;
  /** The next frame, gathered as its batches are encoded (undefined until the first batch after a cut). */
  #frame: FrameGather | undefined;
  readonly #chunks = new GatherChunks();
  readonly #inlineDatasync: boolean;
  readonly #onInlineStall: ((durationMs: number) => void) | undefined;
  readonly #clock: GroupCommitHooks["clock"];
  /** Until then (elapsed clock) fdatasyncs go to the thread pool: an inline one stalled. */
  #threadPoolUntilMs = Number.NEGATIVE_INFINITY;

  constructor(options: SegmentWalWriterOptions) {
    super(options);
    this.#inlineDatasync = options.inlineDatasync === true;
    this.#onInlineStall = options.onInlineStall;
    this.#clock = options.clock;
    this.#segments = options.segments;
    this.#turns = options.turns;
    this.#sealName = sealName(options.segments.writerEpoch);
    this.#active = options.segments.used.at(-1);
  }

  /** Gathers the batch into the frame of the next group, after the batches before it. */
  override encodeBatch(seq: number, ops: readonly WriteOp[]): EncodedBatch {
    this.#frame ??= new FrameGather(this.#chunks);
    return { length: this.#frame.add(seq, ops) };
  }

  append(seq: number, encodedBatch: EncodedBatch): void {
    this.buffer.add(seq, encodedBatch);
    if (this.buffer.cutting || this.inFlight) return; // the flush in flight starts the next one
    // A producer that never yields would starve setImmediate: a big buffer flushes in a microtask.
    if (this.buffer.bytes >= WAL_FLUSH_NOW_BYTES) this.buffer.flushInMicrotask();
    else this.buffer.flushSoon();
  }

  /** Everything that arrived during this flush goes in the next one, now. */
  protected afterFlush(): void {
    if (!this.buffer.isEmpty && !this.buffer.stopped) void this.flushGroup();
  }

  /** Writes, fdatasyncs and seal-checks one frame; returns its size. Throws FencedError when sealed. */
  protected async writeGroup(walId: number, group: WalGroup<EncodedBatch>): Promise<number> {
    const gathered = this.#frame;
    this.#frame = undefined; // what arrives from now on goes into the next frame
    let batchBytes = 0;
    for (const batch of group.batches) batchBytes += batch.length;
    // Every batch encoded since the last cut was appended (the engine appends each right after
    // encoding it, or fails): the group is exactly what the frame gathered.
    assert(
      gathered !== undefined && gathered.batchCount === group.batches.length && gathered.batchBytes === batchBytes,
      () => `a group of ${group.batches.length} batches (${batchBytes} bytes), a frame of ${gathered?.batchCount} (${gathered?.batchBytes} bytes)`,
    );
    const frameBytes = frameBytesFor(batchBytes);
    let segment = this.#active;
    if (segment === undefined || segment.offsetBytes + frameBytes > segment.sizeBytes) {
      segment = await this.#segments.nextSegment(frameBytes);
      this.#active = segment;
    }
    this.#throwIfStopped();
    const header: FrameHeader = { generation: segment.generation, writerEpoch: this.#segments.writerEpoch, walId, firstSeq: group.firstSeq };
    const pieces = gathered.finish(header);
    const offsetBytes = segment.offsetBytes;
    segment.offsetBytes += frameBytes; // even if the write fails: that region is never reused
    const inline = this.#inlineDatasync && this.#clock.elapsedMs() >= this.#threadPoolUntilMs;
    this.#turns?.flushStarted();
    try {
      const written = segment.file.writev(pieces, offsetBytes);
      if (written !== undefined) await written; // undefined: written already (see WalFile.write)
      gathered.release(); // its bytes are in the page cache
      const startMs = this.#clock.elapsedMs();
      const syncing = segment.file.datasync({ inline });
      if (syncing !== undefined) await syncing; // undefined: done on this thread (inline)
      const syncMs = this.#clock.elapsedMs() - startMs;
      if (inline && syncMs >= WAL_INLINE_DATASYNC_STALL_MS) {
        this.#threadPoolUntilMs = this.#clock.elapsedMs() + WAL_INLINE_DATASYNC_BACKOFF_MS;
        this.#onInlineStall?.(syncMs);
      }
    } catch (error) {
      throw new StorageError(`WAL write or fdatasync failed in ${this.#segments.dir.description}/${segment.name}`, { cause: error, outcome: "unknown", retryable: true });
    } finally {
      this.#turns?.flushEnded();
    }
    if (segment.firstWalId === 0) segment.firstWalId = walId;
    segment.lastWalId = walId;
    this.#throwIfStopped();
    const sealed = this.#segments.dir.exists(this.#sealName);
    if (sealed === true || (sealed !== false && (await sealed))) {
      throw new FencedError(`a newer writer sealed WAL epoch ${this.#segments.writerEpoch} (${this.#sealName})`);
    }
    this.#segments.publishAck(walId);
    return frameBytes;
  }

  override stop(): void {
    this.#frame = undefined;
    super.stop();
  }

  #throwIfStopped(): void {
    if (this.buffer.stopped) throw new StoppedSignal();
  }
}

/** Thrown inside a flush when the writer was stopped meanwhile: ends it without a report (a stopped writer reports nothing). */
class StoppedSignal extends Error {}
