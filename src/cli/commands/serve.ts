/**
 * `durastream serve --store <url>`: the S2 REST API over a durastream log (durastream/server),
 * until Ctrl-C or SIGTERM, then a graceful shutdown: appends in flight are acknowledged, the
 * log is closed. The token comes from --access-token or DURASTREAM_ACCESS_TOKEN.
 */
import { Option, type Command } from "commander";
import type { CliContext } from "../context.js";

interface ServeFlags {
  store: string;
  host: string;
  port: string;
  accessToken?: string;
  accessLog?: boolean;
  walDatasync?: "inline" | "thread-pool";
}

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("serve the S2 REST API (basins, streams, records; JSON, protobuf, SSE and s2s) over a log, for S2's SDKs and CLI")
    .requiredOption("--store <url>", "the log's store, e.g. file://./data")
    .option("--host <host>", "interface to listen on (loopback by default)", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 picks a free one)", "8080")
    .addOption(new Option("--access-token <token>", "require Authorization: Bearer <token> (also DURASTREAM_ACCESS_TOKEN)"))
    .option("--access-log", "print one line per request on stderr")
    .addOption(
      new Option("--wal-datasync <where>", "where each group commit's fdatasync waits on a local disk: inline (the default: on the server's event loop, fastest) or thread-pool (the event loop keeps serving requests meanwhile)").choices([
        "inline",
        "thread-pool",
      ]),
    )
    .addHelpText("after", "\nExample:\n  durastream serve --store file://./data --port 8080\n  S2_ACCOUNT_ENDPOINT=http://localhost:8080 S2_BASIN_ENDPOINT=http://localhost:8080 (then use an S2 SDK)")
    .action(async (flags: ServeFlags) => {
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${flags.port}`);
      const accessToken = flags.accessToken ?? ctx.io.env.DURASTREAM_ACCESS_TOKEN;
      // Loaded here, not at the top: the other commands start without the server's modules.
      const { startServer } = await import("../../server/index.js");
      const server = await startServer({
        store: flags.store,
        logOptions: { storeOptions: { cwd: ctx.io.cwd, env: ctx.io.env }, ...(flags.walDatasync === undefined ? {} : { walDatasync: flags.walDatasync }) },
        host: flags.host,
        port,
        ...(accessToken === undefined || accessToken === "" ? {} : { accessToken }),
        ...(flags.accessLog === true ? { accessLog: (line: string) => ctx.note(line) } : {}),
      });
      await ctx.out.write(`durastream serve: listening on ${server.url}\n`);
      await ctx.out.flush();
      const stop = new AbortController();
      const onTerm = (): void => stop.abort();
      process.once("SIGTERM", onTerm);
      ctx.io.signal.addEventListener("abort", onTerm, { once: true });
      if (ctx.io.signal.aborted) stop.abort();
      try {
        await new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
        ctx.note("durastream serve: shutting down (finishing in-flight appends)");
        await server.close();
      } finally {
        process.off("SIGTERM", onTerm);
      }
    });
}
