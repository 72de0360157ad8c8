/**
 * `durastream read <store-url> <stream>`: prints records, from a seqNum, a time or an offset
 * from the tail (default: the oldest readable record), and with --follow keeps printing new
 * ones until Ctrl-C, which ends it cleanly (exit 0; every record read is printed). Read-only.
 */
import { Option, type Command } from "commander";
import type { ReadFrom, ReadOptions, ReadRecord } from "../../index.js";
import { parseCount, parseDurationMs, parseTime } from "../args.js";
import { withLog, type CliContext } from "../context.js";
import { recordJsonLine, recordRawLine, recordTextLine, type RecordFormat } from "../format.js";

interface ReadCliOptions {
  fromSeq?: number;
  fromTime?: number;
  tailOffset?: number;
  clamp?: boolean;
  count?: number;
  bytes?: number;
  until?: number;
  follow?: boolean;
  wait?: number;
  poll?: number;
  format: RecordFormat;
}

const FORMATTERS: Record<RecordFormat, (record: ReadRecord) => string | Uint8Array> = {
  text: recordTextLine,
  json: recordJsonLine,
  raw: recordRawLine,
};

export function registerRead(program: Command, ctx: CliContext): void {
  const time = (value: string) => parseTime(value, ctx.io.nowMs());
  program
    .command("read")
    .description("print a stream's records; --follow keeps printing new ones until Ctrl-C (read-only)")
    .argument("<store-url>", "the log's store, e.g. file://./data")
    .argument("<stream>", "the stream's name")
    .addOption(new Option("--from-seq <n>", "start at this seqNum (default 0: the oldest readable record)").argParser(parseCount).conflicts(["fromTime", "tailOffset"]))
    .addOption(new Option("--from-time <time>", "start at the first record at or after this time: ISO, epoch ms, or relative like -5m").argParser(time).conflicts("tailOffset"))
    .option("--tail-offset <n>", "start this many records before the tail", parseCount)
    .option("--clamp", "a start past the tail starts at the tail instead of failing")
    .option("--count <n>", "stop after n records", parseCount)
    .option("--bytes <n>", "stop before the metered bytes read would pass n", parseCount)
    .option("--until <time>", "stop before the first record at or after this time (same forms as --from-time)", time)
    .option("-f, --follow", "at the tail, wait for new records instead of ending (Ctrl-C ends)")
    .option("--wait <duration>", "with --follow: end after this long without a new record (e.g. 30s)", parseDurationMs)
    .option("--poll <duration>", "with --follow: how often to look for new records in the store (e.g. 200ms)", parseDurationMs)
    .addOption(new Option("--format <format>", "text: seqNum, time, body; json: one object per line; raw: bodies only").choices(["text", "json", "raw"]).default("text"))
    .addHelpText(
      "after",
      "\nExamples:\n  durastream read file://./data orders --from-time -5m\n  durastream read file://./data orders --tail-offset 10 --follow --format json",
    )
    .action(async (url: string, name: string, options: ReadCliOptions) => {
      // Ctrl-C ends the read, and so does the reader of stdout going away (`read --follow | head -1`).
      const readOptions = toReadOptions(options, AbortSignal.any([ctx.io.signal, ctx.out.closedSignal]));
      const format = FORMATTERS[options.format];
      await withLog(ctx.openReadLog(url, options.poll), async (log) => {
        const stream = await log.openStream(name);
        for await (const record of stream.read(readOptions)) {
          await ctx.out.write(format(record));
          if (ctx.out.closed) break;
        }
        await ctx.out.flush();
      });
    });
}

function toReadOptions(options: ReadCliOptions, signal: AbortSignal): ReadOptions {
  let from: ReadFrom = { seqNum: options.fromSeq ?? 0 };
  if (options.fromTime !== undefined) from = { timestamp: options.fromTime };
  if (options.tailOffset !== undefined) from = { tailOffset: options.tailOffset };
  const read: ReadOptions = { from, signal };
  if (options.clamp === true) read.clamp = true;
  if (options.count !== undefined || options.bytes !== undefined) {
    read.limit = { ...(options.count === undefined ? {} : { count: options.count }), ...(options.bytes === undefined ? {} : { bytes: options.bytes }) };
  }
  if (options.until !== undefined) read.until = options.until;
  if (options.follow === true) read.follow = true;
  if (options.wait !== undefined) read.waitMs = options.wait;
  return read;
}
