/**
 * The WAL follower: how a read-only engine keeps up with a writer in another process (or on
 * another machine) through the store alone, without writing a byte.
 *
 * Every poll it probes the next WAL id with a GET. Found: apply its batches (skipping what it
 * already has) and probe the next one. Not found: either the writer has not written it yet, or
 * the writer flushed it into an SST and garbage-collected it; so it probes the next manifest id,
 * and when a newer manifest exists it adopts it (new SSTs; memtable entries the manifest now
 * covers are dropped) and continues after that manifest's replay point. Fences (wal-format.ts)
 * are skipped; a zero-byte object is one only where an older version may have written it (an
 * empty object above the manifest's marker is corruption). An idle log costs two GETs per poll,
 * plus one LIST of the manifests every MANIFEST_LIST_INTERVAL_MS (a reader that fell behind the
 * writer's GC needs it).
 *
 * On a LocalStore written in segment mode, an id without an object is looked up in the segment
 * WAL (segment-tail.ts: only acknowledged frames), and a change in the WAL directory (fs.watch)
 * wakes the follower at once, so a reader on the same machine sees an ack within milliseconds.
 *
 * Batch seqs must follow each other: a gap means an object vanished between two probes, and the
 * follower reloads from the newest manifest instead of skipping records.
 */
import { CorruptionError, NotFoundError } from "../errors.js";
import type { ObjectStore } from "../store/object-store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { decodeManifest } from "./manifest-format.js";
import { listManifestIds, readLatestManifest, type StoredManifest } from "./manifest-store.js";
import { manifestKey, walKey } from "./paths.js";
import { decodeWalObject, type WalBatch } from "./wal-format.js";
import type { SegmentTail } from "./segment-tail.js";
import { FOLLOWER_MAX_WAL_OBJECTS_PER_POLL, MANIFEST_LIST_INTERVAL_MS } from "../limits.js";

export interface FollowerTarget {
  /** The seq of the last batch applied (every seq up to it is visible). */
  readonly lastSeq: number;
  /** The manifest the reader has adopted. */
  readonly manifest: StoredManifest;
  applyBatches(batches: WalBatch[]): void;
  /**
   * Whether the reader holds frozen memtables that a newer manifest would let it drop: then a
   * poll probes the next manifest even while WAL entries keep coming (the segment WAL keeps
   * frames longer than the object WAL keeps objects, so their absence cannot be the only cue).
   */
  readonly wantsNewerManifest: boolean;
  adoptManifest(stored: StoredManifest): void;
}

