/**
 * The memtable flusher: turns frozen memtables into L0 SSTs, oldest first, one at a time.
 *
 * For each frozen memtable: wait until its last seq is durable (an L0 must never publish data
 * the WAL has not made durable), build the SST (newest version per key; expired and filtered
 * entries become tombstones, which only the bottom-most compaction may drop), create it
 * create-only, then commit a manifest that lists it and moves `lastL0Seq` and
 * `replayAfterWalId` forward. Only after that commit does the memtable leave the read view.
 *
 * It takes only what it uses of the engine (FlusherHost); writing and publishing the SST is
 * shared with the compactor (compaction-output.ts).
 */
import { assert } from "../errors.js";
import type { Clock } from "../util/clock.js";
import { EpochTask, type EpochTaskHost } from "./background-task.js";
import type { ResolvedEngineOptions } from "./engine-options.js";
import type { EngineMetricsRecorder } from "./engine-metrics.js";
import type { SstHandle } from "./manifest-format.js";
import { failpoint } from "../util/failpoints.js";
import { publishOutputs, SstOutputWriter, type SstPublishHost } from "./compaction-output.js";
import { L0_BUILD_SLICE_MS, MAX_SST_BUILDER_CAPACITY_BYTES } from "../limits.js";
import type { FrozenMemtable, WriterEpoch } from "./writer-epoch.js";
import type { SstBufferPool } from "./sst-buffer-pool.js";
import type { DeviceTurns } from "../store/device-turns.js";

/** What the flusher uses of the engine. */
export interface FlusherHost extends EpochTaskHost, SstPublishHost {
  readonly options: Pick<ResolvedEngineOptions, "readOnly" | "l0MaxSsts" | "sstBlockBytes" | "compactionFilter" | "isWriteOnceKey">;
  readonly clock: Clock;
  readonly recorder: Pick<EngineMetricsRecorder, "l0Flushes">;
  /** Resolves once every write up to `seq` is durable in the WAL. */
  whenDurable(seq: number): Promise<void>;
  /** Wakes writers waiting for room under maxUnflushedBytes. */
  notifyCapacity(): void;
  /** Where L0 output buffers come from when they can be reused (a LocalStore); undefined: a fresh one per flush. */
  readonly sstBuffers?: SstBufferPool | undefined;
  /** With the segment WAL: the L0 build's slices run while a group commit is in flight (cpuTurn). */
  readonly deviceTurns?: Pick<DeviceTurns, "cpuTurn"> | undefined;
}

/** The tasks a flush hands work to: the compactor (which also makes room in L0) and the garbage collector. */
export interface FlushFollowers {
  compactor: { kick(): void; idle(): Promise<void> };
  gc: { kick(): void };
}

export class MemtableFlusher {
  readonly #task: EpochTask;

  constructor(
    private readonly host: FlusherHost,
    private readonly followers: FlushFollowers,
  ) {
    this.#task = new EpochTask(host, (epoch) => {
      const oldest = epoch.frozen[0];
      return oldest === undefined ? undefined : () => this.#flushOne(epoch, oldest);
    });
  }

  kick(): void {
    if (this.host.options.readOnly) return;
    this.#task.kick();
  }

  idle(): Promise<void> {
    return this.#task.idle();
  }

  async #flushOne(epoch: WriterEpoch, frozen: FrozenMemtable): Promise<void> {
    const { host, followers } = this;
    await host.whenDurable(frozen.maxSeq);
    while (epoch.manifest.manifest.l0.length >= host.options.l0MaxSsts && !epoch.stopped) {
      followers.compactor.kick();
      await followers.compactor.idle();
      if (epoch.manifest.manifest.l0.length >= host.options.l0MaxSsts) return; // compactor failed; it reported why
    }
    if (epoch.stopped) return;
    const handle = await this.#writeL0(epoch, frozen);
    failpoint("flusher.publish");
    const replayPoint = epoch.replayPointFor(frozen.maxSeq);
    const mutate = (m: typeof epoch.manifest.manifest) => ({
      ...m,
      l0: handle === undefined ? m.l0 : [handle, ...m.l0],
      lastL0Seq: Math.max(m.lastL0Seq, frozen.maxSeq),
      replayAfterWalId: Math.max(m.replayAfterWalId, replayPoint),
    });
    if (!(await publishOutputs(host, epoch, mutate, () => epoch.frozen.shift()))) return;
    frozen.memtable.drop(); // out of the read view: its values are released once no scan reads it
    epoch.dropFlushedWalsThrough(replayPoint);
    host.recorder.l0Flushes++;
    host.notifyCapacity();
    followers.compactor.kick();
    followers.gc.kick();
    // The segments this L0 covers are reused from now on, not from the next GC pass (gcIntervalMs
    // away): until then a busy log zero-filled a fresh segment for every one it filled. Last, so
    // that writers waiting for room do not wait for an unlink. A failed unlink of one past the
    // reuse limit leaves a file behind, as in a GC pass; nothing is lost.
    await epoch.segments?.retireThrough(replayPoint).catch(() => undefined);
  }

  /** Builds and stores the L0 of `frozen`; undefined when nothing in it survives. */
  async #writeL0(epoch: WriterEpoch, frozen: FrozenMemtable): Promise<SstHandle | undefined> {
    const { host } = this;
    const elapsedMs = () => host.clock.elapsedMs();
    // An upper bound of the L0's size, so that the SST is built in one buffer and PUT without a copy.
    const capacityBytes = Math.min(frozen.memtable.sstSizeBound(host.options.sstBlockBytes), MAX_SST_BUILDER_CAPACITY_BYTES);
    const writer = new SstOutputWriter(host.store, epoch, {
      blockBytes: host.options.sstBlockBytes,
      filter: host.options,
      nowMs: host.clock.nowMs(),
      elapsedMs,
      dropTombstones: false, // only a bottom-most compaction may drop tombstones
      capacityFor: () => capacityBytes,
      split: false,
      sliceMs: L0_BUILD_SLICE_MS, // short: every group commit that returns during a slice waits for its end
      ...(host.sstBuffers === undefined ? {} : { buffers: host.sstBuffers }),
      ...(host.deviceTurns === undefined ? {} : { turn: () => host.deviceTurns!.cpuTurn() }),
    });
    let outputs: SstHandle[];
    try {
      for (const entry of frozen.memtable.entries()) {
        const wait = writer.add(entry);
        if (wait !== undefined) await wait; // the memtable is frozen: safe to resume
      }
      outputs = await writer.finish();
    } catch (error) {
      writer.abandon();
      throw error;
    }
    assert(outputs.length <= 1, () => `an L0 flush wrote ${outputs.length} SSTs although its size bound held the whole memtable`);
    return outputs[0];
  }
}

