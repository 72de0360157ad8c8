/**
 * `durastream append <store-url> <stream>`: appends one record per line of stdin (or per
 * --body), through one append session, and prints each ack as it arrives (in order).
 *
 * Lines are batched as they come: an append takes every line already read, up to --batch
 * records and 1 MiB, and never waits for more; so a pipe fills batches while a terminal appends
 * each line at once. With --match-seq the first append must land at that seqNum and each next
 * one right after the previous (nobody else may append in between). Ctrl-C stops reading; every
 * line already read is still appended and acknowledged before the command exits.
 */
import { Readable } from "node:stream";
import { Option, type Command } from "commander";
import {
  MAX_APPEND_BYTES,
  MAX_APPEND_RECORDS,
  meteredBytes,
  splitLines,
  type AppendAck,
  type AppendOptions,
  type AppendRecord,
  type AppendSession,
} from "../../index.js";
import { collect, parseBatchSize, parseCount, parseHeader } from "../args.js";
import { TAKEOVER_OPTION_HELP, withLog, type CliContext } from "../context.js";
import { ackJsonLine, ackTextLine } from "../format.js";

interface AppendCliOptions {
  takeover?: boolean;
  body?: string[];
  batch: number;
  header?: [string, string][];
  matchSeq?: number;
  fencingToken?: string;
  createIfMissing?: boolean;
  format: "text" | "json";
  quiet?: boolean;
}

export function registerAppend(program: Command, ctx: CliContext): void {
  program
    .command("append")
    .description("append one record per line of stdin (or per --body) and print the acks")
    .argument("<store-url>", "the log's store, e.g. file://./data")
    .argument("<stream>", "the stream's name")
    .option("--body <text>", "append this text as a record instead of reading stdin (repeatable)", collect)
    .option("--batch <n>", `at most n records per append (1..${MAX_APPEND_RECORDS}); lines already read are batched, none is waited for`, parseBatchSize, MAX_APPEND_RECORDS)
    .option("--header <name=value>", "a header for every record (repeatable)", parseHeader)
    .option("--match-seq <n>", "the first record must get this seqNum, and each append must follow the previous one", parseCount)
    .option("--fencing-token <token>", "append only if the stream's fencing token is this")
    .option("--create-if-missing", "create the stream first if it does not exist")
    .addOption(new Option("--format <format>", "ack output format").choices(["text", "json"]).default("text"))
    .option("-q, --quiet", "print no acks")
    .addHelpText(
      "after",
      "\nExamples:\n  tail -f app.log | durastream append file://./data logs --create-if-missing\n  durastream append file://./data orders --body '{\"id\":1}' --header type=order",
    )
    .option("--takeover", TAKEOVER_OPTION_HELP)
    .action((url: string, name: string, options: AppendCliOptions) =>
      withLog(ctx.openWriteLog(url, options), async (log) => {
        const stream = await log.openStream(name, options.createIfMissing === true ? { createIfMissing: true } : {});
        const input = options.body === undefined ? ctx.io.stdin : undefined;
        const lines = input === undefined ? bodies(options.body ?? []) : input.pipe(splitLines());
        // On Ctrl-C take no more input; the lines already split are still appended.
        const stopInput = () => input?.unpipe();
        ctx.io.signal.addEventListener("abort", stopInput, { once: true });
        try {
          await appendAll(ctx, stream.appendSession(), lines, options);
        } finally {
          ctx.io.signal.removeEventListener("abort", stopInput);
          if (input !== undefined && !input.readableEnded) input.unpipe().destroy(); // stop reading (Ctrl-C, a failure)
        }
      }),
    );
}

function bodies(texts: string[]): Readable {
  return Readable.from(texts.map((text) => Buffer.from(text, "utf8")));
}

/** Submits batches until the input ends, Ctrl-C or a failure; then waits for every ack. */
async function appendAll(ctx: CliContext, session: AppendSession, lines: Readable, options: AppendCliOptions): Promise<void> {
  const printAck = options.quiet === true ? () => undefined : (ack: AppendAck) => void ctx.out.write(options.format === "json" ? ackJsonLine(ack) : ackTextLine(ack));
  let failure: unknown;
  let nextMatchSeqNum = options.matchSeq;
  try {
    for await (const batch of batchesOf(lines, options, ctx.io.signal)) {
      const appendOptions: AppendOptions = {};
      if (options.fencingToken !== undefined) appendOptions.fencingToken = options.fencingToken;
      if (nextMatchSeqNum !== undefined) {
        appendOptions.matchSeqNum = nextMatchSeqNum;
        nextMatchSeqNum += batch.length;
      }
      const ticket = await session.submit(batch, appendOptions);
      // Acks settle in submit order, so the lines print in order.
      ticket.ack().then(printAck, (error: unknown) => (failure ??= error));
    }
  } catch (error) {
    failure ??= error;
  }
  await session.close();
  await ctx.out.flush();
  if (failure !== undefined) throw failure;
  if (ctx.io.signal.aborted) ctx.note("durastream: interrupted; every line read was appended");
}

/**
 * Yields batches of the lines already buffered (at most --batch records and 1 MiB), waiting only
 * when none is. After Ctrl-C it yields what was already read, then stops.
 */
async function* batchesOf(lines: Readable, options: AppendCliOptions, signal: AbortSignal): AsyncGenerator<AppendRecord[]> {
  const headers = options.header;
  const state = watch(lines);
  try {
    for (;;) {
      const batch: AppendRecord[] = [];
      let bytes = 0;
      for (let line = lines.read() as Buffer | null; line !== null; line = batch.length < options.batch ? (lines.read() as Buffer | null) : null) {
        const record: AppendRecord = headers === undefined ? { body: line } : { body: line, headers };
        const size = meteredBytes(record);
        if (batch.length > 0 && bytes + size > MAX_APPEND_BYTES) {
          lines.unshift(line);
          break;
        }
        batch.push(record);
        bytes += size;
      }
      if (batch.length > 0) {
        yield batch;
        continue;
      }
      if (state.error !== undefined) throw state.error;
      if (state.ended || signal.aborted) return;
      await state.next(signal);
    }
  } finally {
    state.stop();
  }
}

/** Tracks a paused readable: its end, its error, and a promise for "something happened". */
function watch(readable: Readable) {
  const state = {
    ended: false,
    error: undefined as Error | undefined,
    wake: undefined as (() => void) | undefined,
    async next(signal: AbortSignal): Promise<void> {
      const onAbort = () => state.wake?.();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        await new Promise<void>((resolve) => (state.wake = resolve));
      } finally {
        state.wake = undefined;
        signal.removeEventListener("abort", onAbort);
      }
    },
    stop(): void {
      readable.off("readable", onEvent).off("end", onEnd).off("error", onError);
    },
  };
  const onEvent = () => state.wake?.();
  const onEnd = () => {
    state.ended = true;
    state.wake?.();
  };
  const onError = (error: Error) => {
    state.error = error;
    state.wake?.();
  };
  readable.on("readable", onEvent).on("end", onEnd).on("error", onError);
  return state;
}
