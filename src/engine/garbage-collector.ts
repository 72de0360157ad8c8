/**
 * The garbage collector: deletes objects nothing needs any more, in the background.
 *
 *   - WAL objects at or below the manifest's replay point, except fences (by size): a stalled
 *     writer must keep hitting its fence (SlateDB issue 1622); only fences the manifest lists as
 *     collectable (their predecessor closed cleanly: fence.ts) are deleted;
 *   - SSTs removed from the manifest (compaction inputs), once no scan in this process pins them
 *     and `gcGraceMs` has passed since their removal (readers in other processes reload on a
 *     missing object). The removal times are wall-clock times kept in every manifest the writer
 *     writes (Manifest `garbageSsts`), so that the grace period runs across writers;
 *   - orphan SSTs that earlier writers uploaded but never published: unreferenced ids below this
 *     epoch's first SST id, which lies past every SST that existed when it took over (sst-ids.ts;
 *     ids above it are this writer's own uploads, published or about to be);
 *   - manifests older than the newest `manifestsKept` + 1.
 * Deletes follow only from manifests this epoch committed and verified to be the newest.
 */
import type { ObjectStore } from "../store/object-store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { listManifestIds } from "./manifest-store.js";
import { listedSstIds } from "./manifest-format.js";
import { SST_PREFIX, manifestKey, parseId, sstKey, walKey } from "./paths.js";
import { listWalIds } from "./fence.js";
import { mayBeWalFence } from "./wal-format.js";
import type { WalDirectory } from "./wal-files.js";
import { ackName } from "./segment-format.js";
import type { WriterEpoch } from "./writer-epoch.js";
import type { ResolvedEngineOptions } from "./engine-options.js";
import { GC_MIN_RESCHEDULE_MS } from "../limits.js";

/** The options a collector reads: its pacing, the grace period and how many manifests it keeps. */
export type GcOptions = Pick<ResolvedEngineOptions, "readOnly" | "gcIntervalMs" | "gcGraceMs" | "manifestsKept">;

/** What of a writer epoch a pass reads: its manifest, its segment files and whether it stopped. */
export type GcEpoch = Pick<
  WriterEpoch,
  "manifest" | "stopped" | "sstIdFloorAtOpen" | "segments" | "foreignWalFiles" | "foreignAckEpochs" | "collectableFenceIds" | "garbageSsts"
>;

/** What the collector needs from the engine that runs it, and no more. */
export interface GcHost {
  readonly clock: Clock;
  readonly store: ObjectStore;
  /** Which SSTs scans still read (kept), and forgetting the reader of a deleted one. */
  readonly version: { isPinned(sstId: number): boolean; forget(sstId: number): void };
  /** Counts what the collector deleted (engine metrics). */
  readonly recorder: { objectsDeleted: number };
  /** The segment WAL's directory (on a LocalStore), where older epochs' files are unlinked. */
  readonly segmentDirectory: WalDirectory | undefined;
  /** The current writer epoch, or undefined once the engine closed. */
  readonly epoch: GcEpoch | undefined;
  /** A pass failed: not fatal (the next pass retries), only reported. */
  reportBackgroundError(task: string, error: unknown): void;
}

export class GarbageCollector {
  #running: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #lastRunMs = Number.NEGATIVE_INFINITY;
  #kickedWhileRunning = false;
  #orphansCheckedForEpoch: GcEpoch | undefined;
  #lastWalGcThrough = 0;

  readonly #host: GcHost;
  readonly #options: GcOptions;

  constructor(host: GcHost, options: GcOptions) {
    this.#host = host;
    this.#options = options;
  }

  /** SSTs that no manifest lists from now on: their grace period starts now (unless it started earlier). */
  markDereferenced(sstIds: number[]): void {
    const garbage = this.#host.epoch?.garbageSsts;
    if (garbage === undefined) return;
    const nowMs = this.#host.clock.nowMs();
    for (const id of sstIds) if (!garbage.has(id)) garbage.set(id, nowMs);
  }

