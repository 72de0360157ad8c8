/**
 * `durastream inspect <store-url>`: the store's layout (inspectStore): the newest manifest's
 * state, every WAL object and SST with sizes, levels and key ranges. --verify reads every object
 * and checks every checksum; any problem makes the exit code 1, with one line per problem on
 * stderr. It only reads the store (no Log is opened), so it is safe next to a live writer.
 */
import { Option, type Command } from "commander";
import { inspectStore, openStore, type StoreInspection } from "../../index.js";
import { EXIT_FAILURE, type CliContext } from "../context.js";
import { bytesText, table } from "../format.js";

export function registerInspect(program: Command, ctx: CliContext): void {
  program
    .command("inspect")
    .description("show the store's manifest, WAL objects and SSTs; --verify checks every checksum (read-only)")
    .argument("<store-url>", "the log's store, e.g. file://./data")
    .option("--verify", "read every object and check every checksum")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExample:\n  durastream inspect file://./data --verify")
    .action(async (url: string, options: { verify?: boolean; format: "text" | "json" }) => {
      const store = openStore(url, { cwd: ctx.io.cwd, env: ctx.io.env });
      let report: StoreInspection;
      try {
        report = await inspectStore(store, { verify: options.verify === true });
      } finally {
        await store.close?.();
      }
      await ctx.out.write(options.format === "json" ? `${JSON.stringify(report)}\n` : inspectionText(report));
      await ctx.out.flush();
      for (const problem of report.problems) ctx.note(`durastream: ${problem.key}: ${problem.message} (code ${problem.code})`);
      if (report.problems.length > 0) ctx.exitCode = EXIT_FAILURE;
    });
}

/** The inspection as sections of aligned tables. */
export function inspectionText(report: StoreInspection): string {
  const parts: string[] = [];
  const m = report.manifest;
  parts.push(
    m === undefined
      ? "manifest: none (an empty store, or see the problems below)\n"
      : [
          `manifest:         ${m.key} (${bytesText(m.sizeBytes)}; ${report.manifests.length} manifest object${report.manifests.length === 1 ? "" : "s"})`,
          `writer epoch:     ${m.writerEpoch}`,
          `replay after WAL: ${m.replayAfterWalId} (next WAL id ${m.nextWalId})`,
          `last L0 seq:      ${m.lastL0Seq}`,
          `SSTs:             ${m.l0Count} in L0, ${m.sortedRunCount} sorted run${m.sortedRunCount === 1 ? "" : "s"} (next SST id ${m.nextSstId})`,
          "",
        ].join("\n"),
  );
  parts.push(`\nWAL objects (${report.wal.length}):\n`);
  if (report.wal.length > 0) {
    parts.push(
      table(
        ["KEY", "SIZE", "STATE", "EPOCH", "BATCHES", "SEQS"],
        report.wal.map((w) => [w.key, bytesText(w.sizeBytes), w.state, opt(w.writerEpoch), opt(w.batches), w.firstSeq === undefined ? "-" : `${w.firstSeq}..${w.lastSeq}`]),
      ),
    );
  }
  if (report.segments.length > 0) {
    parts.push(`\nWAL segments (${report.segments.length}):\n`);
    parts.push(
      table(
        ["FILE", "SIZE", "STATE", "EPOCH", "FRAMES", "WAL IDS", "SEQS"],
        report.segments.map((s) => [
          s.name,
          bytesText(s.sizeBytes),
          s.state,
          String(s.writerEpoch),
          String(s.frames),
          s.firstWalId === undefined ? "-" : `${s.firstWalId}..${s.lastWalId}`,
          s.firstSeq === undefined ? "-" : `${s.firstSeq}..${s.lastSeq}`,
        ]),
      ),
    );
  }
  parts.push(`\nSSTs (${report.ssts.length}):\n`);
  if (report.ssts.length > 0) {
    parts.push(
      table(
        ["KEY", "SIZE", "LEVEL", "ENTRIES", "SEQS", "FIRST KEY", "LAST KEY"],
        report.ssts.map((s) => [
          s.key,
          bytesText(s.sizeBytes),
          s.level === "run" ? `run ${s.runId}` : s.level,
          opt(s.entryCount),
          s.minSeq === undefined ? "-" : `${s.minSeq}..${s.maxSeq}`,
          s.firstKey?.text ?? "-",
          s.lastKey?.text ?? "-",
        ]),
      ),
    );
  }
  if (report.other.length > 0) parts.push(`\nOther objects (ignored): ${report.other.map((o) => o.key).join(", ")}\n`);
  parts.push(`\ntotal: ${report.manifests.length + report.wal.length + report.ssts.length + report.other.length} objects, ${bytesText(report.totalBytes)}\n`);
  if (report.verified) {
    const vanished = report.vanished > 0 ? `; ${report.vanished} deleted by the writer meanwhile` : "";
    const verdict = report.problems.length === 0 ? "all checksums ok" : `${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}`;
    parts.push(`verify: ${report.checkedObjects} objects, ${bytesText(report.checkedBytes)} read; ${verdict}${vanished}\n`);
  }
  return parts.join("");
}

function opt(value: number | undefined): string {
  return value === undefined ? "-" : String(value);
}
