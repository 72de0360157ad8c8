/**
 * Issue 16: the log must never hang or wedge. Each case reproduces a defect that stopped the log
 * from recovering; the ones that used to spin the event loop run in a child process with a time
 * limit, so a regression fails the test instead of hanging the runner.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT, delay, spawnTsx } from "../helpers/child-process.js";

const OUTAGE_CHILD = path.join(REPO_ROOT, "tests/hangs/fixtures/outage-after-compaction.ts");
const FAILING_FLUSH_CHILD = path.join(REPO_ROOT, "tests/hangs/fixtures/failing-flush.ts");
const CHILD_LIMIT_MS = 20_000;

async function runToExit(file: string, args: string[]): Promise<string[]> {
  const child = spawnTsx(file, args);
  const finished = await Promise.race([child.exited.then(() => "exited" as const), delay(CHILD_LIMIT_MS).then(() => "timeout" as const)]);
  if (finished === "timeout") await child.kill();
  assert.equal(finished, "exited", `the child did not finish within ${CHILD_LIMIT_MS} ms; lines: ${child.lines.join(" | ")}; stderr: ${child.stderr()}`);
  const exit = await child.exited;
  assert.equal(exit.code, 0, `child failed: ${child.lines.join(" | ")} ${child.stderr()}`);
  return child.lines;
}

test("issue 16 defect 1: an outage longer than the retry deadline right after compactions recovers (GC does not spin)", async () => {
  const lines = await runToExit(OUTAGE_CHILD, ["200"]);
  assert.ok(lines.includes("healed"), "the heal timer ran");
  const recovered = lines.find((line) => line.startsWith("recovered "));
  assert.equal(recovered, "recovered 300", "the first append after the outage follows the 300 acked records");
});

test("issue 16 defect 1: with gcIntervalMs 0 the collector still yields to timers and I/O", async () => {
  const lines = await runToExit(OUTAGE_CHILD, ["0"]);
  assert.ok(lines.includes("recovered 300"));
});

test("issue 16 defect 2: an engine whose every epoch fails at once reopens on timers, never in a loop that starves them", async () => {
  const lines = await runToExit(FAILING_FLUSH_CHILD, []);
  const resets = Number(lines.find((line) => line.startsWith("resets "))?.split(" ")[1]);
  assert.ok(resets >= 2, `the engine reset and reopened (${resets} resets)`);
});
