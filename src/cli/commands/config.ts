/**
 * `durastream config <store-url> <stream>`: shows a stream's config (read-only), or changes it
 * when any of --retention, --timestamping, --uncapped, --no-uncapped is given.
 */
import { Option, type Command } from "commander";
import { StreamNotFoundError, type Log, type StreamConfigPatch, type StreamInfo, type TimestampingMode } from "../../index.js";
import { parseRetention, TIMESTAMPING_MODES } from "../args.js";
import { TAKEOVER_OPTION_HELP, withLog, type CliContext } from "../context.js";
import { streamInfoText } from "../format.js";

/** The config options `create` and `config` share. */
export interface ConfigOptions {
  retention?: ReturnType<typeof parseRetention>;
  timestamping?: TimestampingMode;
  uncapped?: boolean;
  format?: "text" | "json";
}

/** Adds --retention, --timestamping and --[no-]uncapped to a command. */
export function addConfigOptions(command: Command): Command {
  return command
    .option("--retention <age>", "how long records are kept: 7d, 12h, 3600 (seconds) or infinite", parseRetention)
    .addOption(new Option("--timestamping <mode>", "where record timestamps come from").choices(TIMESTAMPING_MODES))
    .option("--uncapped", "allow client timestamps later than the arrival time")
    .option("--no-uncapped", "cap client timestamps at the arrival time");
}

/** The patch the options ask for (empty when none was given). */
export function configPatch(options: ConfigOptions): StreamConfigPatch {
  const patch: StreamConfigPatch = {};
  if (options.retention !== undefined) patch.retention = options.retention;
  if (options.timestamping !== undefined || options.uncapped !== undefined) {
    patch.timestamping = {
      ...(options.timestamping === undefined ? {} : { mode: options.timestamping }),
      ...(options.uncapped === undefined ? {} : { uncapped: options.uncapped }),
    };
  }
  return patch;
}

export function registerConfig(program: Command, ctx: CliContext): void {
  const command = program
    .command("config")
    .description("show a stream's config, or change it when an option is given")
    .argument("<store-url>", "the log's store, e.g. file://./data")
    .argument("<stream>", "the stream's name");
  addConfigOptions(command)
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
    .addHelpText(
      "after",
      "\nRetention changes apply to records appended afterwards.\nExamples:\n  durastream config file://./data orders\n  durastream config file://./data orders --retention infinite --timestamping arrival",
    )
    .option("--takeover", TAKEOVER_OPTION_HELP)
    .action(async (url: string, name: string, options: ConfigOptions & { takeover?: boolean }) => {
      const patch = configPatch(options);
      const change = Object.keys(patch).length > 0;
      const info = change
        ? await withLog(ctx.openWriteLog(url, options), (log) => log.reconfigureStream(name, patch))
        : await withLog(ctx.openReadLog(url), (log) => streamInfo(log, name));
      await ctx.out.write(options.format === "json" ? `${JSON.stringify(info)}\n` : streamInfoText(info));
    });
}

/** One stream's info: the first name listed with the stream's name as prefix is the stream itself, if it exists. */
export async function streamInfo(log: Log, name: string): Promise<StreamInfo> {
  const [first] = await log.listStreams({ prefix: name, limit: 1 });
  if (first === undefined || first.name !== name) throw new StreamNotFoundError(name);
  return first;
}
