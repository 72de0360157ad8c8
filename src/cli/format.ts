/**
 * How the CLI prints things: records in the three read formats, acks, stream infos, aligned
 * tables, sizes, durations and the bench progress bar. Pure functions returning strings; the
 * commands decide where they go.
 *
 * Read formats:
 *   text  `<seqNum>\t<ISO timestamp>\t<body>`, the body as UTF-8 with `\`, newlines, CR and tabs
 *         escaped (`\\`, `\n`, `\r`, `\t`), so that one record is one line; headers are not shown
 *   json  one JSON object per line: seqNum, timestamp, time, headers (UTF-8 pairs) and body, or
 *         bodyBase64 instead of body when the body is not valid UTF-8
 *   raw   the body bytes as stored, then "\n": `read --format raw | durastream append` copies lines
 */
import type { AppendAck, ReadRecord, RetentionPolicy, StreamInfo } from "../index.js";

/** The output formats of `read`. */
export type RecordFormat = "text" | "json" | "raw";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder();

/** An ISO 8601 time for a timestamp in ms (or the number itself if it is out of Date's range). */
export function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

function escapeLine(text: string): string {
  return text.replace(/[\\\n\r\t]/g, (c) => (c === "\\" ? "\\\\" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\t"));
}

function strictText(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** One record as a text line (with its newline). */
export function recordTextLine(record: ReadRecord): string {
  return `${record.seqNum}\t${isoTime(record.timestamp)}\t${escapeLine(lenientUtf8.decode(record.body))}\n`;
}

/** One record as a JSON line (with its newline). */
export function recordJsonLine(record: ReadRecord): string {
  const body = strictText(record.body);
  const out: Record<string, unknown> = {
    seqNum: record.seqNum,
    timestamp: record.timestamp,
    time: isoTime(record.timestamp),
    headers: record.headers.map(([name, value]) => [lenientUtf8.decode(name), lenientUtf8.decode(value)]),
  };
  if (body === undefined) out.bodyBase64 = Buffer.from(record.body).toString("base64");
  else out.body = body;
  return `${JSON.stringify(out)}\n`;
}

/** One record's body followed by a newline, as bytes. */
export function recordRawLine(record: ReadRecord): Uint8Array {
  const out = new Uint8Array(record.body.length + 1);
  out.set(record.body);
  out[record.body.length] = 0x0a;
  return out;
}

/** An ack line: `seq 4..6 (3 records) 2025-...Z tail 7`. */
export function ackTextLine(ack: AppendAck): string {
  const count = ack.end.seqNum - ack.start.seqNum;
  const range = count === 1 ? `seq ${ack.start.seqNum}` : `seq ${ack.start.seqNum}..${ack.end.seqNum - 1}`;
  return `${range} (${count} record${count === 1 ? "" : "s"}) ${isoTime(ack.end.timestamp)} tail ${ack.tail.seqNum}\n`;
}

/** An ack as a JSON line. */
export function ackJsonLine(ack: AppendAck): string {
  return `${JSON.stringify(ack)}\n`;
}

/** `7d`, `12h`, `90s` or `infinite`. */
export function retentionText(retention: RetentionPolicy): string {
  if (retention === "infinite") return "infinite";
  const s = retention.ageSeconds;
  for (const [unit, size] of [["w", 604_800], ["d", 86_400], ["h", 3_600], ["m", 60]] as const) {
    if (s % size === 0) return `${s / size}${unit}`;
  }
  return `${s}s`;
}

/** A stream's config as `key: value` lines. */
export function streamInfoText(info: StreamInfo): string {
  const { retention, timestamping } = info.config;
  return [
    `stream:       ${info.name}`,
    `created:      ${isoTime(info.createdAtMs)}`,
    `retention:    ${retentionText(retention)}`,
    `timestamping: ${timestamping.mode}${timestamping.uncapped ? " (uncapped)" : ""}`,
    "",
  ].join("\n");
}

/** Columns padded to their widest cell; numeric-looking cells are right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => (row[c] ?? "").length)));
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((row) => /^-?[0-9.,]+( [A-Za-z/]+|k|M)?$|^-$/.test(row[c] ?? "")));
  const line = (row: readonly string[]) =>
    row
      .map((cell, c) => (numeric[c] === true ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  return `${all.map(line).join("\n")}\n`;
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `64.0 MiB`. */
export function bytesText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A rate with a k/M suffix: `950`, `12.3k`, `1.20M`. */
export function rateText(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(0);
}

/** A progress bar line for a terminal: `append [#######-------]  48%  4800/10000  12.3k/s`. */
export function progressBar(label: string, done: number, total: number, perSecond: number, width = 30): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(fraction * width);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${percent}  ${done}/${total}  ${rateText(perSecond)}/s`;
}
