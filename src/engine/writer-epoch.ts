/**
 * One writer epoch: the state a writer holds between taking over the store (fence.ts) and
 * losing it (fenced, closed, or a store failure that makes the engine reopen).
 *
 * It owns the memtables (active and frozen), the WAL writer, the record of flushed WAL objects
 * (to compute the replay point when an L0 is published) and the latest manifest this epoch
 * committed. The Engine keeps one current epoch; when it reopens, the old epoch is stopped and
 * every background task that still holds it gives up quietly at its next step.
 */
import type { ObjectStore } from "../store/object-store.js";
import { assert } from "../errors.js";
import { claimWriterEpoch, writeWalFence } from "./fence.js";
import type { StoredManifest } from "./manifest-store.js";
import { Memtable } from "./memtable.js";
import { replayWal } from "./wal-replay.js";
import { firstFreeSstId } from "./sst-ids.js";
import type { WriteOp } from "./wal-format.js";
import type { WalSink } from "./wal.js";
import { SegmentSet } from "./segment-set.js";
import { publishTakeover, syncReplayedSegments, takeOverSegments, type ForeignWalFile } from "./segment-recovery.js";
import type { WalDirectory } from "./wal-files.js";
import type { DeviceTurns } from "../store/device-turns.js";
import { MEMTABLE_SPLIT_MIN_REST_BYTES } from "../limits.js";

/** Where the segment WAL lives (LocalStore only) and whether this epoch writes to it. */
export interface SegmentWalPlace {
  dir: WalDirectory;
  /** True: this epoch writes segments; false: it writes objects but still seals and replays segments. */
  write: boolean;
  segmentBytes: number;
  /** Where the segments' group commits and zeros take turns with the store's large writes (store/device-turns.ts). */
  turns?: DeviceTurns | undefined;
}

/** A writer of bookkeeping that only its latest value matters for (see `Engine.writeAtNextCut`). */
export interface CutSource {
  /** The ops to write at this cut: called once per `writeAtNextCut`, synchronously, at the cut. */
  opsAtCut(): WriteOp[];
}

export interface FrozenMemtable {
  memtable: Memtable;
  /** Highest seq in it: it may become an L0 once this seq is durable. */
  maxSeq: number;
}

export interface FlushedWal {
  walId: number;
  /** Highest batch seq in the object; 0 for a fence. */
  maxSeq: number;
}

export class WriterEpoch {
  manifest: StoredManifest;
  active = new Memtable();
  /** Oldest first. */
  frozen: FrozenMemtable[] = [];
  /** WAL objects after manifest.replayAfterWalId, ascending. */
  flushedWals: FlushedWal[] = [];
  lastSeq: number;
  nextSstId: number;
  /** SST ids below this were allocated by earlier writers (sst-ids.ts): unreferenced ones are orphans. */
  readonly sstIdFloorAtOpen: number;
  wal!: WalSink;
  /** The segment WAL's files of this epoch (segment mode only). */
  segments: SegmentSet | undefined;
  /** WAL files of older epochs found at takeover: removed once the replay point covers them. */
  foreignWalFiles: ForeignWalFile[] = [];
  /** Epochs whose ack file was found at takeover (segment-recovery.ts): removed with their last file. */
  foreignAckEpochs: number[] = [];
  /**
   * Fences that stop no writer (fence.ts), not yet deleted; every manifest this epoch writes
   * carries the list, and the garbage collector deletes those at or below the replay point.
   */
  collectableFenceIds: number[] = [];
  /** SSTs no manifest lists, not deleted yet: id -> wall-clock ms since when (Manifest `garbageSsts`; the garbage collector's). */
  garbageSsts = new Map<number, number>();
  /** Older epochs that closed cleanly and still have segment files (no seal needed); every manifest carries them. */
  cleanlyClosedEpochs: number[] = [];
  /** What asked to write at the next WAL cut (Engine.writeAtNextCut). */
  readonly cutSources = new Set<CutSource>();
  stopped = false;
  /** Batches taken by `deferBatch` and not yet in the memtable: their seqs and ops, in seq order. */
  #deferredSeqs: number[] = [];
  #deferredOps: (readonly WriteOp[])[] = [];
  /** What each deferred batch, and all of them, will add to the memtable's `sizeBytes`. */
  #deferredBatchBytes: number[] = [];
  #deferredBytes = 0;
  /** Manifest updates of this epoch run one after another through this chain. */
  manifestQueue: Promise<unknown> = Promise.resolve();

  private constructor(manifest: StoredManifest, firstSstId = manifest.manifest.nextSstId) {
    this.manifest = manifest;
    this.lastSeq = manifest.manifest.lastL0Seq;
    this.nextSstId = firstSstId;
    this.sstIdFloorAtOpen = firstSstId;
  }

  get writerEpoch(): number {
    return this.manifest.manifest.writerEpoch;
  }

