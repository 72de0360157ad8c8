/**
 * The suite's command line, shared by bench/run.ts (preset "suite") and bench/streams.ts
 * (preset "streams"): installs and checks the peers, bundles the entry for fast child start-up,
 * builds the prebuilt logs, runs every case in fresh processes (bench/lib/runner.ts), and writes
 * the report: a table on the terminal, JSON under bench/results/, Markdown under --out, and with
 * --update-readme the Markdown into bench/README.md between the preset's markers.
 *
 *   --quick            short run: shorter windows, smaller logs, 1 run per case (unless --runs)
 *   --runs N           runs per case (default 3; 1 with --quick)
 *   --filter TEXT      only cases whose id contains TEXT (comma-separated: any of them)
 *   --list             print the case ids and exit
 *   --case ID          run one case in this process (for node --cpu-prof); a prebuilt log it
 *                      needs is built first (with --data-dir, kept for the next time)
 *   --data-dir DIR     keep the prebuilt logs in DIR and reuse them on the next run
 *   --out DIR          where the Markdown report goes (default $TMPDIR/durastream-bench)
 *   --no-peers         skip the peers (no install)
 *   --no-bundle        run the children through tsx instead of an esbuild bundle
 *   --update-readme    write the Markdown report into bench/README.md
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { bundleEntry } from "../lib/bundle.js";
import { describeMachine, machineLines, type MachineInfo } from "../lib/machine.js";
import { repoRoot } from "../lib/paths.js";
import { isChildProcess, runAllInChildren, runCaseInProcess, runChild, summarize, type CaseSpec, type RunRecord } from "../lib/runner.js";
import { formatInt, formatNumber } from "../lib/table.js";
import { spread } from "../lib/stats.js";
import { buildCases, datasetSpecs, FULL, KINDS, QUICK, type Preset, type SuiteCase, type SuiteConfig } from "./cases.js";
import { buildDataset, isBuilt, readMeta, type DatasetMeta, type DatasetSpec } from "./datasets.js";
import { SUITE_HANDLERS } from "./handlers.js";
import { checkPeers, ensurePeersInstalled, NOT_IN_RUN, PEER_NAMES, type PeerName, type PeerStatus } from "./peers.js";
import { renderSections, type Summary } from "./report-common.js";
import { streamsSections } from "./report-streams.js";
import { suiteSections } from "./report-suite.js";
import { ROLE_FLAG, runRole, s3GatewayFromEnv } from "./readers.js";

interface Cli {
  quick: boolean;
  runs: number;
  filters: string[] | undefined;
  list: boolean;
  caseId: string | undefined;
  dataDir: string | undefined;
  outDir: string;
  peers: boolean;
  bundle: boolean;
  updateReadme: boolean;
}

function parseCli(argv: readonly string[]): Cli {
  const value = (flag: string) => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const quick = argv.includes("--quick");
  const runs = Number(value("--runs") ?? (quick ? 1 : 3));
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs needs a positive integer, got ${value("--runs")}`);
  return {
    quick,
    runs,
    filters: value("--filter")?.split(","),
    list: argv.includes("--list"),
    caseId: value("--case"),
    dataDir: value("--data-dir"),
    outDir: value("--out") ?? path.join(tmpdir(), "durastream-bench"),
    peers: !argv.includes("--no-peers"),
    bundle: !argv.includes("--no-bundle"),
    updateReadme: argv.includes("--update-readme"),
  };
}

/** Entry of bench/run.ts and bench/streams.ts: a child runs its case or role, the parent runs the suite. */
export async function suiteMain(preset: Preset, entryFile: string): Promise<void> {
  if (process.argv.includes(ROLE_FLAG)) await runRole(process.argv);
  if (isChildProcess()) await runChild(SUITE_HANDLERS);
  const cli = parseCli(process.argv.slice(2));
  const config = cli.quick ? QUICK : FULL;
  const workDir = cli.dataDir ?? mkdtempSync(path.join(tmpdir(), "durastream-suite-"));
  const all = buildCases(preset, { config, dataDir: workDir, s3Gateway: s3GatewayFromEnv() !== undefined });
  const cases = cli.filters === undefined ? all : all.filter((c) => cli.filters!.some((f) => c.id.includes(f)));
  try {
    if (cli.list) return void console.log(cases.map((c) => c.id).join("\n"));
    if (cli.caseId !== undefined) return await runOneHere(cases, cli.caseId, datasetSpecs(preset, config), workDir);
    if (cases.length === 0) throw new Error(`no case matches --filter ${cli.filters?.join(",")}`);
    await runSuite({ preset, entryFile, cli, config, cases, workDir });
  } finally {
    if (cli.dataDir === undefined) rmSync(workDir, { recursive: true, force: true });
  }
}

