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
import { assert, CorruptionError, NotFoundError } from "../errors.js";
import type { Clock } from "../util/clock.js";
import { EpochTask, type EpochTaskHost } from "./background-task.js";
import type { ResolvedEngineOptions } from "./engine-options.js";
import type { EngineMetricsRecorder } from "./engine-metrics.js";
import type { Manifest, SortedRun, SstHandle } from "./manifest-format.js";
import { abandonOutputs, publishOutputs, type SstPublishHost } from "./compaction-output.js";
import type { SstBufferPool } from "./sst-buffer-pool.js";
import { mergeInputs, type MergeSettings } from "./compaction-merge.js";
import { CompactionWorker, CompactionWorkerError } from "./compaction-offload.js";
import type { WorkerJob } from "./compaction-worker.js";
import { concatSources, type EntrySource } from "./read-path.js";
import { pickCompaction, runBytes, type CompactionPlan } from "./compaction-policy.js";
import { putNewSst } from "./sst-ids.js";
import { getInto, type ByteRange, type ObjectStore } from "../store/object-store.js";
import { COMPACTION_BUSY_SHARE, COMPACTION_LOCAL_READ_BYTES, COMPACTION_WORKER_WAIT_MIN_BYTES, DEFAULT_SST_READAHEAD_BYTES, MAX_SST_BUILDER_CAPACITY_BYTES, MIN_SST_BUILDER_CAPACITY_BYTES } from "../limits.js";
import type { Version } from "./version.js";
import type { WriterEpoch } from "./writer-epoch.js";


/** What the compactor uses of the engine. */
export interface CompactorHost extends EpochTaskHost, SstPublishHost {
  readonly options: Pick<
    ResolvedEngineOptions,
    "readOnly" | "l0CompactionTrigger" | "l0MaxSsts" | "sstBlockBytes" | "maxSstBytes" | "compactionFilter" | "isWriteOnceKey" | "compactionThread" | "workerFilter"
  >;
  readonly clock: Clock;
  /** Reads the input SSTs. */
  readonly version: Pick<Version, "sstEntries">;
  readonly recorder: Pick<EngineMetricsRecorder, "compactions" | "compactionBytesRead" | "compactionBytesWritten" | "objectsDeleted">;
  /**
   * The user's store is a LocalStore: its gets return buffers of their own, and it is done with a
   * put's body once the put resolved (compaction-offload.ts `privateBuffers`).
   */
  readonly localStore: boolean;
  /** Output buffers of in-thread compactions, kept between outputs and compactions on a LocalStore (sst-buffer-pool.ts). */
  readonly compactionBuffers?: SstBufferPool | undefined;
  /**
   * On a LocalStore: a buffer for a worker's first output that the store writes around the page
   * cache, and the mark it needs when such a buffer comes back from the worker (LocalStore
   * allocatePutBuffer, adoptPutBuffer).
   */
  readonly sstPutBuffers?: { allocate(sizeBytes: number): Uint8Array; adopt(bytes: Uint8Array): void } | undefined;
  /** Dead bytes reported since the last bottom-most merge of every run (the policy's input). */
  readonly deadBytes: number;
  clearDeadBytes(): void;
  /** Where a failed worker is reported (the compaction is retried on this thread). */
  reportBackgroundError(task: string, error: unknown): void;
}

/** Where the inputs of a committed compaction go: the garbage collector. */
export interface CompactionInputSink {
  markDereferenced(sstIds: number[]): void;
  kick(): void;
}

export class Compactor {
  readonly #task: EpochTask;
  /** The worker the merges run in (compactionThread "worker"), else undefined: they run on this thread. */
  readonly #worker: CompactionWorker | undefined;
  /** The last worker job failed: the next merge runs on this thread. */
  #skipWorkerOnce = false;
  /** The worker could not start, and that was reported (it is reported once; merges run here since). */
  #reportedUnavailable = false;

  constructor(
    private readonly host: CompactorHost,
    private readonly gc: CompactionInputSink,
  ) {
    this.#task = new EpochTask(host, (epoch) => this.#nextJob(epoch));
    const { options } = host;
    const filterCrosses = options.compactionFilter === undefined || options.workerFilter !== undefined;
    this.#worker = options.compactionThread === "worker" && !options.readOnly && filterCrosses ? new CompactionWorker(host.clock) : undefined;
  }

