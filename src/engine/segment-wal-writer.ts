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
 * A group is acknowledged only after (1) its frame's fdatasync returned and (2) the epoch's seal
 * file was found absent after that fdatasync. A failed write or fdatasync stops the writer:
 * nothing after it may become durable before it, so the engine fails what is pending and reopens.
 */
import { FencedError, InternalError, StorageError, assert } from "../errors.js";
import type { Clock } from "../util/clock.js";
import { encodeFrame, FRAME_CHECKSUM_BYTES, FRAME_HEADER_BYTES, sealName } from "./segment-format.js";
import type { OpenSegment, SegmentSet } from "./segment-set.js";
import type { WalFlush, WalSink } from "./wal.js";
import { WAL_FLUSH_NOW_BYTES } from "./wal-writer.js";
import { failpoint } from "../util/failpoints.js";

export interface SegmentWalWriterOptions {
  segments: SegmentSet;
  clock: Clock;
  firstWalId: number;
  /** Called synchronously at each cut, before the buffer is taken; may call `append`. */
  beforeCut?: () => void;
  onFlushed: (flush: WalFlush) => void;
  onFailed: (error: unknown) => void;
}

export class SegmentWalWriter implements WalSink {
  readonly #options: SegmentWalWriterOptions;
  readonly #segments: SegmentSet;
  readonly #sealName: string;
  #batches: Uint8Array[] = [];
  #bufferedBytes = 0;
  #bufferMinSeq = 0;
  #bufferMaxSeq = 0;
  #nextWalId: number;
  #active: OpenSegment | undefined;
  #inFlight = false;
  #immediate: NodeJS.Immediate | undefined;
  #microtaskQueued = false;
  #cutting = false;
  #stopped = false;

  constructor(options: SegmentWalWriterOptions) {
    this.#options = options;
    this.#segments = options.segments;
    this.#sealName = sealName(options.segments.writerEpoch);
    this.#nextWalId = options.firstWalId;
    this.#active = options.segments.used.at(-1);
  }

  get nextWalId(): number {
    return this.#nextWalId;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  get inFlight(): boolean {
    return this.#inFlight;
  }

  append(seq: number, encodedBatch: Uint8Array): void {
    assert(!this.#stopped, "append to a stopped WAL writer");
    assert(seq > this.#bufferMaxSeq, () => `WAL batch seq ${seq} after ${this.#bufferMaxSeq}`);
    if (this.#batches.length === 0) this.#bufferMinSeq = seq;
    this.#batches.push(encodedBatch);
    this.#bufferedBytes += encodedBatch.length;
    this.#bufferMaxSeq = seq;
    if (this.#cutting || this.#inFlight) return; // the flush in flight starts the next one
    if (this.#bufferedBytes >= WAL_FLUSH_NOW_BYTES) {
      // A producer that never yields would starve setImmediate: flush in a microtask.
      if (this.#immediate !== undefined) clearImmediate(this.#immediate);
      this.#immediate = undefined;
      if (!this.#microtaskQueued) {
        this.#microtaskQueued = true;
        queueMicrotask(() => {
          this.#microtaskQueued = false;
          void this.#flush();
        });
      }
      return;
    }
    if (this.#immediate === undefined && !this.#microtaskQueued) {
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        void this.#flush();
      });
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#batches = [];
    this.#bufferedBytes = 0;
  }

  async #flush(): Promise<void> {
    if (this.#stopped || this.#inFlight || this.#batches.length === 0) return;
    this.#inFlight = true;
    try {
      this.#cut();
    } catch (error) {
      this.#inFlight = false;
      return this.#fail(error);
    }
    const batches = this.#batches;
    const firstSeq = this.#bufferMinSeq;
    const maxSeq = this.#bufferMaxSeq;
    const walId = this.#nextWalId;
    this.#batches = [];
    this.#bufferedBytes = 0;
    const startMs = this.#options.clock.elapsedMs();
    let bytes: number;
    try {
      bytes = await this.#writeFrame({ walId, firstSeq, batches });
    } catch (error) {
      this.#inFlight = false;
      return this.#fail(error);
    }
    this.#inFlight = false;
    if (this.#stopped) return;
    this.#nextWalId = walId + 1;
    try {
      failpoint("wal.flushed");
      this.#options.onFlushed({ walId, maxSeq, bytes, batches: batches.length, durationMs: this.#options.clock.elapsedMs() - startMs });
    } catch (error) {
      return this.#fail(error); // a broken invariant past the ack point: the engine fails (Engine.fail)
    }
    // Everything that arrived during this flush goes in the next one, now.
    if (this.#batches.length > 0 && !this.#stopped) void this.#flush();
  }

  /** Writes, fdatasyncs and seal-checks one frame; returns its size. Throws FencedError when sealed. */
  async #writeFrame(group: { walId: number; firstSeq: number; batches: Uint8Array[] }): Promise<number> {
    let frameBytes = FRAME_HEADER_BYTES + 4 + FRAME_CHECKSUM_BYTES;
    for (const batch of group.batches) frameBytes += batch.length;
    let segment = this.#active;
    if (segment === undefined || segment.offsetBytes + frameBytes > segment.sizeBytes) {
      segment = await this.#segments.nextSegment(frameBytes);
      this.#active = segment;
    }
    this.#throwIfStopped();
    const frame = encodeFrame(
      { generation: segment.generation, writerEpoch: this.#segments.writerEpoch, walId: group.walId, firstSeq: group.firstSeq },
      group.batches,
    );
    assert(frame.length === frameBytes, () => `frame of ${frame.length} bytes, expected ${frameBytes}`);
    const offsetBytes = segment.offsetBytes;
    segment.offsetBytes += frame.length; // even if the write fails: that region is never reused
    try {
      await segment.file.write(frame, offsetBytes);
      await segment.file.datasync();
    } catch (error) {
      throw new StorageError(`WAL write or fdatasync failed in ${this.#segments.dir.description}/${segment.name}`, { cause: error, outcome: "unknown", retryable: true });
    }
    if (segment.firstWalId === 0) segment.firstWalId = group.walId;
    segment.lastWalId = group.walId;
    this.#throwIfStopped();
    if (await this.#segments.dir.exists(this.#sealName)) {
      throw new FencedError(`a newer writer sealed WAL epoch ${this.#segments.writerEpoch} (${this.#sealName})`);
    }
    this.#segments.publishAck(group.walId);
    return frame.length;
  }

  #throwIfStopped(): void {
    if (this.#stopped) throw new StoppedSignal();
  }

  #fail(error: unknown): void {
    if (error instanceof StoppedSignal || this.#stopped) return;
    this.stop();
    this.#options.onFailed(error);
  }

  #cut(): void {
    if (this.#options.beforeCut === undefined) return;
    this.#cutting = true;
    try {
      this.#options.beforeCut();
    } finally {
      this.#cutting = false;
    }
  }
}

/** Thrown inside a flush when the writer was stopped meanwhile: ends it without a report. */
class StoppedSignal extends Error {}
