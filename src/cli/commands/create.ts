/** `durastream create <store-url> <stream>`: creates a stream, with optional retention and timestamping. */
import type { Command } from "commander";
import type { StreamConfigPatch } from "../../index.js";
import { TAKEOVER_OPTION_HELP, withLog, type CliContext } from "../context.js";
import { streamInfoText } from "../format.js";
import { addConfigOptions, configPatch, type ConfigOptions } from "./config.js";

export function registerCreate(program: Command, ctx: CliContext): void {
  const command = program
    .command("create")
    .description("create a stream")
    .argument("<store-url>", "the log's store, e.g. file://./data")
    .argument("<stream>", "the stream's name");
  addConfigOptions(command)
    .addHelpText("after", "\nExample:\n  durastream create file://./data orders --retention 30d --timestamping arrival")
    .option("--takeover", TAKEOVER_OPTION_HELP)
    .action(async (url: string, name: string, options: ConfigOptions & { takeover?: boolean }) => {
      const patch: StreamConfigPatch = configPatch(options);
      const info = await withLog(ctx.openWriteLog(url, options), (log) => log.createStream(name, patch));
      await ctx.out.write(streamInfoText(info));
    });
}
