/**
 * Size-tiered compaction policy: which SSTs to merge next. Pure: it reads a manifest and
 * returns a plan, or undefined when there is nothing worth doing.
 *
 *   - L0 -> run: when there are at least `l0CompactionTrigger` L0 SSTs, the oldest of them (at
 *     most MAX_COMPACTION_SOURCES) merge into a new sorted run, newer than every existing run.
 *   - run + run: a window of at least MIN_RUNS_TO_MERGE adjacent runs whose sizes are within
 *     COMPACTION_SIZE_RATIO of each other merge into one run at the window's place. Merging only
 *     neighbours keeps "newer runs come first" true.
 *   - Space amplification: when the runs above the oldest hold as many bytes as the oldest run,
 *     all runs merge into one bottom-most run. Size-tiering alone would leave the oldest run
 *     alone until 4x more data piled up, and with it every record a trim or a stream deletion
 *     made dead (only a bottom-most compaction drops them for good).
 *   - Dead data: when the caller reported (Engine.noteDeadBytes) that trims or deletions made at
 *     least DEAD_BYTES_RATIO of the runs' bytes dead, every run merges bottom-most, which is the
 *     only compaction that can drop them from the oldest run.
 *   - When the runs exceed MAX_SORTED_RUNS anyway, the oldest ones merge regardless of size.
 * A plan that includes the oldest run is bottom-most: its output may drop tombstones. The
 * numbers are named in limits.ts.
 */
import {
  COMPACTION_SIZE_RATIO,
  DEAD_BYTES_RATIO,
  MAX_COMPACTION_SOURCES,
  MAX_SORTED_RUNS,
  MIN_RUNS_TO_MERGE,
  SPACE_AMPLIFICATION_RATIO,
} from "../limits.js";
import type { Manifest, SstHandle } from "./manifest-format.js";

export type CompactionPlan =
  | { kind: "l0"; l0: SstHandle[]; bottomMost: boolean }
  | { kind: "runs"; runIds: number[]; bottomMost: boolean };

export function runBytes(ssts: SstHandle[]): number {
  return ssts.reduce((sum, handle) => sum + handle.info.sizeBytes, 0);
}

export function pickCompaction(manifest: Manifest, l0CompactionTrigger: number, deadBytes = 0): CompactionPlan | undefined {
  if (manifest.l0.length >= l0CompactionTrigger) {
    const l0 = manifest.l0.slice(-MAX_COMPACTION_SOURCES);
    return { kind: "l0", l0, bottomMost: manifest.runs.length === 0 && l0.length === manifest.l0.length };
  }
  const sizes = manifest.runs.map((run) => runBytes(run.ssts));
  for (let start = 0; start < sizes.length; start++) {
    let min = sizes[start]!;
    let max = min;
    let end = start + 1;
    while (end < sizes.length && end - start < MAX_COMPACTION_SOURCES) {
      const nextMin = Math.min(min, sizes[end]!);
      const nextMax = Math.max(max, sizes[end]!);
      if (nextMax > COMPACTION_SIZE_RATIO * Math.max(nextMin, 1)) break;
      min = nextMin;
      max = nextMax;
      end++;
    }
    if (end - start >= MIN_RUNS_TO_MERGE) return runsPlan(manifest, start, end);
  }
  const totalBytes = sizes.reduce((sum, size) => sum + size, 0);
  if (sizes.length >= 1 && sizes.length <= MAX_COMPACTION_SOURCES && totalBytes > 0 && deadBytes >= DEAD_BYTES_RATIO * totalBytes) {
    return runsPlan(manifest, 0, sizes.length);
  }
  if (sizes.length >= 2) {
    const oldest = sizes[sizes.length - 1]!;
    const newer = sizes.slice(0, -1).reduce((sum, size) => sum + size, 0);
    if (newer >= SPACE_AMPLIFICATION_RATIO * oldest) {
      return runsPlan(manifest, Math.max(0, sizes.length - MAX_COMPACTION_SOURCES), sizes.length);
    }
  }
  if (manifest.runs.length > MAX_SORTED_RUNS) {
    return runsPlan(manifest, Math.max(0, manifest.runs.length - MIN_RUNS_TO_MERGE), manifest.runs.length);
  }
  return undefined;
}

function runsPlan(manifest: Manifest, start: number, end: number): CompactionPlan {
  return {
    kind: "runs",
    runIds: manifest.runs.slice(start, end).map((run) => run.id),
    bottomMost: end === manifest.runs.length, // the oldest run is an input: nothing older lies below (L0s are newer)
  };
}
