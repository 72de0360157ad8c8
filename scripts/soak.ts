/**
 * The soak: runs the generators of the issue-16 tests for as long as asked, with fresh seeds,
 * and prints what it covered (operations, crashes, faults, checks) and every problem with the
 * seed that replays it. Not part of `npm test`.
 *
 *   npm run soak -- --minutes 30 [--seed 1] [--no-s3]
 *
 * Generators, in rotation (each in child processes, so a hang is caught and reported):
 *   history   the history checker's workload (tests/history/workload.ts) for 20 s, on MemoryStore,
 *             LocalStore and (with S3_ENDPOINT set) the S3 test server in turn;
 *   crash     the mixed-work SIGKILL crash run (tests/chaos/mixed-crash.ts), 10 rounds;
 *   zombie    every zombie-writer case (tests/chaos/zombie-writer.ts) on LocalStore, and on S3;
 *   fuzz      150 cases of the corruption fuzzer (tests/chaos/corruption-fuzz.ts).
 * Exit status 1 when any problem was found.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, delay, spawnTsx } from "../tests/helpers/child-spawn.js";
import { createTestBucket, removeTestBucket, s3ConnectionFromEnv } from "../tests/helpers/test-stores.js";
import { runMixedCrash } from "../tests/chaos/mixed-crash.js";

const GENERATOR_CHILD = path.join(REPO_ROOT, "tests/chaos/fixtures/generator-child.ts");
const HISTORY_RUN_MS = 20_000;
/** A generator child without a result this long after its expected end is hung. */
const HANG_GRACE_MS = 120_000;

interface Args {
  minutes: number;
  seed: number;
  s3: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { minutes: 5, seed: Date.now() % 1_000_000, s3: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--minutes") args.minutes = Number(argv[++i]);
    else if (arg === "--seed") args.seed = Number(argv[++i]);
    else if (arg === "--no-s3") args.s3 = false;
    else throw new Error(`unknown argument ${arg}; usage: npm run soak -- --minutes N [--seed S] [--no-s3]`);
  }
  if (!(args.minutes > 0) || !Number.isSafeInteger(args.seed)) throw new Error("--minutes must be positive and --seed an integer");
  return args;
}

type Totals = Record<string, number>;

function add(totals: Totals, stats: Record<string, number>, prefix: string): void {
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value !== "number") continue;
    const name = `${prefix}.${key}`;
    totals[name] = (totals[name] ?? 0) + value;
  }
}

