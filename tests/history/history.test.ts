/**
 * Issue 16: the history checker (history.ts) over the history workload (workload.ts): plain and
 * pipelined appenders, `matchSeqNum`, fencing tokens and an idempotent producer, with readers,
 * followers and `checkTail` pollers, on a FaultyStore with latency, lost responses, cuts and
 * outages longer than the retry deadline, and tiny SSTs (flushes, compactions and GC all the
 * time). Each run is a child process, so that a hang is caught here (SIGKILL after a bound)
 * instead of hanging the suite. Seeds are printed on failure; `npm run soak` runs the same
 * workload for as long as asked.
 *
 * A second part checks that the checker itself can fail: hand-made histories with a lost ack, a
 * duplicated record, a half-applied append, a backwards checkTail and a read of wrong data.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT, spawnTsx } from "../helpers/child-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { checkHistory, History } from "./history.js";
import type { HistoryRunResult } from "./workload.js";

const CHILD = path.join(REPO_ROOT, "tests/history/fixtures/history-child.ts");
const BASE_SEED = Number(process.env.HISTORY_SEED ?? 1601);
const RUN_MS = 4_000;
/** A run that has not printed its result this long after it started is a hang. */
const HANG_MS = RUN_MS + 45_000;

/** Runs the workload in a child; fails with the seed on a hang, a crash or any problem. */
export async function runChild(seed: number, spec: string, runMs = RUN_MS, hangMs = HANG_MS): Promise<HistoryRunResult> {
  const child = spawnTsx(CHILD, [String(seed), String(runMs), spec]);
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<"hang">((resolve) => {
    timer = setTimeout(() => resolve("hang"), hangMs);
  });
  try {
    const line = await Promise.race([child.waitForLine((l) => l.startsWith("r ") || l.startsWith("x ")), hang]);
    assert.notEqual(line, "hang", `seed ${seed} on ${spec}: no result after ${hangMs} ms: the log hung (stderr: ${child.stderr().slice(-2000)})`);
    assert.ok(line.startsWith("r "), `seed ${seed} on ${spec}: the child failed: ${line}\n${child.stderr().slice(-2000)}`);
    return JSON.parse(line.slice(2)) as HistoryRunResult;
  } finally {
    clearTimeout(timer);
    await child.kill();
  }
}

describe("history checker over concurrent appenders, readers, followers and checkTail under faults", () => {
  for (const [i, kind] of (["memory", "memory", "file"] as const).entries()) {
    const seed = BASE_SEED + i;
    it(`${kind === "memory" ? "MemoryStore" : "LocalStore"}, seed ${seed}: every ack is readable once at its seqNum, nothing else is wrong, nothing hangs`, { timeout: HANG_MS + 10_000 }, async () => {
      const spec = kind === "memory" ? "memory" : `file:${await makeTempDir("history")}`;
      const result = await runChild(seed, spec);
      assert.deepEqual(result.problems, [], `seed ${seed} (HISTORY_SEED=${BASE_SEED}): ${result.problems.length} problems:\n${result.problems.join("\n")}\nstats ${JSON.stringify(result.stats)}`);
      assert.ok((result.stats.operations ?? 0) > 200, `the run did little: ${JSON.stringify(result.stats)}`);
      assert.ok((result.stats.l0Flushes ?? 0) > 0 && (result.stats.compactions ?? 0) > 0, `no flush or compaction ran: ${JSON.stringify(result.stats)}`);
    });
  }
});

describe("the history checker can fail", () => {
  const ack = (start: number, end: number) => ({ start: { seqNum: start, timestamp: 0 }, end: { seqNum: end, timestamp: 0 }, tail: { seqNum: end, timestamp: 0 } });
  const final = (...bodies: string[]) => new Map([["s", { records: bodies.map((body, seqNum) => ({ seqNum, body })) }]]);

  it("finds a lost ack, a duplicate, a half-applied append, a not_applied append that landed, and an error without an outcome", () => {
    const h = new History();
    const a = h.beginAppend("s", "x", 2);
    h.endAppend(a, { ack: ack(0, 2) });
    const b = h.beginAppend("s", "x", 1);
    h.endAppend(b, { ack: ack(2, 3) });
    const c = h.beginAppend("s", "x", 2);
    h.endAppend(c, { error: { code: "storage", outcome: "unknown", message: "cut" } });
    const d = h.beginAppend("s", "x", 1);
    h.endAppend(d, { error: { code: "storage", outcome: "not_applied", message: "refused" } });
    const e = h.beginAppend("s", "x", 1);
    h.endAppend(e, { error: { code: "stream_not_found", message: "gone" } });
    const problems = checkHistory(h, final(...a.bodies, c.bodies[0]!, ...d.bodies, a.bodies[1]!)).join("\n");
    for (const kind of ["ACKNOWLEDGED APPEND LOST", "duplicated record", "append partly applied", "not_applied append is in the stream", "append error without an outcome"]) {
      assert.match(problems, new RegExp(kind), problems);
    }
  });

  it("finds acks out of real-time order, an ignored matchSeqNum or token, a backwards checkTail, a read of wrong data and a follower gap", () => {
    const h = new History();
    const a = h.beginAppend("s", "x", 1);
    h.endAppend(a, { ack: ack(1, 2) });
    const b = h.beginAppend("s", "y", 1, { matchSeqNum: 1 });
    h.endAppend(b, { ack: ack(0, 1) });
    const f = h.beginFence("s", "z", "t1");
    h.endAppend(f, { ack: ack(2, 3) });
    const c = h.beginAppend("s", "x", 1, { fencingToken: "other" });
    h.endAppend(c, { ack: ack(3, 4) });
    const t1 = h.beginTail("s", "p");
    h.endTail(t1, { tail: 4 });
    const t2 = h.beginTail("s", "q");
    h.endTail(t2, { tail: 3 });
    const r = h.beginRead("s", "r", 0, true, false);
    r.records.push({ seqNum: 0, body: "nonsense" });
    h.endRead(r);
    const fo = h.beginRead("s", "f", 0, false, true);
    fo.records.push({ seqNum: 0, body: b.bodies[0]! }, { seqNum: 2, body: "t1" });
    const problems = checkHistory(h, final(...b.bodies, ...a.bodies, "t1", ...c.bodies)).join("\n");
    for (const kind of ["out of real-time order", "matchSeqNum not honoured", "fencing token not honoured", "checkTail went backwards", "READ WRONG DATA", "follower skipped"]) {
      assert.match(problems, new RegExp(kind), problems);
    }
  });

  it("reports a pending operation as a hang and passes a correct history", () => {
    const h = new History();
    const a = h.beginAppend("s", "x", 2);
    h.endAppend(a, { ack: ack(0, 2) });
    const t = h.beginTail("s", "p");
    h.endTail(t, { tail: 2 });
    assert.deepEqual(checkHistory(h, final(...a.bodies)), []);
    h.beginTail("s", "p");
    assert.match(checkHistory(h, final(...a.bodies)).join("\n"), /never completed/);
  });
});