  /** Whether merges run in a worker thread. */
  get inWorker(): boolean {
    return this.#worker !== undefined;
  }

  /** Ends the worker, if any (call once the task is idle): no thread or handle stays open. */
  async close(): Promise<void> {
    await this.#worker?.close();
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
    const inputBytes = runBytes(inputs.flat());
    const settings: MergeSettings = { blockBytes: host.options.sstBlockBytes, maxSstBytes: host.options.maxSstBytes, inputBytes, nowMs: host.clock.nowMs(), bottomMost: plan.bottomMost };
    const outputs = await this.#writeOutputs(epoch, inputs, settings);
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
   * Merges the inputs into output SSTs (compaction-merge.ts), in the worker when there is one
   * (0009; while it starts, only a compaction of COMPACTION_WORKER_WAIT_MIN_BYTES or more waits
   * for it), else on this thread, paced (0008). Undefined when the epoch stopped, the engine is
   * closing or the worker failed: the outputs uploaded so far are deleted again, so a clean close
   * leaves no orphans. A failed worker is reported as a background error, and the next
   * compaction runs on this thread (then the worker again): the compaction is retried, nothing
   * else changed. Any other failure (the store's, a bug, damage) is thrown as on this thread.
   */
  async #writeOutputs(epoch: WriterEpoch, inputs: SstHandle[][], settings: MergeSettings): Promise<SstHandle[] | undefined> {
    const { host } = this;
    const stopped = () => epoch.stopped || host.closing;
    // While the worker starts (with the first compaction), small compactions run here and big ones wait for it.
    const available = this.#worker?.available === true;
    if (!available && !stopped()) this.#reportUnavailableOnce();
    const ready = this.#skipWorkerOnce || !available ? false : this.#worker?.warm() === true || settings.inputBytes >= COMPACTION_WORKER_WAIT_MIN_BYTES;
    const worker = ready ? this.#worker : undefined;
    this.#skipWorkerOnce = false;
    if (worker === undefined) {
      const readBytes = this.#inputReadBytes();
      const sources: EntrySource[] = inputs.map((ssts) => concatSources([() => host.version.sstEntries(ssts, readBytes)]));
      const busyShare = () => (epoch.manifest.manifest.l0.length >= host.options.l0MaxSsts ? 1 : COMPACTION_BUSY_SHARE);
      const env = { filter: host.options, store: host.store, ids: epoch, stopped, elapsedMs: () => host.clock.elapsedMs(), busyShare };
      const buffers = host.compactionBuffers;
      const { outputs, complete } = await mergeInputs(sources, settings, buffers === undefined ? env : { ...env, buffers });
      return complete ? outputs : this.#abandon(outputs);
    }
    const outputs: SstHandle[] = [];
    const job = this.#workerJob(inputs, settings);
    // Where the buffer sent with the job sits in its ArrayBuffer (read now: the transfer detaches it).
    const sent = job.outputBuffer === undefined ? undefined : { byteOffset: job.outputBuffer.byteOffset, bufferBytes: job.outputBuffer.buffer.byteLength };
    const isSent = (bytes: Uint8Array) => sent !== undefined && bytes.byteOffset === sent.byteOffset && bytes.buffer.byteLength === sent.bufferBytes;
    let kept: Uint8Array | undefined;
    try {
      const complete = await worker.run(job, {
        read: (key, range, into) => readInput(host.store, key, range, into).catch((error: unknown) => Promise.reject(missingIsDamage(key, error))),
        store: async (bytes, info) => {
          // Built in the buffer sent with the job (it keeps its place in its ArrayBuffer): the store may write it direct.
          if (isSent(bytes)) host.sstPutBuffers?.adopt(bytes);
          const handle = await putNewSst(host.store, epoch, bytes, info);
          outputs.push(handle);
          return handle;
        },
        stopped,
        privateBuffers: host.localStore,
        // The job's buffer came back once its last PUT resolved (or unused): kept for the next job.
        keep: (spare) => {
          if (isSent(spare)) kept = spare;
        },
      });
      this.#keepJobBuffer(kept);
      return complete && !stopped() ? outputs : this.#abandon(outputs);
    } catch (error) {
      this.#keepJobBuffer(undefined);
      if (!(error instanceof CompactionWorkerError) && !stopped()) throw error;
      await this.#abandon(outputs);
      if (!stopped()) {
        this.#skipWorkerOnce = true;
        if (error === this.#worker?.unavailableError) this.#reportUnavailableOnce();
        else host.reportBackgroundError("compaction", error);
      }
      return undefined;
    }
  }

  /** A worker that could not start is reported once (merges run on this thread from then on). */
  #reportUnavailableOnce(): void {
    const error = this.#worker?.unavailableError;
    if (error === undefined || this.#reportedUnavailable) return;
    this.#reportedUnavailable = true;
    this.host.reportBackgroundError("compaction", error);
  }

  /** The most one input read asks for: on a disk a small read costs little, and smaller reads hold less of the inputs at once (COMPACTION_LOCAL_READ_BYTES). */
  #inputReadBytes(): number {
    return this.host.localStore ? COMPACTION_LOCAL_READ_BYTES : DEFAULT_SST_READAHEAD_BYTES;
  }

  /**
   * A worker job: its inputs, settings and filter, and on a LocalStore the buffer of its first
   * output, taken from the compaction buffer pool (the one an earlier job handed back, or a fresh
   * one that the store writes around the page cache). It goes back to the pool when the worker
   * hands it back with "done" (#keepJobBuffer): a fresh 16 MiB buffer per job, found aligned by
   * a probe and then garbage in the worker, kept the worker's heap of dead buffers high.
   */
  #workerJob(inputs: SstHandle[][], settings: MergeSettings): WorkerJob {
    const { host } = this;
    const spec = host.options.workerFilter;
    const readBytes = this.#inputReadBytes();
    const job: WorkerJob = spec === undefined ? { settings, inputs, readBytes } : { settings, inputs, readBytes, filter: { moduleUrl: spec.moduleUrl, data: spec.snapshot() } };
    // The pool exists wherever sstPutBuffers does (a writer on a LocalStore), and allocates through it.
    if (host.compactionBuffers !== undefined) job.outputBuffer = host.compactionBuffers.take(firstOutputBytes(settings));
    return job;
  }

