/**
 * The `durastream` command line: builds the commander program, runs one command and turns
 * whatever it throws into one line on stderr and an exit code (context.ts lists them).
 *
 * `runCli(argv, io)` is the whole CLI as a function, so tests run commands in-process against a
 * MemoryStore; run as a script (bin/durastream.mjs, or `node --import tsx src/cli/main.ts`), it
 * wires in the process: stdin/stdout/stderr, and Ctrl-C, which aborts the running command's
 * signal (a follow ends, an append stops reading and waits for what it sent). A second Ctrl-C
 * exits at once with 130.
 *
 * `--format json` follows one convention in every command: JSON lines (one object per line) for
 * what is a stream of items (read's records, append's acks, ls's streams), one JSON object on one
 * line for a report (inspect, bench, tail, config).
 */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { isDurastreamError } from "../index.js";
import { registerAppend } from "./commands/append.js";
import { registerBench } from "./commands/bench.js";
import { registerConfig } from "./commands/config.js";
import { registerCreate } from "./commands/create.js";
import { registerDelete } from "./commands/delete.js";
import { registerInspect } from "./commands/inspect.js";
import { registerLs } from "./commands/ls.js";
import { registerRead } from "./commands/read.js";
import { registerServe } from "./commands/serve.js";
import { registerTail } from "./commands/tail.js";
import { CliContext, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from "./context.js";

function packageVersion(): string {
  try {
    const json = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof json.version === "string" ? json.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** The program with every command, writing through `ctx`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("durastream")
    .description("Look at and use durastream logs from a terminal. Store URLs: file:///abs/path, file://./rel, s3://bucket/prefix, memory://")
    .version(packageVersion(), "-V, --version")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
      outputError: (text, write) => write(`durastream: ${text.replace(/^error: /, "")}`),
    });
  program.addHelpText("after", "\nRun `durastream <command> --help` for a command's options. Exit codes: 0 ok, 1 failure, 2 bad arguments or input.\n" +
      "--format json: one JSON object per line for records, acks and streams (read, append, ls); one JSON object for a report (inspect, bench, tail, config).");
  registerLs(program, ctx);
  registerCreate(program, ctx);
  registerDelete(program, ctx);
  registerConfig(program, ctx);
  registerAppend(program, ctx);
  registerRead(program, ctx);
  registerTail(program, ctx);
  registerInspect(program, ctx);
  registerBench(program, ctx);
  registerServe(program, ctx);
  return program;
}

/** Runs the CLI on `argv` (without the node and script names); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const ctx = new CliContext(fillIo(io));
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: "user" });
    await ctx.out.flush();
    return ctx.exitCode;
  } catch (error) {
    await ctx.out.flush().catch(() => undefined);
    return reportError(ctx, error);
  }
}

/** One line on stderr for a failure, and its exit code. Commander already printed its own errors. */
function reportError(ctx: CliContext, error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (isDurastreamError(error)) {
    ctx.note(`durastream: ${oneLine(cliMessage(error.code, error.message))} (code ${error.code})`);
    return error.code === "validation" ? EXIT_USAGE : EXIT_FAILURE;
  }
  ctx.note(`durastream: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  return EXIT_FAILURE;
}

/** The library's advice names API options; where the CLI has its own way, say that instead. */
const CLI_ADVICE: Partial<Record<string, string>> = {
  stream_not_found: "create it with `durastream create`, or append with --create-if-missing",
  unwritten: "pass --clamp to start at the tail, or --follow to wait for new records",
};

function cliMessage(code: string, message: string): string {
  const advice = CLI_ADVICE[code];
  const semicolon = message.indexOf("; ");
  return advice === undefined || semicolon < 0 ? message : `${message.slice(0, semicolon)}; ${advice}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}

function fillIo(io: Partial<CliIo>): CliIo {
  const filled: CliIo = {
    // stdin is touched only by a command that reads it: an opened stdin can keep the process alive.
    get stdin() {
      return io.stdin ?? process.stdin;
    },
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    signal: io.signal ?? new AbortController().signal,
    stderrIsTTY: io.stderrIsTTY ?? (io.stderr === undefined && process.stderr.isTTY === true),
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
    nowMs: io.nowMs ?? (() => Date.now()),
  };
  return filled;
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

/** Runs the CLI in this process: the entry of bin/durastream.mjs. */
export async function main(): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  process.on("SIGINT", () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    controller.abort();
  });
  process.exitCode = await runCli(process.argv.slice(2), { signal: controller.signal });
}

if (isMain()) await main();