/** Runs one case in this process (for profiling), building its prebuilt log first when it needs one that is not there. */
async function runOneHere(cases: readonly SuiteCase[], id: string, datasets: readonly DatasetSpec[], workDir: string): Promise<void> {
  const spec = cases.find((c) => c.id === id);
  if (spec === undefined) throw new Error(`no case "${id}" (see --list)`);
  const dataset = datasets.find((d) => path.join(workDir, d.name) === (spec.params as { dataset?: string }).dataset);
  if (dataset !== undefined && !isBuilt(path.join(workDir, dataset.name), dataset)) {
    process.stderr.write(`building ${dataset.name} (keep it for the next --case with --data-dir)\n`);
    await buildDataset({ dir: path.join(workDir, dataset.name), spec: dataset });
  }
  const metrics = await runCaseInProcess(SUITE_HANDLERS, spec);
  console.log(JSON.stringify({ id, metrics }, null, 2));
}

interface RunContext {
  preset: Preset;
  entryFile: string;
  cli: Cli;
  config: SuiteConfig;
  cases: SuiteCase[];
  workDir: string;
}

async function runSuite(ctx: RunContext): Promise<void> {
  const startedAt = new Date();
  const machine = describeMachine(tmpdir());
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const peers = await preparePeers(ctx, say);
  const runnable = ctx.cases.filter((c) => {
    const peer = (c.params as { peer?: PeerName }).peer;
    return peer === undefined || peers[peer].available;
  });
  const child = await childScript(ctx, say);
  const datasets = await prepareDatasets(ctx, runnable, child, say);
  const ready = runnable.filter((c) => !needsMissingDataset(c, datasets));
  say(`${ready.length} cases x ${ctx.cli.runs} runs, each in a fresh process${ctx.cli.quick ? " (quick)" : ""}`);
  const progress = progressPrinter(ready.length * ctx.cli.runs, say);
  const records = await runAllInChildren({ ...child, cases: ready, runs: ctx.cli.runs, onRun: progress });
  const summaries = summarize(ctx.cases, records) as Summary[];
  const sections =
    ctx.preset === "suite" ? suiteSections({ summaries, peers, datasets: datasets.map(({ name, meta, error }) => ({ name, meta, ...(error === undefined ? {} : { error }) })), config: ctx.config }) : streamsSections(summaries);
  const header = reportHeader(ctx, startedAt, machine, records);
  const failures = records.filter((r) => !r.ok).map((r) => `- ${r.id} run ${r.rep}: ${r.error?.split("\n")[0]}`);
  const tail = failures.length > 0 ? [`Failed runs:\n${failures.join("\n")}`] : [];
  console.log([...header, "", renderSections(sections, false), ...tail].join("\n"));
  const markdown = [header.map((line) => `- ${line}`).join("\n"), renderSections(sections, true, "####"), ...tail].join("\n\n");
  saveOutputs(ctx, startedAt, { markdown, json: { command: commandLine(ctx), startedAt, machine, config: ctx.config, peers, datasets, records, summaries } }, say);
}

async function preparePeers(ctx: RunContext, say: (line: string) => void): Promise<Record<PeerName, PeerStatus>> {
  const wanted = ctx.cases.some((c) => c.kind === KINDS.peerWrite || c.kind === KINDS.peerScan);
  const skipped = (reason: string) => Object.fromEntries(PEER_NAMES.map((name) => [name, { available: false, reason }])) as Record<PeerName, PeerStatus>;
  if (!wanted) return skipped(NOT_IN_RUN);
  if (!ctx.cli.peers) return skipped("skipped (--no-peers)");
  const installError = ensurePeersInstalled(say);
  if (installError !== undefined) {
    say(`peers unavailable: ${installError}`);
    return skipped(installError);
  }
  const status = await checkPeers();
  for (const [name, s] of Object.entries(status)) say(`peer ${name}: ${s.available ? s.version : `unavailable (${s.reason})`}`);
  return status;
}

async function childScript(ctx: RunContext, say: (line: string) => void): Promise<{ script: string; tsx: boolean }> {
  if (!ctx.cli.bundle) return { script: ctx.entryFile, tsx: true };
  const bundle = await bundleEntry(ctx.entryFile);
  if (bundle.file !== undefined) return { script: bundle.file, tsx: false };
  say(`children run through tsx: ${bundle.reason}`);
  return { script: ctx.entryFile, tsx: true };
}

interface DatasetState {
  name: string;
  dir: string;
  meta: DatasetMeta | undefined;
  error?: string;
}

/** Builds (or reuses, with --data-dir) every prebuilt log a case needs, each in a child process. */
async function prepareDatasets(ctx: RunContext, cases: readonly SuiteCase[], child: { script: string; tsx: boolean }, say: (line: string) => void): Promise<DatasetState[]> {
  const needed = datasetSpecs(ctx.preset, ctx.config).filter((spec) => cases.some((c) => (c.params as { dataset?: string }).dataset === path.join(ctx.workDir, spec.name)));
  const states: DatasetState[] = [];
  for (const spec of needed) {
    const dir = path.join(ctx.workDir, spec.name);
    if (!isBuilt(dir, spec)) await buildOne(spec, dir, child, say);
    states.push(existsSync(path.join(dir, "meta.json")) ? { name: spec.name, dir, meta: readMeta(dir) } : { name: spec.name, dir, meta: undefined, error: "build failed" });
  }
  return states;
}

