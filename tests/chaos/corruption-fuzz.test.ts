/**
 * Issue 16: the corruption fuzzer (corruption-fuzz.ts) over WAL objects, fences, SSTs and
 * manifests: after any single damage, opening (writable and read-only) and reading every stream
 * either returns exactly the right content or fails with "corruption"; never wrong data, never
 * another error, never a hang, never an unhandled rejection.
 *
 * Replay: CORRUPTION_FUZZ_SEED=<seed> [CORRUPTION_FUZZ_CASES=<n>] bash scripts/run-tests.sh tests/chaos/corruption-fuzz.test.ts
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { runCorruptionFuzz } from "./corruption-fuzz.js";

const SEED = Number(process.env.CORRUPTION_FUZZ_SEED ?? 1616);
const CASES = Number(process.env.CORRUPTION_FUZZ_CASES ?? 160);

it(`${CASES} seeded damages to WAL, SST and manifest objects end in the right data or "corruption" (seed ${SEED})`, { timeout: 180_000 }, async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    const { problems, stats } = await runCorruptionFuzz(SEED, CASES);
    console.log(`corruption fuzzer: seed ${SEED}, ${JSON.stringify(stats)}`);
    assert.deepEqual(problems, [], `seed ${SEED} (replay: CORRUPTION_FUZZ_SEED=${SEED}):\n${problems.join("\n")}`);
    assert.ok(stats.corruption! > CASES / 4 && stats.intact! > 0, `the damages should both hit and miss needed objects: ${JSON.stringify(stats)}`);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  assert.deepEqual(unhandled.map(String), [], "unhandled rejections");
});
