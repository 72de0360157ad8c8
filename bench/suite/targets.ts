/**
 * The performance targets of the benchmarks issue, each checked on the medians of one run of
 * the suite and written with its measured ratio (a miss is a finding, and says so):
 *
 *   conc64 1 KiB on LocalStore       >= 5x better-sqlite3 and classic-level; >= 0.8x the ideal
 *                                    LocalStore put loop; the ratio to raw append + fdatasync stated
 *   batch100 1 KiB on LocalStore     >= 0.8x the ideal put loop
 *   catch-up scan                    readBatches() >= lmdb's records/s, read() >= 0.7x (100 B and 1 KiB)
 *   simulated S3                     p50 ack latency <= one PUT latency (the model's median) +
 *                                    flushIntervalMs; WAL PUTs in any 1 s <= 1000 / flushIntervalMs
 */
import { formatNumber, formatRatio, type Column } from "../lib/table.js";
import { SHAPES, WRITE_SYSTEMS, type Shape } from "./cases.js";
import { byId, maxOf, median, section, type Section, type Summary } from "./report-common.js";
import { putMedianMs } from "./stores.js";

export interface TargetRow {
  target: string;
  measured: string;
  ratio: number;
  /** The ratio the target needs (at least, or at most when `atMost`); undefined: stated only. */
  threshold: number | undefined;
  atMost?: boolean;
}

export function verdict(row: TargetRow): string {
  if (row.threshold === undefined) return "stated";
  if (!Number.isFinite(row.ratio)) return "not measured";
  const met = row.atMost === true ? row.ratio <= row.threshold : row.ratio >= row.threshold;
  return met ? "met" : "MISSED";
}

export function targetRows(summaries: readonly Summary[]): TargetRow[] {
  const cases = byId(summaries);
  const rows: TargetRow[] = [];
  const versus = (target: string, a: string, b: string, threshold: number | undefined, metric = "recordsPerSec") => {
    const va = median(cases.get(a), metric);
    const vb = median(cases.get(b), metric);
    rows.push({ target, measured: `${formatNumber(va)} vs ${formatNumber(vb)} records/s`, ratio: va / vb, threshold });
  };
  for (const fi of [5, 0]) {
    const ds = `write/ds-local-fi${fi}/1KiB/conc64`;
    const label = `conc64 1 KiB, LocalStore flushIntervalMs ${fi}${fi === 5 ? " (default)" : ""}`;
    versus(`${label} vs better-sqlite3 (>= 5x)`, ds, "write/sqlite/1KiB/conc64", 5);
    versus(`${label} vs classic-level (>= 5x)`, ds, "write/level/1KiB/conc64", 5);
    versus(`${label} vs ideal LocalStore put loop (>= 0.8x)`, ds, "write/ideal-put/1KiB/conc64", 0.8);
    versus(`${label} vs raw append + fdatasync (stated)`, ds, "write/raw-append/1KiB/conc64", undefined);
  }
  for (const fi of [5, 0]) {
    versus(`batch100 1 KiB, LocalStore flushIntervalMs ${fi} vs ideal LocalStore put loop (>= 0.8x)`, `write/ds-local-fi${fi}/1KiB/batch100`, "write/ideal-put/1KiB/batch100", 0.8);
  }
  for (const size of ["100B", "1KiB"]) {
    versus(`catch-up scan of ${size} records, readBatches(), vs lmdb (>= 1x)`, `scan/ds-local-batches/${size}`, `scan/lmdb/${size}`, 1, "scanRecordsPerSec");
    versus(`catch-up scan of ${size} records, read() per record, vs lmdb (>= 0.7x)`, `scan/ds-local/${size}`, `scan/lmdb/${size}`, 0.7, "scanRecordsPerSec");
  }
  rows.push(...s3Rows(summaries));
  return rows;
}

/** Per simulated-S3 system: p50 ack latency per shape (worse of the two sizes), and the WAL PUT bound over all its cases. */
function s3Rows(summaries: readonly Summary[]): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const system of WRITE_SYSTEMS.filter((s) => s.store === "s3std" || s.store === "s3express")) {
    const fi = system.flushIntervalMs!;
    const boundMs = putMedianMs(system.store!) + fi;
    const mine = summaries.filter((s) => s.spec.info.system === system.id && s.spec.info.group === "write");
    for (const shape of Object.keys(SHAPES) as Shape[]) {
      const p50s = mine.filter((s) => s.spec.info.shape === shape).map((s) => median(s, "p50Ms"));
      const worst = Math.max(...p50s);
      rows.push({
        target: `${system.title}, ${shape}: p50 ack <= PUT median ${putMedianMs(system.store!)} ms + flushIntervalMs ${fi} = ${boundMs} ms`,
        measured: `p50 ${p50s.map(formatNumber).join(" ms (100 B) / ")} ms (1 KiB)`,
        ratio: worst / boundMs,
        threshold: 1,
        atMost: true,
      });
    }
    const maxPuts = Math.max(...mine.map((s) => maxOf(s, "walPutsMaxIn1s")));
    const bound = 1000 / fi;
    rows.push({
      target: `${system.title}: WAL PUTs in any 1 s <= 1000 / flushIntervalMs = ${bound} (all ${mine.length} workloads)`,
      measured: `at most ${formatNumber(maxPuts)} in a 1 s window; total PUT/s at most ${formatNumber(Math.max(...mine.map((s) => maxOf(s, "putPerSec"))))}`,
      ratio: maxPuts / bound,
      threshold: 1,
      atMost: true,
    });
  }
  return rows;
}

export function targetsSection(rows: TargetRow[]): Section {
  const columns: Column<TargetRow>[] = [
    { header: "target", align: "left", cell: (row) => row.target },
    { header: "measured (medians)", align: "left", cell: (row) => row.measured },
    { header: "ratio", cell: (row) => formatRatio(row.ratio) },
    { header: "verdict", align: "left", cell: verdict },
  ];
  return section("Targets (issue 5), measured in this run", columns, rows);
}
