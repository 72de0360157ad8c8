/** `durastream tail <store-url> <stream>`: the durable tail (next seqNum, last timestamp). Read-only. */
import { Option, type Command } from "commander";
import { withLog, type CliContext } from "../context.js";
import { isoTime } from "../format.js";

export function registerTail(program: Command, ctx: CliContext): void {
  program
    .command("tail")
    .description("print a stream's tail: the seqNum the next record gets and the last record's timestamp (read-only)")
    .argument("<store-url>", "the log's store, e.g. file://./data")
    .argument("<stream>", "the stream's name")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExample:\n  durastream tail file://./data orders\n  -> 42\t2025-01-31T12:00:00.000Z")
    .action(async (url: string, name: string, options: { format: "text" | "json" }) => {
      const tail = await withLog(ctx.openReadLog(url), async (log) => (await log.openStream(name)).checkTail());
      const line = options.format === "json" ? JSON.stringify(tail) : `${tail.seqNum}\t${tail.seqNum === 0 ? "-" : isoTime(tail.timestamp)}`;
      await ctx.out.write(`${line}\n`);
    });
}