async function buildOne(spec: DatasetSpec, dir: string, child: { script: string; tsx: boolean }, say: (line: string) => void): Promise<void> {
  const records = spec.streams * spec.recordsPerStream;
  say(`building ${spec.name}: ${formatInt(spec.streams)} stream(s), ${formatInt(records)} records`);
  const build: CaseSpec = { id: `build/${spec.name}`, kind: KINDS.buildDataset, params: { dir, spec }, timeoutMs: 30 * 60_000 };
  const [record] = await runAllInChildren({ ...child, cases: [build], runs: 1 });
  if (record?.ok) say(`  built ${spec.name} in ${formatNumber((record.metrics.buildMs ?? 0) / 1000)} s (${formatInt(record.metrics.recordsPerSec ?? Number.NaN)} records/s)`);
  else say(`  building ${spec.name} FAILED: ${record?.error?.split("\n")[0]}`);
}

function needsMissingDataset(c: SuiteCase, datasets: readonly DatasetState[]): boolean {
  const dir = (c.params as { dataset?: string }).dataset;
  return dir !== undefined && datasets.find((d) => d.dir === dir)?.meta === undefined;
}

function progressPrinter(total: number, say: (line: string) => void): (record: RunRecord, done: number) => void {
  let wallMs = 0;
  return (record, done) => {
    wallMs += record.wallMs;
    const m = record.metrics;
    const figure = m.recordsPerSec ?? m.scanRecordsPerSec ?? m.coldReadMs ?? m.peakRssMiB ?? m.lagP50Ms ?? m.deliverP50Ms;
    const unit = m.recordsPerSec !== undefined || m.scanRecordsPerSec !== undefined ? " rec/s" : m.peakRssMiB !== undefined ? " MiB peak RSS" : " ms";
    const what = record.ok ? `${formatNumber(figure ?? Number.NaN)}${unit}` : `FAILED: ${record.error?.split("\n")[0]}`;
    const leftMin = ((wallMs / done) * (total - done)) / 60_000;
    say(`[${done}/${total}] ${record.id} run ${record.rep}: ${what} (${(record.wallMs / 1000).toFixed(1)} s) · about ${leftMin.toFixed(1)} min left`);
  };
}

function commandLine(ctx: RunContext): string {
  const args = process.argv.slice(2).join(" ");
  const base = ctx.preset === "suite" ? "npm run bench" : "npx tsx bench/streams.ts";
  return `${base}${args === "" ? "" : ctx.preset === "suite" ? ` -- ${args}` : ` ${args}`}`;
}

function reportHeader(ctx: RunContext, startedAt: Date, machine: MachineInfo, records: readonly RunRecord[]): string[] {
  const load = spread(records.map((r) => r.loadAverage1m));
  const minutes = (Date.now() - startedAt.getTime()) / 60_000;
  const children = ctx.cli.bundle ? "children run an esbuild bundle of the sources (bench/lib/bundle.ts)" : "children run through tsx";
  return [
    `Command: \`${commandLine(ctx)}\``,
    `Date: ${startedAt.toISOString()} (took ${minutes.toFixed(1)} min)`,
    ...machineLines(machine),
    `1-min load average when each run started: median ${formatNumber(load.median)} [${formatNumber(load.min)}–${formatNumber(load.max)}] on ${machine.cores} cores`,
    `Each case: ${ctx.cli.runs} run(s), each in a fresh process, ordered by repetition; ${children}. Tables show the median of the runs, [min–max] where given.`,
  ];
}

function saveOutputs(ctx: RunContext, startedAt: Date, out: { markdown: string; json: unknown }, say: (line: string) => void): void {
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const resultsDir = path.join(repoRoot(), "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const jsonFile = path.join(resultsDir, `${ctx.preset}-${stamp}.json`);
  writeFileSync(jsonFile, JSON.stringify(out.json, null, 1));
  mkdirSync(ctx.cli.outDir, { recursive: true });
  const mdFile = path.join(ctx.cli.outDir, `${ctx.preset}-${stamp}.md`);
  writeFileSync(mdFile, `${out.markdown}\n`);
  say(`results: ${jsonFile}\nmarkdown: ${mdFile}`);
  if (ctx.cli.updateReadme) say(`bench/README.md: ${updateReadme(ctx.preset, out.markdown)}`);
}

/** Replaces the text between `<!-- results:<preset>:begin -->` and `<!-- results:<preset>:end -->`. */
function updateReadme(preset: Preset, markdown: string): string {
  const file = path.join(repoRoot(), "bench", "README.md");
  const text = readFileSync(file, "utf8");
  const begin = `<!-- results:${preset}:begin -->`;
  const end = `<!-- results:${preset}:end -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return `not updated: no ${begin} ... ${end} markers`;
  writeFileSync(file, `${text.slice(0, from + begin.length)}\n${markdown}\n${text.slice(to)}`);
  return "updated";
}