  /**
   * Runs a pass now if the interval has passed, else schedules one. A stopped epoch gets no pass:
   * the engine kicks the collector again when it starts the next epoch. A pass never starts
   * another one directly: the next runs from a timer, so the collector always yields to timers
   * and I/O (issue 16: re-running from the pass's own promise chain spun in microtasks forever
   * on a store that answers in microtasks, or while the epoch was stopped).
   */
  kick(): void {
    if (this.#running !== undefined) {
      this.#kickedWhileRunning = true; // what changed may come after the running pass looked
      return;
    }
    if (this.#timer !== undefined || this.#options.readOnly) return;
    const epoch = this.#host.epoch;
    if (epoch === undefined || epoch.stopped) return;
    const waitMs = this.#lastRunMs + this.#options.gcIntervalMs - this.#host.clock.elapsedMs();
    if (waitMs > 0) {
      this.#schedule(waitMs);
      return;
    }
    this.#running = this.runOnce().finally(() => {
      this.#running = undefined;
      if (this.#kickedWhileRunning) {
        this.#kickedWhileRunning = false;
        this.#schedule(Math.max(0, this.#lastRunMs + this.#options.gcIntervalMs - this.#host.clock.elapsedMs()));
      } else {
        this.#scheduleForGrace();
      }
    });
  }

  /** After a pass: when SSTs wait out their grace period, a timer runs the pass that deletes them. */
  #scheduleForGrace(): void {
    const garbage = this.#host.epoch?.garbageSsts;
    if (garbage === undefined || garbage.size === 0) return;
    let oldestMs = Number.POSITIVE_INFINITY;
    for (const sinceMs of garbage.values()) oldestMs = Math.min(oldestMs, sinceMs);
    const { gcGraceMs, gcIntervalMs } = this.#options;
    const graceLeftMs = oldestMs + gcGraceMs - this.#host.clock.nowMs(); // wall clock: the times are shared with other writers
    const intervalLeftMs = this.#lastRunMs + gcIntervalMs - this.#host.clock.elapsedMs();
    const waitMs = Math.max(graceLeftMs, intervalLeftMs);
    // Past due already: the pass could not delete it (pinned by a scan, or a failed delete).
    this.#schedule(waitMs > 0 ? waitMs : Math.max(GC_MIN_RESCHEDULE_MS, gcIntervalMs));
  }

  #schedule(waitMs: number): void {
    // No timer for a stopped epoch: it would hold the process open for a pass that does nothing
    // (a pass finishing during close scheduled one for gcGraceMs, and the process lived 60 s on).
    const epoch = this.#host.epoch;
    if (this.#timer !== undefined || epoch === undefined || epoch.stopped) return;
    this.#timer = this.#host.clock.setTimer(waitMs, () => {
      this.#timer = undefined;
      this.kick();
    });
  }

  async idle(): Promise<void> {
    do {
      this.#timer?.cancel();
      this.#timer = undefined;
      while (this.#running !== undefined) await this.#running;
    } while (this.#timer !== undefined); // the pass awaited may have scheduled the next
  }

  /** One pass. Errors are not fatal: the next pass tries again. */
  async runOnce(): Promise<void> {
    if (this.#options.readOnly) return; // a reader never deletes
    this.#lastRunMs = this.#host.clock.elapsedMs();
    const epoch = this.#host.epoch;
    if (epoch === undefined || epoch.stopped) return;
    try {
      await this.#collectWal(epoch);
      await this.#collectSsts(epoch);
      await this.#collectManifests(epoch);
    } catch (error) {
      // A failed delete leaves garbage behind, never a hole; the next pass retries.
      this.#host.reportBackgroundError("garbage collection", error);
    }
  }

  async #collectWal(epoch: GcEpoch): Promise<void> {
    const through = epoch.manifest.manifest.replayAfterWalId;
    await this.#collectSegments(epoch, through);
    await this.#collectFences(epoch, through);
    if (through <= this.#lastWalGcThrough) return;
    for (const wal of await listWalIds(this.#host.store, Math.max(0, this.#lastWalGcThrough - 1))) {
      if (wal.id > through || epoch.stopped) break;
      if (!mayBeWalFence(wal.size)) await this.#delete(walKey(wal.id));
    }
    this.#lastWalGcThrough = through;
  }

  /** Collectable fences at or below the replay point; the epoch's next manifest no longer lists them. */
  async #collectFences(epoch: GcEpoch, through: number): Promise<void> {
    for (const id of epoch.collectableFenceIds.filter((fenceId) => fenceId <= through)) {
      if (epoch.stopped) return;
      await this.#delete(walKey(id));
      epoch.collectableFenceIds = epoch.collectableFenceIds.filter((fenceId) => fenceId !== id);
    }
  }

  /**
   * Segment WAL files whose every frame is at or below the replay point: this epoch's own are
   * kept for reuse (segment-set.ts), older epochs' are unlinked (never reused: a stalled writer
   * of that epoch may still write into its open file).
   */
  async #collectSegments(epoch: GcEpoch, through: number): Promise<void> {
    await epoch.segments?.retireThrough(through);
    const dir = this.#host.segmentDirectory;
    if (dir === undefined) return;
    const keep = [];
    for (const file of epoch.foreignWalFiles) {
      if (file.maxWalId <= through && !epoch.stopped) {
        await dir.unlink(file.name);
        this.#host.recorder.objectsDeleted++;
      } else {
        keep.push(file);
      }
    }
    epoch.foreignWalFiles = keep;
    // An older epoch's ack file once no file of it or an older epoch is left: readers have no
    // frame of those epochs to judge (a void frame's id holds a kept fence object, which wins).
    const oldestLeft = Math.min(...keep.map((file) => file.writerEpoch));
    for (const ackEpoch of epoch.foreignAckEpochs.filter((e) => e < oldestLeft)) {
      if (epoch.stopped) return;
      await dir.unlink(ackName(ackEpoch));
      this.#host.recorder.objectsDeleted++;
      epoch.foreignAckEpochs = epoch.foreignAckEpochs.filter((e) => e !== ackEpoch);
    }
  }

  async #collectSsts(epoch: GcEpoch): Promise<void> {
    const nowMs = this.#host.clock.nowMs();
    const referenced = listedSstIds(epoch.manifest.manifest);
    const garbage = epoch.garbageSsts;
    for (const [id, sinceMs] of [...garbage]) {
      if (epoch.stopped) return;
      if (referenced.has(id)) {
        garbage.delete(id); // listed again (an earlier writer's mark the newest manifest contradicts)
      } else if (sinceMs > nowMs) {
        garbage.set(id, nowMs); // marked by a clock ahead of this one: its grace starts now
      } else if (nowMs - sinceMs >= this.#options.gcGraceMs && !this.#host.version.isPinned(id)) {
        await this.#delete(sstKey(id));
        this.#host.version.forget(id);
        garbage.delete(id); // the epoch's next manifest no longer lists it
      }
    }
    if (this.#orphansCheckedForEpoch === epoch) return;
    for await (const entry of this.#host.store.list(SST_PREFIX)) {
      const id = parseId(SST_PREFIX, entry.key);
      if (id === undefined || id >= epoch.sstIdFloorAtOpen) break;
      if (!referenced.has(id) && !garbage.has(id)) this.markDereferenced([id]);
    }
    this.#orphansCheckedForEpoch = epoch;
  }

  async #collectManifests(epoch: GcEpoch): Promise<void> {
    const keepFrom = epoch.manifest.id - this.#options.manifestsKept;
    for (const id of await listManifestIds(this.#host.store)) {
      if (id >= keepFrom || epoch.stopped) return;
      await this.#delete(manifestKey(id));
    }
  }

  async #delete(key: string): Promise<void> {
    await this.#host.store.delete(key);
    this.#host.recorder.objectsDeleted++;
  }
}

