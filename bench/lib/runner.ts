/**
 * The bench runner: every run of every case in a fresh Node process, so no run inherits another's
 * JIT state, heap, open files or timers.
 *
 *   parent: for rep in 1..runs, for case in cases:          child (same script, `--child <json>`):
 *     spawn node --import tsx <script> --child <spec>  ──>    look up the handler by `kind`, run it,
 *     parse the line "@@bench-result@@ {json}"         <──    print the result line, exit
 *
 * Runs are ordered by repetition (rep 1 of every case, then rep 2, ...), so slow drift on a shared
 * machine is spread over all cases instead of landing on one. A child that exceeds its timeout is
 * killed and its run recorded as failed; a failed run never stops the others.
 *
 * `runCaseInProcess` runs one case in the current process instead, for profiling with
 * `node --import tsx --cpu-prof <script> --case <id>`.
 */
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { spreadByMetric, type Spread } from "./stats.js";

/** Flat numeric results of one run; names carry units (`recordsPerSec`, `p99Ms`). */
export type Metrics = Record<string, number>;

export interface CaseSpec<Params = unknown> {
  /** Unique, stable id such as "engine/local/fi5/1KiB/b1/w64". */
  id: string;
  /** Selects the handler in the child. */
  kind: string;
  /** JSON-serialisable parameters passed to the handler. */
  params: Params;
  /** Kill the child after this long (default 120 s). */
  timeoutMs?: number;
}

// A handler takes its own params type; `never` accepts every handler in one map.
export type CaseHandler = (params: never) => Promise<Metrics>;
export type Handlers = Record<string, CaseHandler>;

export interface RunRecord {
  id: string;
  rep: number;
  ok: boolean;
  metrics: Metrics;
  error?: string;
  wallMs: number;
  /** The machine's 1-minute load average when the run started (a shared machine's noise shows here). */
  loadAverage1m: number;
}

export interface CaseSummary<Params = unknown> {
  spec: CaseSpec<Params>;
  okRuns: number;
  failedRuns: number;
  errors: string[];
  metrics: Record<string, Spread>;
}

const RESULT_MARKER = "@@bench-result@@ ";
const CHILD_FLAG = "--child";
const DEFAULT_TIMEOUT_MS = 120_000;

export function isChildProcess(argv: readonly string[] = process.argv): boolean {
  return argv.includes(CHILD_FLAG);
}

/** Child side: runs the case named on the command line, prints its result line and exits. */
export async function runChild(handlers: Handlers, argv: readonly string[] = process.argv): Promise<never> {
  const json = argv[argv.indexOf(CHILD_FLAG) + 1];
  try {
    if (json === undefined) throw new Error(`${CHILD_FLAG} needs a case spec`);
    const spec = JSON.parse(json) as CaseSpec;
    const metrics = await callHandler(handlers, spec);
    process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify({ ok: true, metrics })}\n`);
    process.exit(0);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify({ ok: false, error: message })}\n`);
    process.exit(1);
  }
}

/** Runs one case in this process (no child), for profiling and debugging. */
export function runCaseInProcess(handlers: Handlers, spec: CaseSpec): Promise<Metrics> {
  return callHandler(handlers, spec);
}

function callHandler(handlers: Handlers, spec: CaseSpec): Promise<Metrics> {
  const handler = handlers[spec.kind];
  if (handler === undefined) throw new Error(`no handler for case kind "${spec.kind}"`);
  return (handler as (params: unknown) => Promise<Metrics>)(spec.params);
}

export interface RunAllOptions {
  /** The script that registers the handlers (import.meta.filename of the caller, or a path). */
  script: string;
  cases: readonly CaseSpec[];
  runs: number;
  /** Extra node flags for the children, e.g. ["--expose-gc"]. */
  nodeArgs?: readonly string[];
  /**
   * Load the script through tsx (default true). False runs it as plain JavaScript, for a bundle
   * made by bench/lib/bundle.ts, which starts several times faster than tsx on a loaded machine.
   */
  tsx?: boolean;
  /** Extra arguments after the case spec, passed to every child. */
  childArgs?: readonly string[];
  /** Called after every run, e.g. to print progress. */
  onRun?: (record: RunRecord, done: number, total: number) => void;
}

export async function runAllInChildren(options: RunAllOptions): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  const total = options.cases.length * options.runs;
  for (let rep = 1; rep <= options.runs; rep++) {
    for (const spec of options.cases) {
      const record = await runOneChild(options, spec, rep);
      records.push(record);
      options.onRun?.(record, records.length, total);
    }
  }
  return records;
}

function runOneChild(options: RunAllOptions, spec: CaseSpec, rep: number): Promise<RunRecord> {
  const startMs = performance.now();
  const loadAverage1m = loadavg()[0] ?? Number.NaN;
  const loader = options.tsx === false ? [] : ["--import", import.meta.resolve("tsx")];
  const args = [...(options.nodeArgs ?? []), ...loader, options.script, CHILD_FLAG, JSON.stringify(spec), ...(options.childArgs ?? [])];
  return new Promise<RunRecord>((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text: string) => (stdout += text));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, spec.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const base = { id: spec.id, rep, wallMs: performance.now() - startMs, loadAverage1m };
      const parsed = parseChildOutput(stdout);
      if (timedOut) return resolve({ ...base, ok: false, metrics: {}, error: `timed out after ${spec.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` });
      if (parsed === undefined) return resolve({ ...base, ok: false, metrics: {}, error: `child exited (code ${code}, signal ${signal}) without a result` });
      resolve({ ...base, ...parsed });
    });
  });
}

function parseChildOutput(stdout: string): { ok: boolean; metrics: Metrics; error?: string } | undefined {
  const line = stdout.split("\n").find((text) => text.startsWith(RESULT_MARKER));
  const other = stdout.split("\n").filter((text) => text.trim() !== "" && !text.startsWith(RESULT_MARKER));
  if (other.length > 0) process.stderr.write(`${other.join("\n")}\n`);
  if (line === undefined) return undefined;
  const result = JSON.parse(line.slice(RESULT_MARKER.length)) as { ok: boolean; metrics?: Metrics; error?: string };
  return result.ok ? { ok: true, metrics: result.metrics ?? {} } : { ok: false, metrics: {}, error: result.error ?? "unknown error" };
}

/** Folds the runs of each case into median/min/max per metric, in the order of `cases`. */
export function summarize<Params>(cases: readonly CaseSpec<Params>[], records: readonly RunRecord[]): CaseSummary<Params>[] {
  return cases.map((spec) => {
    const mine = records.filter((record) => record.id === spec.id);
    const ok = mine.filter((record) => record.ok);
    return {
      spec,
      okRuns: ok.length,
      failedRuns: mine.length - ok.length,
      errors: mine.filter((record) => !record.ok).map((record) => record.error ?? "unknown error"),
      metrics: spreadByMetric(ok.map((record) => record.metrics)),
    };
  });
}
