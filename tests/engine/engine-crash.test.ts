/**
 * Crash test (DESIGN 1.3, 5): a child process writes the crash workload to a LocalStore root
 * with small sizes (L0 flushes, compactions and GC run all the time) and prints an ack per batch
 * once it is durable; the parent SIGKILLs it at a seeded random moment, reopens the root and
 * checks that the store holds exactly the batches 0..P-1 for some P >= acked: every acked batch
 * with exactly its values, no batch partly visible, nothing after a lost batch, seqs without
 * gaps or duplicates, ordered scans. Twenty rounds on the same root, so each recovery starts
 * from what the previous recovery and the writer after it left. About one round in five kills
 * the child while it opens (fencing, replay), not while it writes; of the others, half count
 * the kill's delay from the open, half from the first ack (a writer that reopens behind a
 * replayed backlog of frozen memtables flushes some before it takes writes: those rounds could
 * end before any ack, and the first-ack rounds also check that none stalls).
 *
 * Replay a run: CRASH_SEED=<seed> [CRASH_ROUNDS=<n>] [CRASH_VERBOSE=1] bash scripts/run-tests.sh tests/engine/engine-crash.test.ts
 * (kill moments come from the seed; where they land in the child's work still depends on timing).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { it } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { LocalStore } from "../../src/store/local-store.js";
import { seededRandom, type Random } from "../../src/util/random.js";
import { REPO_ROOT, delay, spawnTsx, type TsxChild } from "../helpers/child-process.js";
import { assertGets, assertRangeScan, findDurablePrefix, scanModel } from "../helpers/engine-check.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { LOCAL_WAL_MODES, testWalMode, useWalMode } from "../helpers/test-stores.js";
import { CRASH_ENGINE_OPTIONS, CRASH_KEYSPACE, MAX_INFLIGHT_BATCHES, applyBatch, crashBatch, crashKey, textOf, type Model } from "./fixtures/workload.js";

const SEED = Number(process.env.CRASH_SEED ?? 20_260_601);
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20);
/** How long a round that kills after the first ack waits for it: past this the writer stalled. */
const FIRST_ACK_LIMIT_MS = 20_000;
const WRITER = path.join(REPO_ROOT, "tests/engine/fixtures/engine-writer.ts");
/**
 * The parent's reopen recovers (new epoch, fence, WAL replay) and reads, but neither flushes L0s
 * nor compacts, so that the children do all of that work (and get killed in the middle of it)
 * and the parent leaves the store as the child left it, plus its fence and manifest.
 */
const VERIFY_OPTIONS = { ...CRASH_ENGINE_OPTIONS, l0SstBytes: 256 * 1024 * 1024, l0CompactionTrigger: 64 };

interface ChildTotals {
  l0Flushes: number;
  compactions: number;
  objectsDeleted: number;
  walFlushes: number;
}

interface RoundResult {
  acked: number;
  prefix: number;
  /** The engine's last seq after the parent's reopen. */
  lastSeq: number;
  /** Sorted runs in the manifest the parent found: only a child's compaction makes them. */
  sortedRuns: number;
  metrics: ChildTotals | undefined;
}