  /** A view of the store's durable state for a read-only engine: nothing is claimed or written. */
  static observe(manifest: StoredManifest): WriterEpoch {
    return new WriterEpoch(manifest);
  }

  /**
   * Read-only: takes a newer manifest. Memtables whose every entry it now covers are dropped
   * (the SSTs hold them); the active one is frozen so that it can be dropped in turn later.
   */
  adoptManifest(stored: StoredManifest): void {
    this.manifest = stored;
    const covered = stored.manifest.lastL0Seq;
    if (covered > this.lastSeq) this.lastSeq = covered;
    if (this.active.entryCount > 0) this.freezeActive();
    this.frozen = this.frozen.filter((f) => f.maxSeq > covered);
  }

  /**
   * Claims the store (new epoch + WAL fence) and replays the WAL into memtables. With `place`,
   * also seals and replays the segment WAL (segment-recovery.ts); with `place.write`, first puts
   * this epoch's first segment in place, so that a newer writer listing the directory sees it.
   */
  static async claim(store: ObjectStore, l0SstBytes: number, place?: SegmentWalPlace): Promise<{ epoch: WriterEpoch; fenceWalId: number }> {
    const { claimed, predecessorClosedAtWalId } = await claimWriterEpoch(store);
    let segments: SegmentSet | undefined;
    try {
      if (place?.write === true) {
        await place.dir.ensure();
        segments = new SegmentSet({ dir: place.dir, writerEpoch: claimed.manifest.writerEpoch, segmentBytes: place.segmentBytes, l0SstBytes, turns: place.turns });
        await segments.nextSegment(0);
      }
      const m = claimed.manifest;
      const closedEpochs = [...(m.cleanlyClosedEpochs ?? []), ...(predecessorClosedAtWalId === undefined ? [] : [m.writerEpoch - 1])];
      const takeover = place === undefined ? undefined : await takeOverSegments(place.dir, {
              ourEpoch: m.writerEpoch,
              replayAfterWalId: m.replayAfterWalId,
              // A writer that closed cleanly acks nothing more: it needs no seal.
              cleanlyClosedEpochs: closedEpochs,
            });
      const fenceWalId = await writeWalFence(store, claimed, takeover?.maxWalId ?? 0);
      const epoch = new WriterEpoch(claimed, await firstFreeSstId(store, claimed.manifest.nextSstId));
      const zeroByteFencesThroughWalId = m.zeroByteFencesThroughWalId ?? fenceWalId;
      const range = { afterWalId: m.replayAfterWalId, beforeWalId: fenceWalId, lastL0Seq: m.lastL0Seq, zeroByteFencesThroughWalId, frames: takeover?.frames };
      for await (const wal of replayWal(store, range)) {
        for (const batch of wal.batches) {
          epoch.applyBatch(batch.seq, batch.ops);
          if (epoch.active.sizeBytes >= l0SstBytes) epoch.freezeActive();
        }
        epoch.flushedWals.push({ walId: wal.walId, maxSeq: wal.maxSeq });
      }
      epoch.flushedWals.push({ walId: fenceWalId, maxSeq: 0 });
      // Frames read from the page cache may never have been fdatasync'd by their writer: make
      // them durable before this epoch acks a seq that follows theirs.
      if (takeover !== undefined) await syncReplayedSegments(place!.dir, takeover);
      if (segments !== undefined) await segments.openAckFile(fenceWalId);
      else if (takeover !== undefined && takeover.frames.size > 0) await publishTakeover(place!.dir, m.writerEpoch, fenceWalId);
      epoch.segments = segments;
      epoch.foreignWalFiles = takeover?.foreign ?? [];
      epoch.foreignAckEpochs = takeover?.ackEpochs ?? [];
      const withFiles = new Set(epoch.foreignWalFiles.map((file) => file.writerEpoch));
      epoch.cleanlyClosedEpochs = closedEpochs.filter((closed) => withFiles.has(closed));
      // Our fence stops only the writer of the id below it: when that writer closed cleanly right
      // there, the fence stops nobody and may go once the replay point passes it.
      epoch.collectableFenceIds = [...(m.collectableFenceIds ?? []), ...(predecessorClosedAtWalId === fenceWalId ? [fenceWalId] : [])];
      epoch.garbageSsts = new Map(m.garbageSsts ?? []);
      return { epoch, fenceWalId };
    } catch (error) {
      await segments?.close().catch(() => undefined);
      throw error;
    }
  }

