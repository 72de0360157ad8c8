/**
 * The compactor: runs the plans of compaction-policy.ts in the background, one at a time.
 *
 * A compaction reads its input SSTs (newest first) through the read path, keeps only the newest
 * version of each key, turns expired and filtered versions into tombstones (or drops them when
 * the output is bottom-most, where no older version can hide below), writes output SSTs of at
 * most `maxSstBytes`, and commits a manifest that swaps the inputs for the new run. The inputs
 * are then handed to the garbage collector, which deletes them once no scan uses them.
 */
import { InternalError } from "../errors.js";
import { BackgroundTask, CpuSlicer } from "./background-task.js";
import type { Engine } from "./engine.js";
import type { Manifest, SortedRun, SstHandle } from "./manifest-format.js";
import { dropIfDead } from "./memtable-flusher.js";
import { putNewSst } from "./sst-ids.js";
import { sstKey } from "./paths.js";
import { failpoint } from "../util/failpoints.js";
import { newestVersions, concatSources, type EntrySource } from "./read-path.js";
import { pickCompaction, type CompactionPlan } from "./compaction-policy.js";
import { MAX_BUILDER_CAPACITY_BYTES, SstBuilder, SstSizeBound } from "./sst-format.js";
import type { Entry } from "./entry.js";
import type { WriterEpoch } from "./writer-epoch.js";

/** Smallest output buffer a compaction allocates (a small input still gets room for its index). */
const MIN_OUTPUT_CAPACITY_BYTES = 64 * 1024;

export class Compactor {
  readonly #task = new BackgroundTask(() => this.#run());

  constructor(private readonly engine: Engine) {}

  kick(): void {
    this.#task.kick();
  }

  idle(): Promise<void> {
    return this.#task.idle();
  }

  async #run(): Promise<void> {
    for (;;) {
      const epoch = this.engine.epoch;
      if (epoch === undefined || epoch.stopped || this.engine.options.readOnly || this.engine.closing) return;
      const plan = pickCompaction(epoch.manifest.manifest, this.engine.options.l0CompactionTrigger, this.engine.deadBytes);
      if (plan === undefined) return;
      try {
        await this.#compact(epoch, plan);
      } catch (error) {
        this.engine.reportFailure(epoch, error);
        return;
      }
    }
  }

  async #compact(epoch: WriterEpoch, plan: CompactionPlan): Promise<void> {
    const inputs = planInputs(epoch.manifest.manifest, plan);
    const sources: EntrySource[] = inputs.map((ssts) => concatSources([() => this.engine.version.sstEntries(ssts)]));
    const inputBytes = inputs.flat().reduce((sum, handle) => sum + handle.info.sizeBytes, 0);
    const outputs = await this.#writeOutputs(epoch, sources, plan.bottomMost, inputBytes);
    if (epoch.stopped || this.engine.closing) return this.#abandon(outputs);
    const inputIds = new Set(inputs.flat().map((handle) => handle.id));
    await this.engine.updateManifest(epoch, (m) => applyPlan(m, plan, inputIds, outputs));
    if (epoch.stopped) return;
    const recorder = this.engine.recorder;
    recorder.compactions++;
    if (plan.kind === "runs" && plan.bottomMost && epoch.manifest.manifest.runs.length <= 1) {
      this.engine.clearDeadBytes(); // every run was merged bottom-most: what was dead is gone
    }
    recorder.compactionBytesRead += inputBytes;
    recorder.compactionBytesWritten += outputs.reduce((sum, handle) => sum + handle.info.sizeBytes, 0);
    this.engine.refreshVersion(epoch);
    this.engine.gc.markDereferenced([...inputIds]);
    this.engine.gc.kick();
  }

  /**
   * Merges the sources into output SSTs. Each output is built in one buffer sized before its
   * first entry (`#outputCapacity`) and is finished before an entry would outgrow it, so that it
   * is PUT without a copy: a compaction holds at most one output of maxSstBytes (plus a single
   * entry larger than that, which gets an SST of its own).
   */
  async #writeOutputs(epoch: WriterEpoch, sources: EntrySource[], bottomMost: boolean, inputBytes: number): Promise<SstHandle[]> {
    const outputs: SstHandle[] = [];
    const nowMs = this.engine.clock.nowMs();
    let writtenBytes = 0;
    let builder: SstBuilder | undefined;
    const slicer = new CpuSlicer(() => this.engine.clock.elapsedMs());
    for await (const newest of newestVersions(sources, { reverse: false, snapshotSeq: Number.MAX_SAFE_INTEGER })) {
      if (epoch.stopped || this.engine.closing) return outputs;
      const due = slicer.due();
      if (due !== undefined) await due;
      failpoint("compactor.merge");
      const entry = dropIfDead(newest, nowMs, this.engine.options);
      if (entry === undefined || (entry.value === null && bottomMost)) continue;
      if (builder !== undefined && builder.sizeBoundWith(entry) > builder.capacityBytes) {
        const output = await this.#putOutput(epoch, builder);
        builder = undefined;
        outputs.push(output);
        writtenBytes += output.info.sizeBytes;
      }
      builder ??= new SstBuilder({ blockBytes: this.engine.options.sstBlockBytes, capacityBytes: this.#outputCapacity(inputBytes - writtenBytes, entry) });
      builder.add(entry);
    }
    if (builder !== undefined && !epoch.stopped && !this.engine.closing) outputs.push(await this.#putOutput(epoch, builder));
    return outputs;
  }

  /**
   * Deletes the outputs of a compaction given up before its manifest change was attempted: no
   * manifest can refer to them. A failed delete leaves an orphan for the next epoch's garbage
   * collector (sst-ids.ts), never a hole.
   */
  async #abandon(outputs: SstHandle[]): Promise<void> {
    for (const output of outputs) {
      try {
        await this.engine.store.delete(sstKey(output.id));
        this.engine.recorder.objectsDeleted++;
      } catch {
        return;
      }
    }
  }

  /**
   * The buffer of the next output: maxSstBytes, or less when the input left (its bytes minus
   * the outputs written so far, plus an eighth for prefix compression lost where inputs
   * interleave) is smaller; at least what `first` alone needs. Too small an estimate costs an
   * extra, smaller SST, never a copy.
   */
  #outputCapacity(inputBytesLeft: number, first: Entry): number {
    const { maxSstBytes, sstBlockBytes } = this.engine.options;
    const left = Math.max(0, inputBytesLeft);
    const estimate = Math.min(maxSstBytes, left + Math.ceil(left / 8) + MIN_OUTPUT_CAPACITY_BYTES);
    const alone = new SstSizeBound();
    alone.add(first);
    return Math.min(Math.max(estimate, alone.bytes(sstBlockBytes)), MAX_BUILDER_CAPACITY_BYTES);
  }

  async #putOutput(epoch: WriterEpoch, builder: SstBuilder): Promise<SstHandle> {
    const built = builder.finish();
    return putNewSst(this.engine.store, epoch, built.bytes, built.info);
  }
}

