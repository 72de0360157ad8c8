/**
 * The engine's unit of data: one version of one key.
 *
 * Every source (memtable, L0 SST, sorted run) holds entries ordered by key ascending and, for
 * equal keys, by seq descending (newest version first). A read merges sources and keeps the
 * newest version with `seq <= durableSeq`; a tombstone (value null) or an expired version
 * hides every older version of its key.
 */
import { KEY_JS_COMPARE_MAX_BYTES } from "../limits.js";

export interface Entry {
  /** The user key (raw bytes). Never empty. */
  key: Uint8Array;
  /** The engine sequence number of the batch that wrote this version. A safe integer >= 1. */
  seq: number;
  /** The value, or null for a tombstone (delete). */
  value: Uint8Array | null;
  /** Milliseconds since the epoch after which the version is expired; 0 means it never expires. */
  expireAtMs: number;
}

/** Byte-wise comparison of two keys (memcmp order). Hot: every memtable insert and merge step. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length > KEY_JS_COMPARE_MAX_BYTES || b.length > KEY_JS_COMPARE_MAX_BYTES) return Buffer.compare(a, b);
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Entry order: key ascending, then seq descending. */
export function compareEntries(a: Entry, b: Entry): number {
  return compareKeys(a.key, b.key) || b.seq - a.seq;
}

/** True when the version is expired at `nowMs`. */
export function isExpired(entry: Entry, nowMs: number): boolean {
  return entry.expireAtMs !== 0 && entry.expireAtMs <= nowMs;
}

/** A key range: `start` inclusive, `end` exclusive; either may be omitted (unbounded). */
export interface KeyRange {
  start?: Uint8Array;
  end?: Uint8Array;
}

export function inRange(key: Uint8Array, range: KeyRange): boolean {
  if (range.start !== undefined && compareKeys(key, range.start) < 0) return false;
  if (range.end !== undefined && compareKeys(key, range.end) >= 0) return false;
  return true;
}
