/**
 * The segment files of one writer epoch: preallocation, the active segment, recycling.
 *
 *   spare-<gen> (create, zeros, fdatasync) ──rename──> seg-<gen>, directory fsync ──> ready
 *   ready ──> active (frames appended at `offsetBytes`) ──> full: the next ready one becomes active
 *   retired (every frame at or below the manifest's replay point: at each L0's publish, and by the
 *   GC) ──rename──> seg-<new gen> (reuse)
 *
 * Segments grow from FIRST_WAL_SEGMENT_BYTES, doubling, up to `segmentBytes` (a frame larger than
 * that gets a segment of its own size). One segment is always being prepared ahead of the active one, in the background, so that a
 * flush never waits for zeros or a directory fsync: it writes into blocks that already exist and
 * calls fdatasync, which then has no metadata to commit. The zeros go in pieces between the WAL's
 * group commits (zeroFill, store/device-turns.ts). Only this epoch's own segments are
 * recycled: a file of an older epoch may still be open in a stalled process of that epoch, whose
 * late write would land in the reused file; such files are unlinked instead (segment-recovery.ts).
 */
import { ClosedError, InternalError, assert } from "../errors.js";
import { ackName, encodeAck, generationOf, segmentName, spareName, SEGMENT_INDEX_LIMIT } from "./segment-format.js";
import type { WalDirectory, WalFile } from "./wal-files.js";
import { publishTakeover } from "./segment-recovery.js";
import { FIRST_WAL_SEGMENT_BYTES, MAX_RECYCLABLE_WAL_SEGMENTS, MAX_WAL_SEGMENT_DOUBLINGS, WAL_SEGMENT_ZERO_FILL_BYTES } from "../limits.js";
import type { DeviceTurns } from "../store/device-turns.js";

export interface OpenSegment {
  readonly name: string;
  readonly generation: number;
  readonly file: WalFile;
  readonly sizeBytes: number;
  /** Where the next frame goes. */
  offsetBytes: number;
  /** WAL ids of the first and last frame written into it (0 while it holds none). */
  firstWalId: number;
  lastWalId: number;
}

export class SegmentSet {
  readonly dir: WalDirectory;
  readonly writerEpoch: number;
  readonly segmentBytes: number;
  #nextIndex = 0;
  #ready: Promise<OpenSegment> | undefined;
  /** Segments written into, oldest first; the last one is the active one. */
  readonly #used: OpenSegment[] = [];
  /** Retired segments kept for reuse, at most `#recycleLimit` (recyclableSegmentsFor). */
  readonly #recyclable: OpenSegment[] = [];
  readonly #recycleLimit: number;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Where the zeros take turns with the WAL's group commits (zeroFill). */
  readonly #turns: DeviceTurns | undefined;
  #ackFile: WalFile | undefined;
  #ackStartWalId = 0;
  /** The newest acked WAL id not yet written to the ack file, and whether a write is running. */
  #ackPending: number | undefined;
  #ackWriting = false;

  /** Bytes per piece of zeros (WAL_SEGMENT_ZERO_FILL_BYTES; tests pass smaller ones to see the pieces). */
  readonly #zeroFillPieceBytes: number;