async function runGeneratorChild(args: string[], expectedMs: number): Promise<{ problems: string[]; stats: Record<string, number> }> {
  const child = spawnTsx(GENERATOR_CHILD, args);
  const limitMs = expectedMs + HANG_GRACE_MS;
  const line = await Promise.race([child.waitForLine((l) => l.startsWith("r ") || l.startsWith("x ")).catch((error: Error) => `x ${error.message}`), delay(limitMs).then(() => "hang")]);
  await child.kill();
  if (line === "hang") return { problems: [`${args.join(" ")}: no result within ${limitMs} ms (a hang); stderr: ${child.stderr().slice(-1000)}`], stats: {} };
  if (!line.startsWith("r ")) return { problems: [`${args.join(" ")}: the child failed: ${line.slice(0, 2000)} ${child.stderr().slice(-1000)}`], stats: {} };
  return JSON.parse(line.slice(2)) as { problems: string[]; stats: Record<string, number> };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const s3 = args.s3 ? s3ConnectionFromEnv() : undefined;
  const endAt = Date.now() + args.minutes * 60_000;
  const totals: Totals = {};
  const runs: Totals = {};
  const problems: string[] = [];
  const scratch = await mkdtemp(path.join(os.tmpdir(), "durastream-soak-"));
  const bucket = s3 === undefined ? undefined : await createTestBucket(s3, "soak");
  console.log(`soak: ${args.minutes} min from seed ${args.seed}${s3 === undefined ? " (no S3: set S3_ENDPOINT to include it)" : ` (S3 bucket ${bucket})`}`);
  let seed = args.seed;
  const historyStores = ["memory", "file", ...(bucket === undefined ? [] : ["s3"])];
  try {
    for (let turn = 0; Date.now() < endAt; turn++) {
      const generator = (["history", "crash", "history", "zombie", "history", "fuzz"] as const)[turn % 6]!;
      seed++;
      const started = Date.now();
      let result: { problems: string[]; stats: Record<string, number> };
      let label: string = generator;
      if (generator === "history") {
        const kind = historyStores[Math.floor(turn / 2) % historyStores.length]!;
        const spec = kind === "memory" ? "memory" : kind === "file" ? `file:${await mkdtemp(path.join(scratch, "h-"))}` : `s3:${bucket}/history-${seed}`;
        label = `history on ${kind}`;
        result = await runGeneratorChild(["history", String(seed), String(HISTORY_RUN_MS), spec], HISTORY_RUN_MS + 40_000);
      } else if (generator === "crash") {
        result = await runMixedCrash({ seed, rounds: 10 }).catch((error: unknown) => ({ problems: [`crash run threw: ${String(error)}`], stats: {} }));
      } else if (generator === "zombie") {
        const onS3 = bucket !== undefined && turn % 12 === 9;
        const spec = onS3 ? `s3:${bucket}/zombie-${seed}` : `file:${await mkdtemp(path.join(scratch, "z-"))}`;
        label = `zombie on ${onS3 ? "s3" : "file"}`;
        result = await runGeneratorChild(["zombie", String(seed), spec], 120_000);
      } else {
        result = await runGeneratorChild(["fuzz", String(seed), "150"], 60_000);
      }
      runs[label] = (runs[label] ?? 0) + 1;
      add(totals, result.stats, generator);
      for (const problem of result.problems) problems.push(`[${label}, seed ${seed}] ${problem}`);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`  ${new Date().toISOString().slice(11, 19)} ${label.padEnd(18)} seed ${seed}: ${result.problems.length === 0 ? "ok" : `${result.problems.length} PROBLEMS`} (${seconds} s) ${JSON.stringify(result.stats)}`);
      for (const problem of result.problems.slice(0, 20)) console.log(`      ${problem}`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    if (s3 !== undefined && bucket !== undefined) await removeTestBucket(s3, bucket).catch(() => {});
  }
  printSummary(args, runs, totals, problems);
  process.exitCode = problems.length === 0 ? 0 : 1;
}

function printSummary(args: Args, runs: Totals, totals: Totals, problems: string[]): void {
  const t = (key: string) => totals[key] ?? 0;
  console.log(`\nsoak summary (${args.minutes} min, seeds from ${args.seed + 1}):`);
  console.log(`  runs: ${Object.entries(runs).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log(`  operations: ${t("history.operations")} history operations (${t("history.appends") + t("history.matchAppends") + t("history.tokenAppends")} appends, ${t("history.reads")} reads, ${t("history.tailChecks")} checkTails, ${t("history.followedRecords")} records followed, ${t("history.producerMessages")} producer messages)`);
  console.log(`  crashes: ${t("crash.kills")} SIGKILLs (${t("crash.killsDuringOpen")} during open), ${t("crash.closes")} open-append-close cycles, ${t("crash.ackedAppends")} acked appends checked, ${t("crash.deletes")} deletes, ${t("crash.trims")} trims`);
  console.log(`  faults: ${t("history.cuts")} cuts, ${t("history.outages")} outages past the retry deadline, ${t("history.lostResponses")} lost responses, ${t("history.failedCalls")} failed calls, ${t("history.injectedFailures")} injected failures, ${t("history.resets")} engine resets; ${t("zombie.zombieCases")} zombie takeovers; ${t("fuzz.cases")} damaged stores (${t("fuzz.corruption")} corruption, ${t("fuzz.intact")} intact)`);
  console.log(`  engine: ${t("history.l0Flushes") + t("crash.l0Flushes")} L0 flushes, ${t("history.compactions") + t("crash.compactions")} compactions, ${t("history.objectsDeleted") + t("crash.objectsDeleted")} objects deleted by GC`);
  console.log(`  problems: ${problems.length}`);
  for (const problem of problems.slice(0, 50)) console.log(`    ${problem}`);
}

await main();
