/**
 * Issue 16: mixed work under SIGKILL with tiny SSTs (fixtures/mixed-writer.ts): pipelined appends
 * on two streams, trims, reconfigures, deletes and creations again, with L0s and output SSTs of
 * 4 KiB so that flushes, compactions and GC run constantly. Most rounds end in a SIGKILL at a
 * seeded moment (some while the log opens); every fourth ends with the child closing the log by
 * itself (an open-append-close cycle). A read-only follower in this process follows "keep" across
 * every crash. After each round the parent reopens the root and checks every stream:
 *   - it holds whole appends of the incarnations the round's events allow, in the order sent,
 *     each acknowledged one at its acknowledged position (unless a trim issued covers it);
 *   - records from earlier rounds are unchanged; a deleted stream's records never come back;
 * and at the end: the follower saw exactly "keep" as stored, and the log still flushes and
 * compacts without resetting (no wedge from leftover SSTs).
 *
 * Replay: MIXED_CRASH_SEED=<seed> [MIXED_CRASH_ROUNDS=<n>] bash scripts/run-tests.sh tests/chaos/mixed-crash.test.ts
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { runMixedCrash } from "./mixed-crash.js";

const SEED = Number(process.env.MIXED_CRASH_SEED ?? 16_016);
const ROUNDS = Number(process.env.MIXED_CRASH_ROUNDS ?? 10);

it(`keeps every acked append of mixed work (trims, deletes, recreations) across ${ROUNDS} SIGKILLs and closes with 4 KiB SSTs (seed ${SEED})`, { timeout: 240_000 }, async () => {
  const result = await runMixedCrash({ seed: SEED, rounds: ROUNDS });
  console.log(`mixed crash test: seed ${SEED}, ${ROUNDS} rounds, ${JSON.stringify(result.stats)}`);
  assert.deepEqual(result.problems, [], `seed ${SEED} (replay: MIXED_CRASH_SEED=${SEED}):\n${result.problems.join("\n")}`);
  assert.ok(result.stats.ackedAppends! > 100, `too little was acknowledged: ${JSON.stringify(result.stats)}`);
  assert.ok(result.stats.l0Flushes! > 0 && result.stats.compactions! > 0 && result.stats.objectsDeleted! > 0, `flushes, compactions and GC did not all run: ${JSON.stringify(result.stats)}`);
  assert.ok(result.stats.deletes! > 0 && result.stats.trims! > 0, `no delete or trim was acknowledged: ${JSON.stringify(result.stats)}`);
});
