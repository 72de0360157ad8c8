/**
 * The garbage collector: deletes objects nothing needs any more, in the background.
 *
 *   - WAL objects at or below the manifest's replay point, except fences (by size), which are
 *     never deleted (a stalled writer must keep hitting its fence: SlateDB issue 1622);
 *   - SSTs this writer removed from the manifest (compaction inputs), once no scan in this
 *     process pins them and `gcGraceMs` has passed (readers in other processes reload on a
 *     missing object);
 *   - orphan SSTs that earlier writers uploaded but never published: unreferenced ids below this
 *     epoch's first SST id, which lies past every SST that existed when it took over (sst-ids.ts;
 *     ids above it are this writer's own uploads, published or about to be);
 *   - manifests older than the newest `manifestsKept` + 1.
 * Deletes follow only from manifests this epoch committed and verified to be the newest.
 */
import type { Engine } from "./engine.js";
import { listManifestIds } from "./manifest-store.js";
import { SST_PREFIX, manifestKey, parseId, sstKey, walKey } from "./paths.js";
import { listWalIds } from "./fence.js";
import { mayBeWalFence } from "./wal-format.js";
import type { TimerHandle } from "../util/clock.js";
import type { WriterEpoch } from "./writer-epoch.js";

/**
 * The shortest wait before retrying SSTs that a pass could not delete although their grace period
 * had passed (pinned by a scan, or a failed delete): with gcIntervalMs 0 a timer of 0 would
 * retry every millisecond for as long as a scan runs.
 */
const GC_MIN_RESCHEDULE_MS = 10;

export class GarbageCollector {
  readonly #dereferenced = new Map<number, number>();
  #running: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #lastRunMs = Number.NEGATIVE_INFINITY;
  #kickedWhileRunning = false;
  #orphansCheckedForEpoch: WriterEpoch | undefined;
  #lastWalGcThrough = 0;

  constructor(private readonly engine: Engine) {}

  markDereferenced(sstIds: number[]): void {
    const nowMs = this.engine.clock.elapsedMs();
    for (const id of sstIds) this.#dereferenced.set(id, nowMs);
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
    if (this.#timer !== undefined || this.engine.options.readOnly) return;
    const epoch = this.engine.epoch;
    if (epoch === undefined || epoch.stopped) return;
    const waitMs = this.#lastRunMs + this.engine.options.gcIntervalMs - this.engine.clock.elapsedMs();
    if (waitMs > 0) {
      this.#schedule(waitMs);
      return;
    }
    this.#running = this.runOnce().finally(() => {
      this.#running = undefined;
      if (this.#kickedWhileRunning) {
        this.#kickedWhileRunning = false;
        this.#schedule(Math.max(0, this.#lastRunMs + this.engine.options.gcIntervalMs - this.engine.clock.elapsedMs()));
      } else {
        this.#scheduleForGrace();
      }
    });
  }

  /** After a pass: when SSTs wait out their grace period, a timer runs the pass that deletes them. */
  #scheduleForGrace(): void {
    if (this.#dereferenced.size === 0) return;
    let oldestMs = Number.POSITIVE_INFINITY;
    for (const sinceMs of this.#dereferenced.values()) oldestMs = Math.min(oldestMs, sinceMs);
    const nowMs = this.engine.clock.elapsedMs();
    const { gcGraceMs, gcIntervalMs } = this.engine.options;
    const dueMs = Math.max(oldestMs + gcGraceMs, this.#lastRunMs + gcIntervalMs);
    // Past due already: the pass could not delete it (pinned by a scan, or a failed delete).
    this.#schedule(dueMs > nowMs ? dueMs - nowMs : Math.max(GC_MIN_RESCHEDULE_MS, gcIntervalMs));
  }

  #schedule(waitMs: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = this.engine.clock.setTimer(waitMs, () => {
      this.#timer = undefined;
      this.kick();
    });
  }

  async idle(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    while (this.#running !== undefined) await this.#running;
  }

  /** One pass. Errors are not fatal: the next pass tries again. */
  async runOnce(): Promise<void> {
    this.#lastRunMs = this.engine.clock.elapsedMs();
    const epoch = this.engine.epoch;
    if (epoch === undefined || epoch.stopped) return;
    try {
      await this.#collectWal(epoch);
      await this.#collectSsts(epoch);
      await this.#collectManifests(epoch);
    } catch (error) {
      // A failed delete leaves garbage behind, never a hole; the next pass retries.
      this.engine.reportBackgroundError("garbage collection", error);
    }
  }

  async #collectWal(epoch: WriterEpoch): Promise<void> {
    const through = epoch.manifest.manifest.replayAfterWalId;
    await this.#collectSegments(epoch, through);
    if (through <= this.#lastWalGcThrough) return;
    for (const wal of await listWalIds(this.engine.store, Math.max(0, this.#lastWalGcThrough - 1))) {
      if (wal.id > through || epoch.stopped) break;
      if (!mayBeWalFence(wal.size)) await this.#delete(walKey(wal.id));
    }
    this.#lastWalGcThrough = through;
  }

  /**
   * Segment WAL files whose every frame is at or below the replay point: this epoch's own are
   * kept for reuse (segment-set.ts), older epochs' are unlinked (never reused: a stalled writer
   * of that epoch may still write into its open file).
   */
  async #collectSegments(epoch: WriterEpoch, through: number): Promise<void> {
    await epoch.segments?.retireThrough(through);
    const dir = this.engine.segmentDirectory;
    if (dir === undefined) return;
    const keep = [];
    for (const file of epoch.foreignWalFiles) {
      if (file.maxWalId <= through && !epoch.stopped) {
        await dir.unlink(file.name);
        this.engine.recorder.objectsDeleted++;
      } else {
        keep.push(file);
      }
    }
    epoch.foreignWalFiles = keep;
  }

  async #collectSsts(epoch: WriterEpoch): Promise<void> {
    const nowMs = this.engine.clock.elapsedMs();
    const referenced = referencedSsts(epoch);
    for (const [id, sinceMs] of this.#dereferenced) {
      if (epoch.stopped) return;
      if (referenced.has(id)) {
        this.#dereferenced.delete(id);
      } else if (nowMs - sinceMs >= this.engine.options.gcGraceMs && !this.engine.version.isPinned(id)) {
        await this.#delete(sstKey(id));
        this.engine.version.forget(id);
        this.#dereferenced.delete(id);
      }
    }
    if (this.#orphansCheckedForEpoch === epoch) return;
    for await (const entry of this.engine.store.list(SST_PREFIX)) {
      const id = parseId(SST_PREFIX, entry.key);
      if (id === undefined || id >= epoch.sstIdFloorAtOpen) break;
      if (!referenced.has(id) && !this.#dereferenced.has(id)) this.markDereferenced([id]);
    }
    this.#orphansCheckedForEpoch = epoch;
  }

  async #collectManifests(epoch: WriterEpoch): Promise<void> {
    const keepFrom = epoch.manifest.id - this.engine.options.manifestsKept;
    for (const id of await listManifestIds(this.engine.store)) {
      if (id >= keepFrom || epoch.stopped) return;
      await this.#delete(manifestKey(id));
    }
  }

  async #delete(key: string): Promise<void> {
    await this.engine.store.delete(key);
    this.engine.recorder.objectsDeleted++;
  }
}

function referencedSsts(epoch: WriterEpoch): Set<number> {
  const m = epoch.manifest.manifest;
  return new Set([...m.l0, ...m.runs.flatMap((run) => run.ssts)].map((handle) => handle.id));
}
