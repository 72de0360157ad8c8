/**
 * The memtable flusher: turns frozen memtables into L0 SSTs, oldest first, one at a time.
 *
 * For each frozen memtable: wait until its last seq is durable (an L0 must never publish data
 * the WAL has not made durable), build the SST (newest version per key; expired and filtered
 * entries become tombstones, which only the bottom-most compaction may drop), create it
 * create-only, then commit a manifest that lists it and moves `lastL0Seq` and
 * `replayAfterWalId` forward. Only after that commit does the memtable leave the read view.
 */
import { isExpired, type Entry } from "./entry.js";
import { BackgroundTask, CpuSlicer } from "./background-task.js";
import type { Engine } from "./engine.js";
import type { ResolvedEngineOptions } from "./engine-options.js";
import type { SstHandle } from "./manifest-format.js";
import { putNewSst } from "./sst-ids.js";
import { failpoint } from "../util/failpoints.js";
import { MAX_BUILDER_CAPACITY_BYTES, SstBuilder, SstSizeBound } from "./sst-format.js";
import type { FrozenMemtable, WriterEpoch } from "./writer-epoch.js";

export class MemtableFlusher {
  readonly #task = new BackgroundTask(() => this.#run());

  constructor(private readonly engine: Engine) {}

  kick(): void {
    if (this.engine.options.readOnly) return;
    this.#task.kick();
  }

  idle(): Promise<void> {
    return this.#task.idle();
  }

  async #run(): Promise<void> {
    for (;;) {
      const epoch = this.engine.epoch;
      const oldest = epoch?.frozen[0];
      if (epoch === undefined || epoch.stopped || oldest === undefined || this.engine.closing) return;
      try {
        await this.#flushOne(epoch, oldest);
      } catch (error) {
        this.engine.reportFailure(epoch, error);
        return;
      }
    }
  }

  async #flushOne(epoch: WriterEpoch, frozen: FrozenMemtable): Promise<void> {
    await this.engine.whenDurable(frozen.maxSeq);
    while (epoch.manifest.manifest.l0.length >= this.engine.options.l0MaxSsts && !epoch.stopped) {
      this.engine.compactor.kick();
      await this.engine.compactor.idle();
      if (epoch.manifest.manifest.l0.length >= this.engine.options.l0MaxSsts) return; // compactor failed; it reported why
    }
    if (epoch.stopped) return;
    const built = await buildL0(frozen, this.engine);
    const handle = built === undefined ? undefined : await putNewSst(this.engine.store, epoch, built.bytes, built.info);
    failpoint("flusher.publish");
    const replayPoint = epoch.replayPointFor(frozen.maxSeq);
    await this.engine.updateManifest(epoch, (m) => ({
      ...m,
      l0: handle === undefined ? m.l0 : [handle, ...m.l0],
      lastL0Seq: Math.max(m.lastL0Seq, frozen.maxSeq),
      replayAfterWalId: Math.max(m.replayAfterWalId, replayPoint),
    }));
    if (epoch.stopped) return;
    epoch.frozen.shift();
    epoch.dropFlushedWalsThrough(replayPoint);
    this.engine.recorder.l0Flushes++;
    this.engine.refreshVersion(epoch);
    this.engine.notifyCapacity();
    this.engine.compactor.kick();
    this.engine.gc.kick();
  }
}

async function buildL0(frozen: FrozenMemtable, engine: Engine): Promise<{ bytes: Uint8Array; info: SstHandle["info"] } | undefined> {
  const blockBytes = engine.options.sstBlockBytes;
  const capacityBytes = await l0SizeBound(frozen, blockBytes, () => engine.clock.elapsedMs());
  const builder = new SstBuilder({ blockBytes, capacityBytes });
  const nowMs = engine.clock.nowMs();
  let previous: Uint8Array | undefined;
  const slicer = new CpuSlicer(() => engine.clock.elapsedMs());
  for (const entry of frozen.memtable.entries()) {
    const due = slicer.due();
    if (due !== undefined) await due; // the memtable is frozen: safe to resume
    if (previous !== undefined && Buffer.compare(previous, entry.key) === 0) continue; // older version
    previous = entry.key;
    const kept = dropIfDead(entry, nowMs, engine.options);
    if (kept !== undefined) builder.add(kept);
  }
  return builder.entryCount === 0 ? undefined : builder.finish();
}

/**
 * An upper bound of the L0's size, from one pass over the frozen memtable (every version: the
 * SST holds a subset), so that the SST is built in one buffer and PUT without a copy.
 */
async function l0SizeBound(frozen: FrozenMemtable, blockBytes: number, elapsedMs: () => number): Promise<number> {
  const bound = new SstSizeBound();
  const slicer = new CpuSlicer(elapsedMs);
  for (const entry of frozen.memtable.entries()) {
    const due = slicer.due();
    if (due !== undefined) await due;
    bound.add(entry);
  }
  return Math.min(bound.bytes(blockBytes), MAX_BUILDER_CAPACITY_BYTES);
}

/**
 * What a flush or compaction keeps of the newest version of a key. An expired or filtered
 * version becomes a tombstone at the same seq, so that no older version reappears; a key the
 * caller declared write-once (`isWriteOnceKey`) has no older version, so it is dropped outright.
 * Returns undefined to drop.
 */
export function dropIfDead(
  entry: Entry,
  nowMs: number,
  options: Pick<ResolvedEngineOptions, "compactionFilter" | "isWriteOnceKey">,
): Entry | undefined {
  if (entry.value === null) return entry;
  const filter = options.compactionFilter;
  if (!isExpired(entry, nowMs) && (filter === undefined || filter(entry.key, entry.value))) return entry;
  if (options.isWriteOnceKey?.(entry.key) === true) return undefined;
  return { key: entry.key, seq: entry.seq, value: null, expireAtMs: 0 };
}
