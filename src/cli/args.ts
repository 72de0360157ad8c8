/**
 * Parsers for CLI option values: integers, times (ISO, epoch ms, or relative like `-5m`),
 * durations, retention, headers and output formats. Each throws commander's
 * InvalidArgumentError, so a bad value becomes one usage line and exit code 2.
 */
import { InvalidArgumentError } from "commander";
import { MAX_APPEND_RECORDS, type RetentionPolicy, type TimestampingMode } from "../index.js";

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A non-negative safe integer. */
export function parseCount(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError("expected a non-negative integer.");
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("the number is too large.");
  return n;
}

/** A positive safe integer. */
export function parsePositive(value: string): number {
  const n = parseCount(value);
  if (n === 0) throw new InvalidArgumentError("expected an integer of at least 1.");
  return n;
}

/** Records per append: 1..MAX_APPEND_RECORDS. */
export function parseBatchSize(value: string): number {
  const n = parsePositive(value);
  if (n > MAX_APPEND_RECORDS) throw new InvalidArgumentError(`at most ${MAX_APPEND_RECORDS} records per append.`);
  return n;
}

/** `500ms`, `30s`, `5m`, `2h`, `7d`, `1w` (a bare number is seconds): the duration in ms. */
export function parseDurationMs(value: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)?$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError("expected a duration such as 500ms, 30s, 5m, 2h, 7d or 1w.");
  const ms = Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? "s"] as number);
  if (!Number.isSafeInteger(Math.round(ms))) throw new InvalidArgumentError("the duration is too large.");
  return Math.round(ms);
}

/**
 * A point in time, in ms since the epoch: `now`, a relative time in the past (`-5m`, `-2h`,
 * `-1d`), an ISO 8601 date or date-time (`2025-01-31`, `2025-01-31T12:00:00Z`), or epoch ms.
 */
export function parseTime(value: string, nowMs: number): number {
  const text = value.trim();
  if (text === "now") return nowMs;
  if (text.startsWith("-")) return Math.max(0, nowMs - parseDurationMs(text.slice(1)));
  if (/^[0-9]+$/.test(text)) return parseCount(text);
  if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  throw new InvalidArgumentError("expected an ISO date-time (2025-01-31T12:00:00Z), epoch milliseconds, now, or a relative time such as -5m.");
}

/** `infinite`, or an age: `7d`, `12h`, `3600` (seconds). */
export function parseRetention(value: string): RetentionPolicy {
  if (value === "infinite") return "infinite";
  const ms = parseDurationMs(value);
  if (ms % 1000 !== 0 || ms === 0) throw new InvalidArgumentError("retention must be a whole number of seconds, at least 1s, or infinite.");
  return { ageSeconds: ms / 1000 };
}

export const TIMESTAMPING_MODES: readonly TimestampingMode[] = ["client-prefer", "client-require", "arrival"];

/** `name=value`: a header for every appended record (collects into a list). */
export function parseHeader(value: string, previous: [string, string][] = []): [string, string][] {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError("expected name=value with a non-empty name.");
  return [...previous, [value.slice(0, eq), value.slice(eq + 1)]];
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
