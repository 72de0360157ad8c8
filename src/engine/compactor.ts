/**
 * The compactor: runs the plans of compaction-policy.ts in the background, one at a time.
 *
 * A compaction reads its input SSTs (newest first) through the read path, keeps only the newest
 * version of each key, turns expired and filtered versions into tombstones (or drops them when
 * the output is bottom-most, where no older version can hide below), writes output SSTs of at
 * most `maxSstBytes`, and commits a manifest that swaps the inputs for the new run. The inputs
 * are then handed to the garbage collector, which deletes them once no scan uses them.
 *
 * It takes only what it uses of the engine (CompactorHost); writing and publishing the outputs
 * is shared with the memtable flusher (compaction-output.ts).
 */
import { assert } from "../errors.js";
import type { Clock } from "../util/clock.js";
import { EpochTask, type EpochTaskHost } from "./background-task.js";
import type { ResolvedEngineOptions } from "./engine-options.js";
import type { EngineMetricsRecorder } from "./engine-metrics.js";
import type { Manifest, SortedRun, SstHandle } from "./manifest-format.js";
import { abandonOutputs, publishOutputs, SstOutputWriter, type SstPublishHost } from "./compaction-output.js";
import { newestVersions, concatSources, type EntrySource } from "./read-path.js";
import { pickCompaction, runBytes, type CompactionPlan } from "./compaction-policy.js";
import { SstSizeBound } from "./sst-format.js";
import { COMPACTION_BUSY_SHARE, MAX_SST_BUILDER_CAPACITY_BYTES, MIN_SST_BUILDER_CAPACITY_BYTES } from "../limits.js";
import type { Entry } from "./entry.js";
import type { Version } from "./version.js";
import type { WriterEpoch } from "./writer-epoch.js";


/** What the compactor uses of the engine. */
export interface CompactorHost extends EpochTaskHost, SstPublishHost {
  readonly options: Pick<
    ResolvedEngineOptions,
    "readOnly" | "l0CompactionTrigger" | "l0MaxSsts" | "sstBlockBytes" | "maxSstBytes" | "compactionFilter" | "isWriteOnceKey"
  >;
  readonly clock: Clock;
  /** Reads the input SSTs. */
  readonly version: Pick<Version, "sstEntries">;
  readonly recorder: Pick<EngineMetricsRecorder, "compactions" | "compactionBytesRead" | "compactionBytesWritten" | "objectsDeleted">;
  /** Dead bytes reported since the last bottom-most merge of every run (the policy's input). */
  readonly deadBytes: number;
  clearDeadBytes(): void;
}

/** Where the inputs of a committed compaction go: the garbage collector. */
export interface CompactionInputSink {
  markDereferenced(sstIds: number[]): void;
  kick(): void;
}

export class Compactor {
  readonly #task: EpochTask;

  constructor(
    private readonly host: CompactorHost,
    private readonly gc: CompactionInputSink,
  ) {
    this.#task = new EpochTask(host, (epoch) => this.#nextJob(epoch));
  }

  kick(): void {
    this.#task.kick();
  }

  idle(): Promise<void> {
    return this.#task.idle();
  }

