/**
 * `durastream bench <store-url>`: a quick append and read benchmark on a stream of its own
 * (deleted afterwards unless --keep): pipelined appends through one append session, then one
 * read of everything back. Shows a progress bar on a terminal (stderr) and prints a table of
 * throughput and append latency. It opens the log as a writer: on a store a live writer uses,
 * it fences that writer, so point it at a scratch store (memory:// is fine). Ctrl-C ends the
 * append phase early; the table then reports what was appended.
 */
import { performance } from "node:perf_hooks";
import { Option, type Command } from "commander";
import { MAX_APPEND_RECORDS, meteredBytes, type Log } from "../../index.js";
import { parseBatchSize, parsePositive } from "../args.js";
import { TAKEOVER_OPTION_HELP, withLog, type CliContext } from "../context.js";
import { bytesText, progressBar, rateText, table } from "../format.js";

interface BenchOptions {
  takeover?: boolean;
  records: number;
  bodyBytes: number;
  batch: number;
  inflightBytes: number;
  stream?: string;
  keep?: boolean;
  progress?: boolean;
  format: "text" | "json";
}

/** One phase's result. */
export interface BenchPhase {
  phase: "append" | "read";
  records: number;
  bytes: number;
  seconds: number;
  recordsPerSecond: number;
  mibPerSecond: number;
  /** Append phase: latency from admission (submit resolved) to ack per append, in ms. */
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
}

export function registerBench(program: Command, ctx: CliContext): void {
  program
    .command("bench")
    .description("a quick append and read benchmark on a scratch stream (opens the log as a writer)")
    .argument("<store-url>", "a store to benchmark, e.g. memory:// or file://./bench-data")
    .option("--records <n>", "records to append and read", parsePositive, 20_000)
    .option("--body-bytes <n>", "bytes per record body", parsePositive, 100)
    .option("--batch <n>", `records per append (1..${MAX_APPEND_RECORDS})`, parseBatchSize, 100)
    .option("--inflight-bytes <n>", "cap on metered bytes awaiting acks: more gives throughput, less gives lower latency", parsePositive, 1024 * 1024)
    .option("--stream <name>", "the stream to use (default: a new bench-* stream)")
    .option("--keep", "keep the stream afterwards")
    .option("--progress", "draw the progress bar even when stderr is not a terminal")
    .option("--no-progress", "never draw the progress bar")
    .addOption(new Option("--format <format>", "result format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExample:\n  durastream bench file://./bench-data --records 100000 --body-bytes 256 --batch 500")
    .option("--takeover", TAKEOVER_OPTION_HELP)
    .action((url: string, options: BenchOptions) =>
      withLog(ctx.openWriteLog(url, options), async (log) => {
        const phases = await bench(ctx, log, options);
        await ctx.out.write(options.format === "json" ? `${JSON.stringify({ phases })}\n` : benchTable(phases));
      }),
    );
}

async function bench(ctx: CliContext, log: Log, options: BenchOptions): Promise<BenchPhase[]> {
  const name = options.stream ?? `bench-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  const stream = await log.openStream(name, { createIfMissing: true, config: { retention: "infinite" } });
  const progress = new Progress(ctx, options.progress ?? ctx.io.stderrIsTTY);
  try {
    const startSeq = (await stream.checkTail()).seqNum;
    const body = Buffer.alloc(options.bodyBytes, "x");
    const recordBytes = meteredBytes({ body });
    const latenciesMs: number[] = [];
    const session = stream.appendSession({ maxInflightBytes: options.inflightBytes });
    const appendStart = performance.now();
    let acked = 0;
    let failure: unknown;
    // Ctrl-C stops submitting; what was submitted is still acknowledged, read back and reported.
    for (let sent = 0; sent < options.records && failure === undefined && !ctx.io.signal.aborted; ) {
      const count = Math.min(options.batch, options.records - sent);
      const ticket = await session.submit(Array.from({ length: count }, () => ({ body })));
      const submittedAt = performance.now(); // latency from admission to ack: Little's law says about inflight bytes / throughput
      sent += count;
      ticket.ack().then(
        () => {
          latenciesMs.push(performance.now() - submittedAt);
          acked += count;
          progress.update("append", acked, options.records, appendStart);
        },
        (error: unknown) => (failure ??= error),
      );
    }
    await session.close();
    if (failure !== undefined) throw failure;
    const appendSeconds = (performance.now() - appendStart) / 1000;
    progress.done("append", acked, options.records, appendStart);

    const readStart = performance.now();
    let read = 0;
    for await (const _record of stream.read({ from: { seqNum: startSeq }, limit: { count: acked } })) {
      read++;
      if (read % 1000 === 0) progress.update("read  ", read, acked, readStart);
    }
    const readSeconds = (performance.now() - readStart) / 1000;
    progress.done("read  ", read, acked, readStart);

    latenciesMs.sort((a, b) => a - b);
    return [
      { ...phase("append", acked, acked * recordBytes, appendSeconds), ...latencyFields(latenciesMs) },
      phase("read", read, read * recordBytes, readSeconds),
    ];
  } finally {
    if (options.keep !== true && options.stream === undefined) await log.deleteStream(name).catch(() => undefined);
  }
}

function phase(name: BenchPhase["phase"], records: number, bytes: number, seconds: number): BenchPhase {
  const s = Math.max(seconds, 1e-9);
  return { phase: name, records, bytes, seconds, recordsPerSecond: records / s, mibPerSecond: bytes / s / (1024 * 1024) };
}

function latencyFields(sortedMs: number[]): Pick<BenchPhase, "p50Ms" | "p99Ms" | "maxMs"> {
  if (sortedMs.length === 0) return {};
  const at = (q: number) => sortedMs[Math.min(sortedMs.length - 1, Math.ceil(q * sortedMs.length) - 1)]!;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sortedMs[sortedMs.length - 1]! };
}

/** The result table. */
export function benchTable(phases: BenchPhase[]): string {
  const ms = (value: number | undefined) => (value === undefined ? "-" : value.toFixed(2));
  return table(
    ["PHASE", "RECORDS", "BYTES", "SECONDS", "RECORDS/S", "MIB/S", "P50 MS", "P99 MS", "MAX MS"],
    phases.map((p) => [p.phase, String(p.records), bytesText(p.bytes), p.seconds.toFixed(3), rateText(p.recordsPerSecond), p.mibPerSecond.toFixed(2), ms(p.p50Ms), ms(p.p99Ms), ms(p.maxMs)]),
  );
}

/** The progress bar on stderr: redrawn at most every 100 ms, with a carriage return. */
class Progress {
  #lastDrawMs = 0;

  constructor(
    private readonly ctx: CliContext,
    private readonly enabled: boolean,
  ) {}

  update(label: string, done: number, total: number, startMs: number): void {
    const now = performance.now();
    if (!this.enabled || now - this.#lastDrawMs < 100) return;
    this.#lastDrawMs = now;
    this.#draw(label, done, total, startMs, "\r");
  }

  done(label: string, done: number, total: number, startMs: number): void {
    if (this.enabled) this.#draw(label, done, total, startMs, "\r");
    if (this.enabled) this.ctx.io.stderr.write("\n");
  }

  #draw(label: string, done: number, total: number, startMs: number, prefix: string): void {
    const seconds = Math.max((performance.now() - startMs) / 1000, 1e-9);
    this.ctx.io.stderr.write(`${prefix}${progressBar(label, done, total, done / seconds)}`);
  }
}