  /**
   * Ends a worker job's hold on the compaction buffer pool: `buffer` (the job's own, handed back
   * by the worker after its last PUT resolved) is kept, marked again for direct writes (a transfer
   * makes a new ArrayBuffer object); without it (the job failed, or the worker kept none) the
   * pool forgets the one it lent.
   */
  #keepJobBuffer(buffer: Uint8Array | undefined): void {
    const pool = this.host.compactionBuffers;
    if (pool === undefined) return;
    if (buffer === undefined) return pool.forget();
    this.host.sstPutBuffers?.adopt(buffer);
    pool.give(buffer);
  }

  async #abandon(outputs: SstHandle[]): Promise<undefined> {
    this.host.recorder.objectsDeleted += await abandonOutputs(this.host.store, outputs);
    return undefined;
  }
}

/** A worker's input read: into the worker's buffer `into` where the store reads into buffers (getInto), else as a plain GET. */
function readInput(store: ObjectStore, key: string, range: ByteRange | undefined, into: Uint8Array | undefined): Promise<Uint8Array> {
  if (into === undefined || range?.length === undefined) return store.get(key, range);
  return getInto(store, key, { offset: range.offset, length: range.length }, into);
}

/** An input SST the manifest lists cannot be missing: that is damage (as Version's sstEntries says for the writer). */
function missingIsDamage(key: string, error: unknown): unknown {
  return error instanceof NotFoundError ? new CorruptionError(key, "referenced by the manifest but missing", { cause: error }) : error;
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

/** The size of a merge's first output buffer: compaction-merge.ts outputCapacity before it knows the first entry. */
function firstOutputBytes(settings: MergeSettings): number {
  const estimate = settings.inputBytes + Math.ceil(settings.inputBytes / 8) + MIN_SST_BUILDER_CAPACITY_BYTES;
  return Math.min(settings.maxSstBytes, estimate, MAX_SST_BUILDER_CAPACITY_BYTES);
}
