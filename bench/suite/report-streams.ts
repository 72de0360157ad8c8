/**
 * The streams preset's report (bench/streams.ts): appends, catch-up reads and follow latency of
 * the stream API on LocalStore and on simulated S3 Standard.
 */
import { formatInt, formatNumber, type Column } from "../lib/table.js";
import { sizeName } from "./cases.js";
import { median, num, section, spreadCell, type Section, type Summary } from "./report-common.js";

const STORES: Record<string, string> = { local: "LocalStore (flushIntervalMs 5)", s3std: "simulated S3 Standard (flushIntervalMs 50)" };
const param = (s: Summary, name: string) => (s.spec.params as Record<string, number>)[name]!;

export function streamsSections(summaries: readonly Summary[]): Section[] {
  return [appendSection(summaries), scanSection(summaries), followSection(summaries)];
}

function appendSection(summaries: readonly Summary[]): Section {
  const rows = summaries.filter((s) => s.spec.info.group === "streams-append");
  const columns: Column<Summary>[] = [
    { header: "store", align: "left", cell: (s) => STORES[s.spec.info.system!]! },
    { header: "value", cell: (s) => sizeName(s.spec.info.valueBytes!) },
    { header: "records per append", cell: (s) => String(param(s, "batchRecords")) },
    { header: "appenders", cell: (s) => String(param(s, "writers")) },
    { header: "records/s [min–max]", cell: (s) => spreadCell(s, "recordsPerSec") },
    { header: "MiB/s", cell: num("mibPerSec") },
    { header: "p50 ms", cell: num("p50Ms") },
    { header: "p99 ms", cell: num("p99Ms") },
    { header: "store PUT/s", cell: num("putPerSec") },
  ];
  const note = "Closed loop: each appender awaits its ack before its next append. Latency from the call to `append()` to its ack.";
  return section("Appends", columns, rows, note);
}

function scanSection(summaries: readonly Summary[]): Section {
  const rows = summaries.filter((s) => s.spec.info.group === "streams-scan");
  const columns: Column<Summary>[] = [
    { header: "store", align: "left", cell: (s) => STORES[s.spec.info.system!]!.replace(/ \(.*\)/, "") },
    { header: "value", cell: (s) => sizeName(s.spec.info.valueBytes!) },
    { header: "records", cell: (s) => formatInt(param(s, "records")) },
    { header: "records/s [min–max]", cell: (s) => spreadCell(s, "scanRecordsPerSec") },
    { header: "MiB/s", cell: num("scanMiBPerSec") },
    { header: "first record ms", cell: num("firstRecordMs") },
    { header: "GETs", cell: num("scanGets") },
    { header: "reopen ms", cell: num("reopenMs") },
  ];
  const note = "Written in appends of 1,000 records, the Log closed and reopened, then the whole stream read once from seqNum 0.";
  return section("Catch-up read", columns, rows, note);
}

function followSection(summaries: readonly Summary[]): Section {
  const rows = summaries.filter((s) => s.spec.info.group === "streams-follow");
  const pair = (a: string, b: string) => (s: Summary) => `${formatNumber(median(s, a))} / ${formatNumber(median(s, b))}`;
  const columns: Column<Summary>[] = [
    { header: "store", align: "left", cell: (s) => STORES[s.spec.info.system!]! },
    { header: "appends/s", cell: (s) => String(param(s, "appendsPerSec")) },
    { header: "append → delivery p50 ms [min–max]", cell: (s) => spreadCell(s, "deliverP50Ms", formatNumber) },
    { header: "append → delivery p99 ms", cell: num("deliverP99Ms") },
    { header: "ack → delivery p50 / p99 ms", cell: pair("afterAckP50Ms", "afterAckP99Ms") },
    { header: "ack p50 / p99 ms", cell: pair("ackP50Ms", "ackP99Ms") },
  ];
  const note = "One process: one-record appends of 1 KiB at a steady rate (not waiting for acks) and a following read of the same stream. Ack → delivery can be negative: the follower may get a record before the appender's ack callback runs.";
  return section("Follow latency (same process)", columns, rows, note);
}
