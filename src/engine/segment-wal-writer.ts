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
import { FencedError, StorageError, assert } from "../errors.js";
import { encodeFrame, FRAME_CHECKSUM_BYTES, FRAME_HEADER_BYTES, sealName } from "./segment-format.js";
import type { OpenSegment, SegmentSet } from "./segment-set.js";
import { GroupCommitWriter, type GroupCommitHooks, type WalGroup } from "./wal-group-commit.js";
import { WAL_FLUSH_NOW_BYTES } from "../limits.js";

export interface SegmentWalWriterOptions extends GroupCommitHooks {
  segments: SegmentSet;
}

export class SegmentWalWriter extends GroupCommitWriter {
  readonly #segments: SegmentSet;
  readonly #sealName: string;
  #active: OpenSegment | undefined;

  constructor(options: SegmentWalWriterOptions) {
    super(options);
    this.#segments = options.segments;
    this.#sealName = sealName(options.segments.writerEpoch);
    this.#active = options.segments.used.at(-1);
  }

  append(seq: number, encodedBatch: Uint8Array): void {
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
  protected async writeGroup(walId: number, group: WalGroup): Promise<number> {
    let frameBytes = FRAME_HEADER_BYTES + 4 + FRAME_CHECKSUM_BYTES;
    for (const batch of group.batches) frameBytes += batch.length;
    let segment = this.#active;
    if (segment === undefined || segment.offsetBytes + frameBytes > segment.sizeBytes) {
      segment = await this.#segments.nextSegment(frameBytes);
      this.#active = segment;
    }
    this.#throwIfStopped();
    const frame = encodeFrame(
      { generation: segment.generation, writerEpoch: this.#segments.writerEpoch, walId, firstSeq: group.firstSeq },
      group.batches,
    );
    assert(frame.length === frameBytes, () => `frame of ${frame.length} bytes, expected ${frameBytes}`);
    const offsetBytes = segment.offsetBytes;
    segment.offsetBytes += frame.length; // even if the write fails: that region is never reused
    try {
      const written = segment.file.write(frame, offsetBytes);
      if (written !== undefined) await written; // undefined: written already (see WalFile.write)
      await segment.file.datasync();
    } catch (error) {
      throw new StorageError(`WAL write or fdatasync failed in ${this.#segments.dir.description}/${segment.name}`, { cause: error, outcome: "unknown", retryable: true });
    }
    if (segment.firstWalId === 0) segment.firstWalId = walId;
    segment.lastWalId = walId;
    this.#throwIfStopped();
    const sealed = this.#segments.dir.exists(this.#sealName);
    if (sealed === true || (sealed !== false && (await sealed))) {
      throw new FencedError(`a newer writer sealed WAL epoch ${this.#segments.writerEpoch} (${this.#sealName})`);
    }
    this.#segments.publishAck(walId);
    return frame.length;
  }

  #throwIfStopped(): void {
    if (this.buffer.stopped) throw new StoppedSignal();
  }
}

/** Thrown inside a flush when the writer was stopped meanwhile: ends it without a report (a stopped writer reports nothing). */
class StoppedSignal extends Error {}