/** The inputs of a plan, newest first; each element is one source (an L0, or a run's SSTs in key order). */
function planInputs(manifest: Manifest, plan: CompactionPlan): SstHandle[][] {
  if (plan.kind === "l0") return plan.l0.map((handle) => [handle]);
  return plan.runIds.map((id) => {
    const run = manifest.runs.find((r) => r.id === id);
    if (run === undefined) throw new InternalError(`compaction input run ${id} is not in the manifest`);
    return run.ssts;
  });
}

/** The manifest after a compaction: inputs removed, the new run placed where the inputs were. */
function applyPlan(m: Manifest, plan: CompactionPlan, inputIds: Set<number>, outputs: SstHandle[]): Manifest {
  const newRun: SortedRun | undefined = outputs.length === 0 ? undefined : { id: m.nextRunId, ssts: outputs };
  const next: Manifest = { ...m, nextRunId: newRun === undefined ? m.nextRunId : m.nextRunId + 1 };
  if (plan.kind === "l0") {
    const l0 = m.l0.filter((handle) => !inputIds.has(handle.id));
    if (l0.length !== m.l0.length - plan.l0.length) throw new InternalError("compaction inputs left the L0 list meanwhile");
    return { ...next, l0, runs: newRun === undefined ? m.runs : [newRun, ...m.runs] };
  }
  const first = m.runs.findIndex((run) => run.id === plan.runIds[0]);
  const kept = m.runs.filter((run) => !plan.runIds.includes(run.id));
  if (first < 0 || kept.length !== m.runs.length - plan.runIds.length) throw new InternalError("compaction input runs changed meanwhile");
  const runs = [...kept.slice(0, first), ...(newRun === undefined ? [] : [newRun]), ...kept.slice(first)];
  return { ...next, runs };
}