for (const walMode of LOCAL_WAL_MODES) it(`WAL ${walMode}: keeps every acked batch, whole, across ${ROUNDS} SIGKILLs at random moments (seed ${SEED})`, { timeout: 180_000 }, async () => {
  useWalMode(walMode);
  const root = await makeTempDir("engine-crash");
  const random = seededRandom(SEED);
  let model: Model = new Map();
  let lastSeq = 0;
  const totals: ChildTotals = { l0Flushes: 0, compactions: 0, objectsDeleted: 0, walFlushes: 0 };
  let roundsWithAcks = 0;
  let sortedRunsSeen = 0;
  let ackedTotal = 0;
  let next = spawnTsx(WRITER, [root, String(SEED), "0"]);
  for (let round = 0; round < ROUNDS; round++) {
    const context = `seed ${SEED}, round ${round} (replay: CRASH_SEED=${SEED})`;
    const child = next;
    await child.waitForLine((line) => line === "loaded");
    if (round + 1 < ROUNDS) next = spawnTsx(WRITER, [root, String(SEED), String(round + 1)]);
    const startedMs = Date.now();
    const result = await crashRound({ child, root, round, random, model, lastSeq, context });
    if (process.env.CRASH_VERBOSE === "1") {
      console.log(`round ${round}: ${Date.now() - startedMs} ms, acked ${result.acked}, durable prefix ${result.prefix}, child ${JSON.stringify(result.metrics)}`);
    }
    model = result.model;
    lastSeq = result.lastSeq;
    if (result.acked > 0) roundsWithAcks++;
    sortedRunsSeen = Math.max(sortedRunsSeen, result.sortedRuns);
    ackedTotal += result.acked;
    for (const name of Object.keys(totals) as (keyof ChildTotals)[]) totals[name] += result.metrics?.[name] ?? 0;
  }
  // The test must have exercised what it claims to, or a pass means nothing.
  assert.ok(roundsWithAcks >= ROUNDS / 4, `only ${roundsWithAcks} of ${ROUNDS} rounds acked anything (seed ${SEED})`);
  // Children print metrics every 50 ms, so work finished just before a kill is not counted;
  // a sorted run in the manifest proves that a child's compaction committed.
  const compacted = totals.compactions > 0 || sortedRunsSeen > 0;
  assert.ok(totals.l0Flushes > 0 && compacted && totals.objectsDeleted > 0, `the children never flushed, compacted and collected: ${JSON.stringify(totals)}, sorted runs seen ${sortedRunsSeen}`);
  console.log(`crash test: seed ${SEED}, ${ROUNDS} rounds, ${ackedTotal} batches acked, child totals ${JSON.stringify(totals)}`);
});

it("the prefix check fails on a lost acked batch, a half-visible batch and a batch past a gap (so the test above can fail)", () => {
  const seedForCheck = 1;
  const batches = Array.from({ length: 6 }, (_, i) => crashBatch(seedForCheck, 0, i));
  const stateAfter = (indexes: number[]): Model => {
    const state: Model = new Map();
    for (const i of indexes) applyBatch(state, batches[i]!, 1 + i);
    return state;
  };
  const search = (actual: Model, acked: number) =>
    findDurablePrefix({ base: new Map(), batch: (i) => ({ batch: batches[i]!, seq: 1 + i }), acked, maxPrefix: 5, actual, context: "self-test" });
  assert.equal(search(stateAfter([0, 1, 2, 3]), 3), 4, "a durable but unacked batch is allowed");
  assert.throws(() => search(stateAfter([0, 1]), 3), /batches 0\.\.P-1/, "acked batch 2 lost");
  assert.throws(() => search(stateAfter([0, 1, 2, 4]), 3), /batches 0\.\.P-1/, "batch 4 visible without batch 3");
  const half = stateAfter([0, 1, 2]);
  const firstPut = batches[3]!.ops.find((op) => op.type === "put" && op.expireAtMs === undefined);
  assert.ok(firstPut !== undefined && firstPut.type === "put");
  half.set(textOf(firstPut.key), { value: textOf(firstPut.value), seq: 4 });
  assert.ok(batches[3]!.ops.length > 1, "the self-test needs a batch of several keys");
  assert.throws(() => search(half, 3), /batches 0\.\.P-1/, "half of batch 3 visible");
});

