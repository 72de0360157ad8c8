/**
 * Tables for bench reports: one set of rows rendered either as aligned plain text for the
 * terminal or as a GitHub Markdown table for bench/README.md, plus the number formats the
 * reports share (thousands separators, ms with sensible precision, median [min–max]).
 */
import type { Spread } from "./stats.js";

export interface Column<Row> {
  header: string;
  /** Numbers read best right-aligned. Default "right". */
  align?: "left" | "right";
  cell: (row: Row) => string;
}

export function renderText<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((column) => column.cell(row)));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => line[i]!.length)));
  const pad = (text: string, i: number) => (columns[i]!.align === "left" ? text.padEnd(widths[i]!) : text.padStart(widths[i]!));
  const lines = [columns.map((column, i) => pad(column.header, i)).join("  "), widths.map((w) => "-".repeat(w)).join("  ")];
  for (const line of cells) lines.push(line.map(pad).join("  "));
  return lines.join("\n");
}

export function renderMarkdown<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const escape = (text: string) => text.replace(/\|/g, "\\|");
  const lines = [
    `| ${columns.map((column) => escape(column.header)).join(" | ")} |`,
    `|${columns.map((column) => (column.align === "left" ? "---" : "---:")).join("|")}|`,
  ];
  for (const row of rows) lines.push(`| ${columns.map((column) => escape(column.cell(row))).join(" | ")} |`);
  return lines.join("\n");
}

/** 12345.6 -> "12,346"; NaN -> "–". */
export function formatInt(value: number): string {
  if (!Number.isFinite(value)) return "–";
  return Math.round(value).toLocaleString("en-US");
}

/** Three significant digits below 100, whole numbers above: 0.267, 12.4, 187. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 100) return formatInt(value);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/** "median [min–max]" with the given number format. */
export function formatSpread(s: Spread | undefined, format: (value: number) => string = formatInt): string {
  if (s === undefined || s.n === 0) return "–";
  if (s.n === 1) return format(s.median);
  return `${format(s.median)} [${format(s.min)}–${format(s.max)}]`;
}

/** A ratio like "0.83x". */
export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : "–";
}
