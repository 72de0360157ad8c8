/**
 * compaction-policy.ts on its own: which plan each manifest shape gets. The policy is pure, so
 * each case is a hand-built manifest and the plan it must produce.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pickCompaction } from "../../src/engine/compaction-policy.js";
import { COMPACTION_SIZE_RATIO as SIZE_RATIO, DEAD_BYTES_RATIO, MAX_COMPACTION_SOURCES, MAX_SORTED_RUNS, MIN_RUNS_TO_MERGE } from "../../src/limits.js";
import { emptyManifest, type Manifest, type SortedRun, type SstHandle } from "../../src/engine/manifest-format.js";

let nextId = 1;
function sst(sizeBytes: number): SstHandle {
  const id = nextId++;
  return {
    id,
    info: { formatVersion: 1, sizeBytes, entryCount: 1, firstKey: "YQ==", lastKey: "eg==", minSeq: id, maxSeq: id, indexOffset: 0, indexLength: 0 },
  };
}

/** A manifest with `l0Count` L0 SSTs and one run per size in `runSizes` (newest run first). */
function manifest(l0Count: number, runSizes: number[]): Manifest {
  const runs: SortedRun[] = runSizes.map((size, i) => ({ id: 100 + i, ssts: [sst(size)] }));
  return { ...emptyManifest(), l0: Array.from({ length: l0Count }, () => sst(1000)), runs };
}

const TRIGGER = 4;

describe("compaction policy", () => {
  it("plans nothing for an empty manifest, or below every trigger", () => {
    assert.equal(pickCompaction(emptyManifest(), TRIGGER), undefined);
    assert.equal(pickCompaction(manifest(TRIGGER - 1, [1000]), TRIGGER), undefined);
    assert.equal(pickCompaction(manifest(0, [1000]), TRIGGER), undefined, "one run alone is already compact");
  });

  it("merges the L0s into a run once there are l0CompactionTrigger of them, bottom-most when no run exists", () => {
    const m = manifest(TRIGGER, []);
    const plan = pickCompaction(m, TRIGGER);
    assert.deepEqual(plan, { kind: "l0", l0: m.l0, bottomMost: true });
    const withRun = manifest(TRIGGER, [1000]);
    assert.deepEqual(pickCompaction(withRun, TRIGGER), { kind: "l0", l0: withRun.l0, bottomMost: false });
  });

  it("takes only the oldest MAX_COMPACTION_SOURCES L0s, and then is not bottom-most", () => {
    const m = manifest(MAX_COMPACTION_SOURCES + 3, []);
    const plan = pickCompaction(m, TRIGGER);
    assert.ok(plan?.kind === "l0");
    assert.deepEqual(plan.l0, m.l0.slice(-MAX_COMPACTION_SOURCES), "the oldest are at the end of the L0 list");
    assert.equal(plan.bottomMost, false, "newer L0s stay above the output");
  });

  it("merges MIN_RUNS_TO_MERGE adjacent runs of similar size, at their place, not bottom-most above an older run", () => {
    const sizes = [...Array.from({ length: MIN_RUNS_TO_MERGE }, () => 10), 10 * SIZE_RATIO * 10];
    const m = manifest(0, sizes);
    const plan = pickCompaction(m, TRIGGER);
    assert.deepEqual(plan, { kind: "runs", runIds: m.runs.slice(0, MIN_RUNS_TO_MERGE).map((r) => r.id), bottomMost: false });
  });

  it("does not window runs whose sizes differ by more than SIZE_RATIO", () => {
    // Each run is more than SIZE_RATIO times the next newer one, and together the newer runs hold
    // less than the oldest: neither size-tiering nor space amplification applies.
    const sizes = Array.from({ length: MIN_RUNS_TO_MERGE + 1 }, (_, i) => (SIZE_RATIO + 1) ** i);
    assert.equal(pickCompaction(manifest(0, sizes), TRIGGER), undefined);
  });

  it("merges every run bottom-most once the newer runs hold as many bytes as the oldest (space amplification)", () => {
    assert.equal(pickCompaction(manifest(0, [99, 100]), TRIGGER), undefined, "just below the ratio");
    const m = manifest(0, [100, 100]);
    assert.deepEqual(pickCompaction(m, TRIGGER), { kind: "runs", runIds: m.runs.map((r) => r.id), bottomMost: true });
  });

  it("merges every run bottom-most once the reported dead bytes reach DEAD_BYTES_RATIO of the runs", () => {
    const m = manifest(0, [10, 100]);
    const total = 110;
    assert.equal(pickCompaction(m, TRIGGER, Math.floor(DEAD_BYTES_RATIO * total)), undefined, "one byte short");
    assert.deepEqual(pickCompaction(m, TRIGGER, Math.ceil(DEAD_BYTES_RATIO * total)), { kind: "runs", runIds: m.runs.map((r) => r.id), bottomMost: true });
  });

  it("merges the oldest MIN_RUNS_TO_MERGE runs bottom-most once there are more than MAX_SORTED_RUNS", () => {
    const sizes = Array.from({ length: MAX_SORTED_RUNS + 1 }, (_, i) => (SIZE_RATIO + 1) ** i);
    const m = manifest(0, sizes);
    const plan = pickCompaction(m, TRIGGER);
    assert.deepEqual(plan, { kind: "runs", runIds: m.runs.slice(-MIN_RUNS_TO_MERGE).map((r) => r.id), bottomMost: true });
    assert.equal(pickCompaction(manifest(0, sizes.slice(1)), TRIGGER), undefined, "at MAX_SORTED_RUNS nothing is forced");
  });

  it("prefers the L0 merge to any run merge", () => {
    const m = manifest(TRIGGER, [100, 100]);
    assert.equal(pickCompaction(m, TRIGGER)?.kind, "l0");
  });
});