export class WalFollower {
  #nextWalId: number;
  #timer: TimerHandle | undefined;
  #polling: Promise<boolean> | undefined;
  #stopped = false;
  #lastListMs = Number.NEGATIVE_INFINITY;
  #pollAgain = false;
  /** A manifest to adopt when the next poll starts (adoptAtNextPoll). */
  #pendingAdopt: StoredManifest | undefined;
  polls = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: Clock,
    private readonly pollIntervalMs: number,
    private readonly target: FollowerTarget,
    private readonly onError: (error: unknown) => void,
    private readonly segments?: SegmentTail,
  ) {
    this.#nextWalId = target.manifest.manifest.replayAfterWalId + 1;
  }

  get nextWalId(): number {
    return this.#nextWalId;
  }

  /** Catches up once (at open), then keeps polling every pollIntervalMs. */
  async start(): Promise<void> {
    while (await this.pollOnce()) {
      // A poll stops after FOLLOWER_MAX_WAL_OBJECTS_PER_POLL objects; at open, catch up completely.
    }
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    void this.segments?.close();
  }

  /** Something changed in the WAL (a watch event): poll now, or again right after the poll running. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#polling !== undefined) {
      this.#pollAgain = true;
      return;
    }
    this.pollOnce().catch((error: unknown) => this.onError(error));
  }

  async idle(): Promise<void> {
    await this.#polling;
  }

  /**
   * Adopts `newest` (a manifest read elsewhere: a read found an SST missing and read the newest
   * manifest to tell a compaction from damage) at the start of a poll that begins after this
   * call, and waits for that poll. Not in the middle of one: a poll running meanwhile counts WAL
   * ids from the manifest it started on. Without this, a reader whose next manifest id was
   * already deleted adopted nothing until its next listing (MANIFEST_LIST_INTERVAL_MS on S3),
   * and every retry of its read met the same missing SST.
   */
  async adoptAtNextPoll(newest: StoredManifest): Promise<void> {
    if (newest.id > (this.#pendingAdopt?.id ?? 0)) this.#pendingAdopt = newest;
    while (this.#polling !== undefined) await this.#polling.catch(() => undefined);
    if (!this.#stopped) await this.pollOnce();
  }

  /** One poll; concurrent calls share it. Resolves true when it stopped at the per-poll cap. */
  pollOnce(): Promise<boolean> {
    this.#polling ??= this.#poll().finally(() => {
      this.#polling = undefined;
      if (this.#pollAgain) {
        this.#pollAgain = false;
        this.wake();
      }
    });
    return this.#polling;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.clock.setTimer(this.pollIntervalMs, () => {
      this.pollOnce().then(
        () => this.#schedule(),
        (error: unknown) => {
          this.onError(error);
          this.#schedule();
        },
      );
    });
  }

  async #poll(): Promise<boolean> {
    this.polls++;
    const pending = this.#pendingAdopt;
    this.#pendingAdopt = undefined;
    if (pending !== undefined && pending.id > this.target.manifest.id) this.#adopt(pending);
    // Only on a local disk with a segment WAL: objects vanish under GC, which is cue enough.
    if (this.segments !== undefined && this.target.wantsNewerManifest) await this.#adoptNewerManifest();
    for (let applied = 0; applied < FOLLOWER_MAX_WAL_OBJECTS_PER_POLL; applied++) {
      if (this.#stopped) return false;
      const bytes = await this.#get(walKey(this.#nextWalId));
      if (bytes === undefined) {
        const batches = await this.segments?.batchesOf(this.#nextWalId);
        if (this.#stopped) return false;
        if (batches !== undefined) {
          this.#applyBatches(walKey(this.#nextWalId), batches);
          this.#nextWalId++;
          continue;
        }
        if (!(await this.#adoptNewerManifest())) return false;
        continue;
      }
      if (this.#stopped) return false;
      if (bytes.length > 0) this.#applyBatches(walKey(this.#nextWalId), decodeWalObject(walKey(this.#nextWalId), this.#nextWalId, bytes).batches);
      else this.#checkZeroByteFence(this.#nextWalId);
      this.#nextWalId++;
    }
    return true;
  }

  /** A zero-byte object is an older version's fence only up to the manifest's marker (wal-format.ts); above it, it lost its batches. */
  #checkZeroByteFence(walId: number): void {
    const through = this.target.manifest.manifest.zeroByteFencesThroughWalId;
    if (through !== undefined && walId > through) {
      throw new CorruptionError(walKey(walId), `a WAL object is empty: fences above WAL id ${through} have a body, so its batches were lost`);
    }
  }

  #applyBatches(source: string, batches: WalBatch[]): void {
    const fresh = batches.filter((batch) => batch.seq > this.target.lastSeq);
    let previous = this.target.lastSeq;
    for (const batch of fresh) {
      if (batch.seq !== previous + 1) {
        throw new CorruptionError(source, `batch seq ${batch.seq} does not follow ${previous}: batches are missing`);
      }
      previous = batch.seq;
    }
    if (fresh.length > 0) this.target.applyBatches(fresh);
  }

  /**
   * How often the manifests may be listed. On S3 a LIST costs as much as 12 GETs: at most every
   * MANIFEST_LIST_INTERVAL_MS. Beside a segment WAL the store is a local directory, where a list
   * is a readdir: every poll, so that a reader that keeps up with the segments and wants to let go
   * of its memtables finds the writer's newest manifest at once (its next ids may be collected).
   */
  #listIntervalMs(): number {
    return this.segments !== undefined ? this.pollIntervalMs : Math.max(MANIFEST_LIST_INTERVAL_MS, this.pollIntervalMs);
  }

  /** Adopts the newest manifest if one is newer than ours; returns whether it did. */
  async #adoptNewerManifest(): Promise<boolean> {
    const current = this.target.manifest;
    const next = await this.#get(manifestKey(current.id + 1));
    let newest: StoredManifest | undefined;
    if (next !== undefined) {
      newest = { id: current.id + 1, manifest: decodeManifest(manifestKey(current.id + 1), next) };
    } else if (this.clock.elapsedMs() - this.#lastListMs < this.#listIntervalMs()) {
      return false;
    }
    this.#lastListMs = this.clock.elapsedMs();
    // Read the newest only when the listing shows one newer than what we have (a LIST, no GET).
    const ids = await listManifestIds(this.store);
    if ((ids[ids.length - 1] ?? 0) > (newest?.id ?? current.id)) {
      const latest = await readLatestManifest(this.store);
      if (latest !== undefined && latest.id > (newest?.id ?? current.id)) newest = latest;
    }
    if (newest === undefined) return false;
    this.#adopt(newest);
    return true;
  }

  #adopt(newest: StoredManifest): void {
    this.target.adoptManifest(newest);
    this.#nextWalId = Math.max(this.#nextWalId, newest.manifest.replayAfterWalId + 1);
  }

  async #get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.store.get(key);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }
}