  /** Puts a batch into the active memtable now (replay; the WAL side is the caller's). */
  applyBatch(seq: number, ops: readonly WriteOp[]): void {
    assert(seq > this.lastSeq, () => `batch seq ${seq} does not follow ${this.lastSeq}`);
    assert(this.#deferredSeqs.length === 0, "a batch applied at once behind deferred ones");
    this.lastSeq = seq;
    this.#addToActive(seq, ops);
  }

  /**
   * Takes batch `seq` now and puts it into the active memtable later, by `applyDeferredThrough`:
   * the engine does that while the WAL group holding the batch is being made durable, so the
   * memtable's work overlaps the fdatasync or PUT instead of coming before it. Reads see only
   * durable seqs, and a group is reported durable only after its batches were applied, so no
   * read can tell the difference.
   */
  deferBatch(seq: number, ops: readonly WriteOp[]): void {
    assert(seq > this.lastSeq, () => `batch seq ${seq} does not follow ${this.lastSeq}`);
    this.lastSeq = seq;
    // Counted as the memtable will count them: backpressure must see them from now on.
    let bytes = 0;
    for (const op of ops) bytes += Memtable.entryBytes(op.key, op.type === "put" ? op.value : null);
    this.#deferredSeqs.push(seq);
    this.#deferredOps.push(ops);
    this.#deferredBatchBytes.push(bytes);
    this.#deferredBytes += bytes;
  }

  /**
   * Applies every deferred batch up to and including `seq`, in seq order. With `whenFull`, it is
   * called after a batch that brought the active memtable to `fullBytes` or more while at least
   * MEMTABLE_SPLIT_MIN_REST_BYTES of the group are still to come (the engine freezes the memtable
   * there). Why: one WAL group can hold megabytes (an append session's pipeline), and a memtable
   * checked only after its group, its L0 and that L0's buffer outgrew l0SstBytes by all of it. A
   * group whose batches span two memtables is safe: recovery skips batches already in an L0
   * (seq <= lastL0Seq), and the replay point passes a group only once all its batches are in L0s
   * (replayPointFor), which is why a group whose rest is small (its last batch is the tail at the
   * cut, decision 0004) is not split: its WAL object becomes collectable with this L0.
   */
  applyDeferredThrough(seq: number, whenFull?: { fullBytes: number; freeze: () => void }): void {
    const seqs = this.#deferredSeqs;
    let restBytes = 0;
    if (whenFull !== undefined) for (let i = 0; i < seqs.length && seqs[i]! <= seq; i++) restBytes += this.#deferredBatchBytes[i]!;
    let taken = 0;
    while (taken < seqs.length && seqs[taken]! <= seq) {
      this.#addToActive(seqs[taken]!, this.#deferredOps[taken]!);
      this.#deferredBytes -= this.#deferredBatchBytes[taken]!;
      restBytes -= this.#deferredBatchBytes[taken]!;
      taken++;
      if (whenFull !== undefined && restBytes >= MEMTABLE_SPLIT_MIN_REST_BYTES && this.active.sizeBytes >= whenFull.fullBytes) whenFull.freeze();
    }
    if (taken === seqs.length) {
      assert(this.#deferredBytes === 0, () => `${this.#deferredBytes} deferred bytes left with no deferred batch`);
      this.#deferredSeqs = [];
      this.#deferredOps = [];
      this.#deferredBatchBytes = [];
    } else if (taken > 0) {
      this.#deferredSeqs.splice(0, taken);
      this.#deferredOps.splice(0, taken);
      this.#deferredBatchBytes.splice(0, taken);
    }
  }

  /** The lowest seq taken by `deferBatch` and not applied yet (undefined when none). */
  get firstDeferredSeq(): number | undefined {
    return this.#deferredSeqs[0];
  }

  #addToActive(seq: number, ops: readonly WriteOp[]): void {
    for (const op of ops) {
      this.active.add({
        key: op.key,
        seq,
        value: op.type === "put" ? op.value : null,
        expireAtMs: op.type === "put" ? (op.expireAtMs ?? 0) : 0,
      });
    }
  }

  freezeActive(): void {
    if (this.active.entryCount === 0) return;
    this.active.freeze();
    this.frozen.push({ memtable: this.active, maxSeq: this.active.maxSeq });
    this.active = new Memtable();
  }

  /** Bytes not yet in an SST: the WAL buffer and every memtable. */
  get unflushedBytes(): number {
    const memtableBytes = this.#deferredBytes + this.active.sizeBytes + this.frozen.reduce((sum, f) => sum + f.memtable.sizeBytes, 0);
    return (this.wal?.bufferedBytes ?? 0) + memtableBytes;
  }

  /**
   * The highest WAL id such that it and every earlier flushed WAL object hold only batches
   * with seq <= `seq`: once an L0 holding every seq <= `seq` is published, replay can start
   * after it.
   */
  replayPointFor(seq: number): number {
    let point = this.manifest.manifest.replayAfterWalId;
    for (const wal of this.flushedWals) {
      if (wal.maxSeq > seq) break;
      point = wal.walId;
    }
    return point;
  }

  /** Forgets flushed WAL objects at or below the published replay point. */
  dropFlushedWalsThrough(walId: number): void {
    const keepFrom = this.flushedWals.findIndex((wal) => wal.walId > walId);
    this.flushedWals.splice(0, keepFrom < 0 ? this.flushedWals.length : keepFrom);
  }
}