  #nextJob(epoch: WriterEpoch): (() => Promise<void>) | undefined {
    const { options, deadBytes } = this.host;
    if (options.readOnly) return undefined;
    const plan = pickCompaction(epoch.manifest.manifest, options.l0CompactionTrigger, deadBytes);
    return plan === undefined ? undefined : () => this.#compact(epoch, plan);
  }

  async #compact(epoch: WriterEpoch, plan: CompactionPlan): Promise<void> {
    const { host } = this;
    const inputs = planInputs(epoch.manifest.manifest, plan);
    const sources: EntrySource[] = inputs.map((ssts) => concatSources([() => host.version.sstEntries(ssts)]));
    const inputBytes = runBytes(inputs.flat());
    const outputs = await this.#writeOutputs(epoch, sources, plan.bottomMost, inputBytes);
    if (outputs === undefined) return;
    const inputIds = new Set(inputs.flat().map((handle) => handle.id));
    const published = await publishOutputs(host, epoch, (m) => applyPlan(m, plan, inputIds, outputs), () => {
      host.recorder.compactions++;
      if (plan.kind === "runs" && plan.bottomMost && epoch.manifest.manifest.runs.length <= 1) {
        host.clearDeadBytes(); // every run was merged bottom-most: what was dead is gone
      }
      host.recorder.compactionBytesRead += inputBytes;
      host.recorder.compactionBytesWritten += runBytes(outputs);
    });
    if (!published) return;
    this.gc.markDereferenced([...inputIds]);
    this.gc.kick();
  }

  /**
   * Merges the sources into output SSTs (compaction-output.ts): a compaction holds at most one
   * output of maxSstBytes in memory (plus a single entry larger than that, which gets an SST of
   * its own). Undefined when the epoch stopped or the engine is closing: the outputs uploaded so
   * far are deleted again, so a clean close leaves no orphans.
   */
  async #writeOutputs(epoch: WriterEpoch, sources: EntrySource[], bottomMost: boolean, inputBytes: number): Promise<SstHandle[] | undefined> {
    const { host } = this;
    const writer = new SstOutputWriter(host.store, epoch, {
      blockBytes: host.options.sstBlockBytes,
      filter: host.options,
      nowMs: host.clock.nowMs(),
      elapsedMs: () => host.clock.elapsedMs(),
      dropTombstones: bottomMost,
      capacityFor: (first, writtenBytes) => outputCapacity(host.options, inputBytes - writtenBytes, first),
      failpointName: "compactor.merge",
      split: true,
      busyShare: () => (epoch.manifest.manifest.l0.length >= host.options.l0MaxSsts ? 1 : COMPACTION_BUSY_SHARE),
    });
    for await (const newest of newestVersions(sources, { reverse: false, snapshotSeq: Number.MAX_SAFE_INTEGER })) {
      if (epoch.stopped || host.closing) return this.#abandon(writer.outputs);
      const wait = writer.add(newest);
      if (wait !== undefined) await wait;
    }
    if (epoch.stopped || host.closing) return this.#abandon(writer.outputs);
    const outputs = await writer.finish();
    if (epoch.stopped || host.closing) return this.#abandon(outputs);
    return outputs;
  }

  async #abandon(outputs: SstHandle[]): Promise<undefined> {
    this.host.recorder.objectsDeleted += await abandonOutputs(this.host.store, outputs);
    return undefined;
  }
}

/**
 * The buffer of the next output: maxSstBytes, or less when the input left (its bytes minus
 * the outputs written so far, plus an eighth for prefix compression lost where inputs
 * interleave) is smaller; at least what `first` alone needs. Too small an estimate costs an
 * extra, smaller SST, never a copy.
 */
function outputCapacity(options: Pick<ResolvedEngineOptions, "maxSstBytes" | "sstBlockBytes">, inputBytesLeft: number, first: Entry): number {
  const left = Math.max(0, inputBytesLeft);
  const estimate = Math.min(options.maxSstBytes, left + Math.ceil(left / 8) + MIN_SST_BUILDER_CAPACITY_BYTES);
  const alone = new SstSizeBound();
  alone.add(first);
  return Math.min(Math.max(estimate, alone.bytes(options.sstBlockBytes)), MAX_SST_BUILDER_CAPACITY_BYTES);
}

/** The inputs of a plan, newest first; each element is one source (an L0, or a run's SSTs in key order). */
function planInputs(manifest: Manifest, plan: CompactionPlan): SstHandle[][] {
  if (plan.kind === "l0") return plan.l0.map((handle) => [handle]);
  return plan.runIds.map((id) => {
    const run = manifest.runs.find((r) => r.id === id);
    assert(run !== undefined, () => `compaction input run ${id} is not in the manifest`);
    return run.ssts;
  });
}

/** The manifest after a compaction: inputs removed, the new run placed where the inputs were. */
function applyPlan(m: Manifest, plan: CompactionPlan, inputIds: Set<number>, outputs: SstHandle[]): Manifest {
  const newRun: SortedRun | undefined = outputs.length === 0 ? undefined : { id: m.nextRunId, ssts: outputs };
  const next: Manifest = { ...m, nextRunId: newRun === undefined ? m.nextRunId : m.nextRunId + 1 };
  if (plan.kind === "l0") {
    const l0 = m.l0.filter((handle) => !inputIds.has(handle.id));
    assert(l0.length === m.l0.length - plan.l0.length, "compaction inputs left the L0 list meanwhile");
    return { ...next, l0, runs: newRun === undefined ? m.runs : [newRun, ...m.runs] };
  }
  const first = m.runs.findIndex((run) => run.id === plan.runIds[0]);
  const kept = m.runs.filter((run) => !plan.runIds.includes(run.id));
  assert(first >= 0 && kept.length === m.runs.length - plan.runIds.length, "compaction input runs changed meanwhile");
  const runs = [...kept.slice(0, first), ...(newRun === undefined ? [] : [newRun]), ...kept.slice(first)];
  return { ...next, runs };
}
