/** `durastream delete <store-url> <stream>`: deletes a stream; its records become unreadable at once. */
import type { Command } from "commander";
import { TAKEOVER_OPTION_HELP, withLog, type CliContext } from "../context.js";

export function registerDelete(program: Command, ctx: CliContext): void {
  program
    .command("delete")
    .description("delete a stream (its records become unreadable at once; the name can be reused)")
    .argument("<store-url>", "the log's store, e.g. file://./data")
    .argument("<stream>", "the stream's name")
    .addHelpText("after", "\nExample:\n  durastream delete file://./data orders")
    .option("--takeover", TAKEOVER_OPTION_HELP)
    .action(async (url: string, name: string, options: { takeover?: boolean }) => {
      await withLog(ctx.openWriteLog(url, options), (log) => log.deleteStream(name));
      await ctx.out.write(`deleted stream ${name}\n`);
    });
}
