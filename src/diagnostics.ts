/**
 * What a Log tells the world about its background life: a store that starts failing and
 * recovers, a background task's failure, a fence by another writer, a close. Appends and reads
 * report their own failures to their callers; these events have no caller to report to, and
 * were visible only through `health()` and `metrics()`.
 *
 * Each event goes two ways:
 *   - published on its `node:diagnostics_channel` channel (DIAGNOSTICS_CHANNELS), for APM tools
 *     and for anyone who subscribes; publishing with no subscriber costs nothing;
 *   - passed to the `logger` of `openLog()`, if one is given: any object with pino's
 *     `{ debug, info, warn, error }(fields, message)` methods (pino, bunyan-style, or a few lines
 *     around console), at the level each event names.
 */
import { channel } from "node:diagnostics_channel";

/** The `node:diagnostics_channel` channel names durastream publishes on, one per event. */
export const DIAGNOSTICS_CHANNELS = {
  /** A store call failed past `storeRetryDeadlineMs`: pending appends failed, the log is reopening. Level warn. */
  storeFailing: "durastream:store-failing",
  /** The log reopened after the store failed; appends are accepted again. Level info. */
  storeRecovered: "durastream:store-recovered",
  /** A background task failed and will be retried on its own (today: a garbage-collection pass). Level warn. */
  backgroundError: "durastream:background-error",
  /** Another writer opened the same store root: this log is fenced and closed. Level error. */
  fenced: "durastream:fenced",
  /** The log closed: `reason` "closed" (by `close()`) or "failed". Level info or error. */
  closed: "durastream:closed",
  /**
   * A group commit's fdatasync on the log's thread (walDatasync "inline") took `durationMs`, long
   * enough to call the disk stalled: the event loop waited all that time. The next group commits
   * wait on the thread pool for a minute. Level warn.
   */
  diskStalled: "durastream:disk-stalled",
} as const;

/** One event, as published on its channel and passed to the logger as its fields. */
export interface DiagnosticEvent {
  /** Which event: the key of DIAGNOSTICS_CHANNELS. */
  event: keyof typeof DIAGNOSTICS_CHANNELS;
  /** The store's description (`file:///...`, `s3://bucket/prefix`); never a credential. */
  store: string;
  /** The error behind the event, if there is one. */
  error?: unknown;
  /** backgroundError: which task failed. */
  task?: string;
  /** closed: why. */
  reason?: "closed" | "failed";
  /** diskStalled: how long the fdatasync took, in ms. */
  durationMs?: number;
}

/** A logger durastream can write to: pino's method shape, `(fields, message)`; every method is optional. */
export interface DurastreamLogger {
  /** Not used today; accepted so that a pino logger fits as it is. */
  debug?(fields: DiagnosticEvent, message: string): void;
  /** Recoveries and clean closes. */
  info?(fields: DiagnosticEvent, message: string): void;
  /** A failing store, a failed background task, a stalled disk. */
  warn?(fields: DiagnosticEvent, message: string): void;
  /** A fence, a log that failed. */
  error?(fields: DiagnosticEvent, message: string): void;
}

const LEVELS: Record<DiagnosticEvent["event"], "info" | "warn" | "error"> = {
  storeFailing: "warn",
  storeRecovered: "info",
  backgroundError: "warn",
  fenced: "error",
  closed: "info",
  diskStalled: "warn",
};

/** Publishes `event` on its channel and passes it to `logger` (a throwing logger is ignored: it must not break the log). */
export function emitDiagnostic(logger: DurastreamLogger | undefined, event: DiagnosticEvent, message: string): void {
  const target = channel(DIAGNOSTICS_CHANNELS[event.event]);
  if (target.hasSubscribers) target.publish(event);
  const level = event.event === "closed" && event.reason === "failed" ? "error" : LEVELS[event.event];
  try {
    logger?.[level]?.(event, message);
  } catch {
    // The logger's failure is the logger's: the log goes on.
  }
}

/** Checks a `logger` option: an object whose log methods, where given, are functions. */
export function isDurastreamLogger(value: unknown): value is DurastreamLogger {
  if (value === null || typeof value !== "object") return false;
  return (["debug", "info", "warn", "error"] as const).every((name) => {
    const method = (value as Record<string, unknown>)[name];
    return method === undefined || typeof method === "function";
  });
}