async function crashRound(input: { child: TsxChild; root: string; round: number; random: Random; model: Model; lastSeq: number; context: string }): Promise<RoundResult & { model: Model }> {
  const { child, root, round, random, context } = input;
  const killDuringOpen = random.int(5) === 0;
  const killAfterMs = killDuringOpen ? random.int(40) : 100 + random.int(500);
  const afterFirstAck = !killDuringOpen && random.int(2) === 0;
  child.send("go");
  await child.waitForLine((line) => line === (killDuringOpen ? "opening" : "ready") || line.startsWith("ready "));
  if (afterFirstAck) {
    const acked = await Promise.race([child.waitForLine((line) => line.startsWith("a ")), delay(FIRST_ACK_LIMIT_MS).then(() => undefined)]);
    assert.ok(acked !== undefined, `${context}: the writer acked nothing within ${FIRST_ACK_LIMIT_MS} ms of opening (a stall)`);
  }
  await delay(killAfterMs);
  const exit = await child.kill();
  failOnChildError(child, context);
  assert.equal(exit.signal, "SIGKILL", `${context}: the writer exited by itself (${exit.code}); stderr:\n${child.stderr()}`);
  const { acked, baseSeq, metrics } = readChildOutput(child, input.lastSeq, context);
  const engine = await Engine.open(new LocalStore(root), { ...VERIFY_OPTIONS, walMode: testWalMode() });
  try {
    const actual = await scanModel(engine, context);
    const prefix = findDurablePrefix({
      base: input.model,
      batch: (i) => ({ batch: crashBatch(SEED, round, i), seq: (baseSeq ?? NaN) + 1 + i }),
      acked,
      maxPrefix: baseSeq === undefined ? 0 : acked + MAX_INFLIGHT_BATCHES + 1,
      actual,
      context,
      preferred: engine.lastSeq - (baseSeq ?? input.lastSeq),
    });
    // Seqs: no gap, no duplicate. The reopened engine continues right after the last batch it holds.
    assert.equal(engine.lastSeq, (baseSeq ?? input.lastSeq) + prefix, `${context}: lastSeq after reopen`);
    await spotChecks(engine, actual, random, context);
    return { acked, prefix, lastSeq: engine.lastSeq, sortedRuns: engine.metrics().sortedRunCount, metrics, model: actual };
  } finally {
    await engine.close();
  }
}

function failOnChildError(child: TsxChild, context: string): void {
  const error = child.lines.find((line) => line.startsWith("e "));
  assert.equal(error, undefined, `${context}: the writer reported an error: ${error}\nstderr:\n${child.stderr()}`);
}

/** Acked batches (a contiguous prefix of indexes, checked), the seq base, and the last metrics line. */
function readChildOutput(child: TsxChild, previousLastSeq: number, context: string): { acked: number; baseSeq: number | undefined; metrics: ChildTotals | undefined } {
  let baseSeq: number | undefined;
  let acked = 0;
  let metrics: ChildTotals | undefined;
  for (const line of child.lines) {
    const [kind, a, b] = line.split(" ");
    if (kind === "ready") {
      baseSeq = Number(a);
      // The child recovered exactly what the previous reopen saw: no batch gained or lost in between.
      assert.equal(baseSeq, previousLastSeq, `${context}: the writer opened at seq ${baseSeq}, the previous reopen ended at ${previousLastSeq}`);
    } else if (kind === "a") {
      assert.equal(Number(a), acked, `${context}: acks out of order`);
      assert.equal(Number(b), (baseSeq ?? NaN) + 1 + acked, `${context}: ack seq`);
      acked++;
    } else if (kind === "m") {
      metrics = JSON.parse(line.slice(2)) as ChildTotals;
    }
  }
  return { acked, baseSeq, metrics };
}

/** Point reads and bounded scans (both directions) against the verified state. */
async function spotChecks(engine: Engine, model: Model, random: Random, context: string): Promise<void> {
  const keys = Array.from({ length: 40 }, () => crashKey(random.int(CRASH_KEYSPACE)));
  await assertGets(engine, model, keys, context);
  const a = random.int(CRASH_KEYSPACE);
  const b = Math.min(CRASH_KEYSPACE, a + 1 + random.int(200));
  await assertRangeScan(engine, model, { start: crashKey(a), end: crashKey(b) }, context);
}