  constructor(options: {
    dir: WalDirectory;
    writerEpoch: number;
    segmentBytes: number;
    l0SstBytes: number;
    turns?: DeviceTurns | undefined;
    zeroFillPieceBytes?: number;
  }) {
    this.dir = options.dir;
    this.#turns = options.turns;
    this.#zeroFillPieceBytes = options.zeroFillPieceBytes ?? WAL_SEGMENT_ZERO_FILL_BYTES;
    assert(this.#zeroFillPieceBytes > 0 && this.#zeroFillPieceBytes <= WAL_SEGMENT_ZERO_FILL_BYTES, "zero-fill pieces of 1 byte to WAL_SEGMENT_ZERO_FILL_BYTES");
    this.writerEpoch = options.writerEpoch;
    this.segmentBytes = options.segmentBytes;
    this.#recycleLimit = recyclableSegmentsFor(options.l0SstBytes, options.segmentBytes);
  }

  /** Starts preparing the next segment unless one is on its way. */
  prepareNext(): void {
    if (this.#ready !== undefined || this.#closed) return;
    // Small first segments keep an open cheap (an idle log never zero-fills a full segment).
    const sizeBytes = Math.min(this.segmentBytes, FIRST_WAL_SEGMENT_BYTES * 2 ** Math.min(this.#nextIndex, MAX_WAL_SEGMENT_DOUBLINGS));
    const ready = this.#prepare(sizeBytes);
    ready.catch(() => undefined); // awaited by `nextSegment`; a failure there fails the flush
    this.#ready = ready;
  }

  /** The segment to write into after the active one; holds at least `minBytes`. */
  async nextSegment(minBytes: number): Promise<OpenSegment> {
    assert(!this.#closed, "the segment set is closed");
    this.prepareNext();
    let segment = await this.#ready!;
    this.#ready = undefined;
    if (segment.sizeBytes < minBytes) {
      // A frame larger than the prepared segment: one of its own size; the prepared one waits.
      this.#ready = Promise.resolve(segment);
      segment = await this.#prepare(Math.ceil(minBytes / WAL_SEGMENT_ZERO_FILL_BYTES) * WAL_SEGMENT_ZERO_FILL_BYTES);
    }
    this.#used.push(segment);
    this.prepareNext();
    return segment;
  }

  /**
   * Creates this epoch's ack file (segment-format.ts) once its takeover is complete: frames of
   * older epochs below `startWalId` are durable from now on.
   */
  async openAckFile(startWalId: number): Promise<void> {
    this.#ackStartWalId = startWalId;
    await publishTakeover(this.dir, this.writerEpoch, startWalId);
    this.#ackFile = await this.dir.openFile(ackName(this.writerEpoch));
  }

  /**
   * Records `walId` as acknowledged for readers: rewrites the ack file in place, without fsync,
   * one write at a time (a burst is coalesced into the newest value).
   */
  publishAck(walId: number): void {
    if (this.#ackFile === undefined || this.#closed) return;
    this.#ackPending = walId;
    if (!this.#ackWriting) this.#writeAcks();
  }

  /** Writes pending acks; synchronously while the file's writes are (no promise per commit). */
  #writeAcks(): void {
    this.#ackWriting = true;
    try {
      while (this.#ackPending !== undefined && this.#ackFile !== undefined && !this.#closed) {
        const ackedWalId = this.#ackPending;
        this.#ackPending = undefined;
        const written = this.#ackFile.write(encodeAck({ startWalId: this.#ackStartWalId, ackedWalId }), 0);
        if (written !== undefined) {
          void this.#afterAckWrite(written); // one write at a time: the rest goes on when it is done
          return;
        }
      }
    } catch {
      // Readers only lag: the next ack rewrites the file.
    }
    this.#ackWriting = false;
  }

  async #afterAckWrite(written: Promise<void>): Promise<void> {
    try {
      await written;
    } catch {
      // As above: readers only lag.
    }
    this.#ackWriting = false;
    if (this.#ackPending !== undefined) this.#writeAcks();
  }

  /** Segments written into, oldest first (the last is the active one). */
  get used(): readonly OpenSegment[] {
    return this.#used;
  }

  /**
   * Retires every segment but the active one whose frames all have WAL ids <= `replayAfterWalId`
   * (an L0 holds all their batches): kept for reuse, or unlinked past the reuse limit.
   */
  async retireThrough(replayAfterWalId: number): Promise<void> {
    while (this.#used.length > 1 && this.#used[0]!.lastWalId <= replayAfterWalId && !this.#closed) {
      this.#recyclable.push(this.#used.shift()!);
      if (this.#recyclable.length <= this.#recycleLimit) continue;
      // Past the limit the smallest goes: the first segments of an epoch are small, and kept
      // they would be of no use once segments reach full size.
      const smallest = this.#recyclable.reduce((min, segment, i) => (segment.sizeBytes < this.#recyclable[min]!.sizeBytes ? i : min), 0);
      const [dropped] = this.#recyclable.splice(smallest, 1);
      await dropped!.file.close().catch(() => undefined);
      await this.dir.unlink(dropped!.name);
    }
  }

  /** The smallest kept segment that holds `sizeBytes`, taken out of the kept ones; undefined when none does. */
  #takeRecyclable(sizeBytes: number): OpenSegment | undefined {
    let best = -1;
    this.#recyclable.forEach((segment, i) => {
      if (segment.sizeBytes >= sizeBytes && (best < 0 || segment.sizeBytes < this.#recyclable[best]!.sizeBytes)) best = i;
    });
    return best < 0 ? undefined : this.#recyclable.splice(best, 1)[0];
  }

  /**
   * Closes every file (the epoch ended), once the segment being prepared is done: its zeros stop
   * at the next piece (the spare file stays for the next writer, as after a crash:
   * segment-recovery.ts). Resolves when no file operation of this set is under way any more;
   * later calls get the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const ready = this.#ready;
    this.#ready = undefined;
    const files = [...this.#used, ...this.#recyclable].map((segment) => segment.file);
    if (this.#ackFile !== undefined) files.push(this.#ackFile);
    this.#ackFile = undefined;
    this.#used.length = 0;
    this.#recyclable.length = 0;
    const prepared = await ready?.catch(() => undefined);
    if (prepared !== undefined) files.push(prepared.file);
    await Promise.allSettled(files.map((file) => file.close()));
  }

  async #prepare(sizeBytes: number): Promise<OpenSegment> {
    const index = this.#nextIndex++;
    assert(index < SEGMENT_INDEX_LIMIT, () => `writer epoch ${this.writerEpoch} used up its ${SEGMENT_INDEX_LIMIT} segment generations`);
    const generation = generationOf(this.writerEpoch, index);
    const recycled = this.#takeRecyclable(sizeBytes);
    let file: WalFile;
    let actualBytes = sizeBytes;
    if (recycled !== undefined) {
      // Its old frames stay, but carry the old generation: they never parse as this segment's.
      await this.dir.rename(recycled.name, segmentName(generation));
      file = recycled.file;
      actualBytes = recycled.sizeBytes;
    } else {
      file = await this.dir.createFile(spareName(generation));
      try {
        await zeroFill(file, sizeBytes, this.#zeroFillPieceBytes, this.#turns, () => this.#closed);
        await file.datasync();
        await this.dir.rename(spareName(generation), segmentName(generation));
      } catch (error) {
        await file.close().catch(() => undefined);
        throw error;
      }
    }
    await this.dir.syncDirectory();
    return { name: segmentName(generation), generation, file, sizeBytes: actualBytes, offsetBytes: 0, firstWalId: 0, lastWalId: 0 };
  }
}

/**
 * Retired segments kept for reuse: an L0 flush retires about `l0SstBytes` of segments at once and
 * the WAL then writes as much again before the next one, so that many (plus two for the
 * segment boundaries) keep a busy writer from zero-filling any segment in the steady state. The
 * kept files hold disk space (at most the WAL's own size between two L0 flushes) and one file
 * handle each, so the count is capped by MAX_RECYCLABLE_WAL_SEGMENTS.
 */
export function recyclableSegmentsFor(l0SstBytes: number, segmentBytes: number): number {
  return Math.min(MAX_RECYCLABLE_WAL_SEGMENTS, Math.ceil(l0SstBytes / segmentBytes) + 2);
}

/** The zeros every zeroFill writes from (only ever read). */
let zeroBytes: Uint8Array | undefined;

/**
 * Writes `sizeBytes` of zeros into `file` in pieces of `pieceBytes`; stops (ClosedError) once
 * `closed()` holds. With `turns`, each piece is fdatasync'd before the next (the last one by the
 * caller's fdatasync), and each starts only while no group commit is in flight: zeros written
 * whole reached the disk all at once at the segment's fdatasync (16 MiB, about 12 ms of the bench
 * machine's disk), and every group commit of that time waited behind them. In pieces they fill
 * the disk's idle gaps between group commits: a fresh log's batch100 over 3 s went from 93-101k
 * to 118-133k records/s (bench/README.md, "The disk between group commits"); pieces of 1 MiB
 * rather than 256 KiB gained again (WAL_SEGMENT_ZERO_FILL_BYTES).
 */
async function zeroFill(file: WalFile, sizeBytes: number, pieceBytes: number, turns: DeviceTurns | undefined, closed: () => boolean): Promise<void> {
  zeroBytes ??= new Uint8Array(WAL_SEGMENT_ZERO_FILL_BYTES);
  const zeros = zeroBytes.subarray(0, Math.min(pieceBytes, sizeBytes));
  for (let at = 0; at < sizeBytes; at += zeros.length) {
    if (closed()) throw new ClosedError("the segment WAL");
    const turn = turns?.turn();
    if (turn !== undefined) await turn;
    // On the thread pool: megabytes of zeros written on the event-loop thread held acks for
    // milliseconds each time a segment was prepared.
    await file.write(at + zeros.length <= sizeBytes ? zeros : zeros.subarray(0, sizeBytes - at), at, { background: true });
    if (turns !== undefined && at + zeros.length < sizeBytes) await file.datasync();
  }
}
