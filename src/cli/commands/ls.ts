/**
 * `durastream ls <store-url>`: the streams of a log, in name order, with their config. Opens the
 * log read-only.
 */
import { Option, type Command } from "commander";
import { MAX_LIST_STREAMS_LIMIT, type Log, type StreamInfo } from "../../index.js";
import { parsePositive } from "../args.js";
import { withLog, type CliContext } from "../context.js";
import { isoTime, retentionText, table } from "../format.js";

interface LsOptions {
  prefix?: string;
  startAfter?: string;
  limit?: number;
  format: "text" | "json";
}

export function registerLs(program: Command, ctx: CliContext): void {
  program
    .command("ls")
    .description("list the streams of a log (read-only)")
    .argument("<store-url>", "the log's store, e.g. file://./data or s3://bucket/prefix")
    .option("--prefix <prefix>", "only streams whose name starts with this")
    .option("--start-after <name>", "only streams whose name sorts after this")
    .option("--limit <n>", "list at most n streams (default: all)", parsePositive)
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExample:\n  durastream ls file://./data --prefix orders-")
    .action((url: string, options: LsOptions) => withLog(ctx.openReadLog(url), (log) => ls(ctx, log, options)));
}

async function ls(ctx: CliContext, log: Log, options: LsOptions): Promise<void> {
  const streams = await listAll(log, options);
  if (options.format === "json") {
    for (const info of streams) await ctx.out.write(`${JSON.stringify(info)}\n`);
    return;
  }
  if (streams.length === 0) {
    ctx.note("no streams");
    return;
  }
  const rows = streams.map((info) => [
    info.name,
    isoTime(info.createdAtMs),
    retentionText(info.config.retention),
    info.config.timestamping.mode + (info.config.timestamping.uncapped ? " (uncapped)" : ""),
  ]);
  await ctx.out.write(table(["NAME", "CREATED", "RETENTION", "TIMESTAMPING"], rows));
}

/** Pages through listStreams (1000 per call) up to `limit`. */
async function listAll(log: Log, options: LsOptions): Promise<StreamInfo[]> {
  const all: StreamInfo[] = [];
  let startAfter = options.startAfter;
  const wanted = options.limit ?? Number.POSITIVE_INFINITY;
  while (all.length < wanted) {
    const limit = Math.min(MAX_LIST_STREAMS_LIMIT, wanted - all.length);
    const page = await log.listStreams({
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(startAfter === undefined ? {} : { startAfter }),
      limit,
    });
    all.push(...page);
    if (page.length < limit) break;
    startAfter = page[page.length - 1]!.name;
  }
  return all;
}
