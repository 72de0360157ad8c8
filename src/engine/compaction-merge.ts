/**
 * The CPU-heavy part of a compaction, shared by the two places it runs (0009): on the engine's
 * thread (compactor.ts, paced by a CpuSlicer) and in a worker thread (compaction-worker.ts).
 *
 *   input sources (newest first) ──> newestVersions ──> SstOutputWriter ──> put(bytes, info)
 *
 * It decides nothing about the manifest: it turns input entries into output SSTs and hands each
 * to `put`, which names and stores it (putNewSst under the epoch's ids, on the main thread).
 */
import { newestVersions, type EntrySource } from "./read-path.js";
import { SstOutputWriter, type EntryFilterOptions, type SstOutputBuffers, type SstPut } from "./compaction-output.js";
import type { SstHandle } from "./manifest-format.js";
import type { ObjectStore } from "../store/object-store.js";
import type { SstIdSource } from "./sst-ids.js";
import type { Entry } from "./entry.js";
import { SstSizeBound } from "./sst-format.js";
import { MAX_SST_BUILDER_CAPACITY_BYTES, MIN_SST_BUILDER_CAPACITY_BYTES } from "../limits.js";

/** What a merge needs to know besides its inputs: plain data, so that it crosses to a worker. */
export interface MergeSettings {
  blockBytes: number;
  maxSstBytes: number;
  /** The inputs' total size, which sizes the output buffers. */
  inputBytes: number;
  /** Wall-clock time that decides expiry, read once per compaction. */
  nowMs: number;
  /** Bottom-most output: tombstones are dropped. */
  bottomMost: boolean;
}

export interface MergeEnvironment {
  filter: EntryFilterOptions;
  /** Where the default put would write (the in-thread path); with `put` given, unused. */
  store: ObjectStore;
  ids: SstIdSource;
  put?: SstPut;
  /** Where output buffers come from (default: a fresh one per output). */
  buffers?: SstOutputBuffers;
  /**
   * Called once the writer took `entry` (its bytes are in the output, or it was dropped): entries
   * come in key order, so the buffers that hold only keys below it are no longer read
   * (compaction-worker.ts InputReadBuffers).
   */
  taken?: (entry: Entry) => void;
  /** Checked before every entry and after the last output: true abandons the merge. */
  stopped: () => boolean;
  elapsedMs: () => number;
  busyShare?: () => number;
}

/**
 * Merges `sources` (newest first) into output SSTs of at most `maxSstBytes` (one held in memory
 * at a time, plus an entry larger than that in an SST of its own). Returns the outputs stored, in
 * key order, and whether the merge completed (false: stopped; the outputs so far are the
 * caller's to delete).
 */
export async function mergeInputs(sources: EntrySource[], settings: MergeSettings, env: MergeEnvironment): Promise<{ outputs: SstHandle[]; complete: boolean }> {
  const writer = new SstOutputWriter(env.store, env.ids, {
    blockBytes: settings.blockBytes,
    filter: env.filter,
    nowMs: settings.nowMs,
    elapsedMs: env.elapsedMs,
    dropTombstones: settings.bottomMost,
    capacityFor: (first, writtenBytes) => outputCapacity(settings, settings.inputBytes - writtenBytes, first),
    failpointName: "compactor.merge",
    split: true,
    ...(env.busyShare === undefined ? {} : { busyShare: env.busyShare }),
    ...(env.put === undefined ? {} : { put: env.put }),
    ...(env.buffers === undefined ? {} : { buffers: env.buffers }),
  });
  try {
    for await (const newest of newestVersions(sources, { reverse: false, snapshotSeq: Number.MAX_SAFE_INTEGER })) {
      if (env.stopped()) return stoppedWith(writer);
      const wait = writer.add(newest);
      if (wait !== undefined) await wait;
      env.taken?.(newest);
    }
    if (env.stopped()) return stoppedWith(writer);
    const outputs = await writer.finish();
    return { outputs, complete: !env.stopped() };
  } catch (error) {
    writer.abandon(); // an output's PUT may not have returned: its buffer is not reused
    throw error;
  }
}

/** A merge stopped with an output under way: that output's buffer is given up with it. */
function stoppedWith(writer: SstOutputWriter): { outputs: SstHandle[]; complete: false } {
  writer.abandon();
  return { outputs: writer.outputs, complete: false };
}

/**
 * The buffer of the next output: maxSstBytes, or less when the input left (its bytes minus
 * the outputs written so far, plus an eighth for prefix compression lost where inputs
 * interleave) is smaller; at least what `first` alone needs. Too small an estimate costs an
 * extra, smaller SST, never a copy.
 */
function outputCapacity(settings: Pick<MergeSettings, "maxSstBytes" | "blockBytes">, inputBytesLeft: number, first: Entry): number {
  const left = Math.max(0, inputBytesLeft);
  const estimate = Math.min(settings.maxSstBytes, left + Math.ceil(left / 8) + MIN_SST_BUILDER_CAPACITY_BYTES);
  const alone = new SstSizeBound();
  alone.add(first);
  return Math.min(Math.max(estimate, alone.bytes(settings.blockBytes)), MAX_SST_BUILDER_CAPACITY_BYTES);
}
