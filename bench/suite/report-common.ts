/**
 * Pieces every report section of the suite shares: a section (title, optional note, columns,
 * rows) rendered as terminal text or Markdown, cell helpers that read a metric's median from a
 * case summary, and the S3 prices the cost columns use.
 */
import type { CaseSummary } from "../lib/runner.js";
import { formatInt, formatNumber, formatSpread, renderMarkdown, renderText, type Column } from "../lib/table.js";
import type { SuiteCase } from "./cases.js";

export type Summary = CaseSummary & { spec: SuiteCase };

export interface Section {
  title: string;
  note?: string;
  rowCount: number;
  render: (markdown: boolean) => string;
}

export function section<Row>(title: string, columns: Column<Row>[], rows: Row[], note?: string): Section {
  return { title, ...(note === undefined ? {} : { note }), rowCount: rows.length, render: (md) => (md ? renderMarkdown(columns, rows) : renderText(columns, rows)) };
}

/** Renders the sections that have rows (a filtered run leaves some empty). */
export function renderSections(sections: readonly Section[], markdown: boolean, level = "###"): string {
  return sections
    .filter((s) => s.rowCount > 0)
    .map((s) => {
      const title = markdown ? `${level} ${s.title}` : `== ${s.title}`;
      return [title, ...(s.note === undefined ? [] : [s.note]), "", s.render(markdown)].join(markdown ? "\n\n" : "\n").replace(/\n\n\n/g, "\n\n");
    })
    .join("\n\n");
}

export const median = (row: Summary | undefined, metric: string): number => row?.metrics[metric]?.median ?? Number.NaN;
export const maxOf = (row: Summary | undefined, metric: string): number => row?.metrics[metric]?.max ?? Number.NaN;

/** A number cell with the summary's failure count, or why nothing was measured. */
export function spreadCell(row: Summary | undefined, metric: string, format: (value: number) => string = formatInt): string {
  if (row === undefined) return "not run";
  if (row.okRuns === 0) return row.failedRuns > 0 ? `failed (${row.failedRuns} runs)` : "–";
  const failed = row.failedRuns > 0 ? ` (${row.failedRuns} failed)` : "";
  return formatSpread(row.metrics[metric], format) + failed;
}

export const num = (metric: string) => (row: Summary | undefined) => formatNumber(median(row, metric));

export function byId(summaries: readonly Summary[]): Map<string, Summary> {
  return new Map(summaries.map((s) => [s.spec.id, s]));
}

/** S3 Standard list prices (us-east-1) used by every cost column. DELETE is free. */
export const S3_PRICES = {
  /** PUT, COPY, POST and LIST: $0.005 per 1,000 requests. */
  putOrListPer1000: 0.005,
  /** GET, HEAD and other reads: $0.0004 per 1,000 requests. */
  getPer1000: 0.0004,
};
export const SECONDS_PER_MONTH = 30 * 24 * 3600;

export function requestCost(puts: number, gets: number, lists: number): number {
  return ((puts + lists) * S3_PRICES.putOrListPer1000 + gets * S3_PRICES.getPer1000) / 1000;
}

export function formatDollars(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value >= 100) return `$${formatInt(value)}`;
  if (value >= 0.01) return `$${value.toFixed(2)}`;
  return `$${value.toPrecision(2)}`;
}

export const PRICE_NOTE =
  "Prices: S3 Standard list prices, $0.005 per 1,000 PUT or LIST requests and $0.0004 per 1,000 GET or HEAD requests (DELETE is free); a month is 30 days. LIST counts one request per call plus one per 1,000 keys listed.";
