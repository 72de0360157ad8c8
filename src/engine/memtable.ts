/**
 * The memtable: the newest writes, ordered by (key ascending, seq descending), in a B+tree
 * (`sorted-btree`). Every write goes here synchronously right after its batch is encoded for
 * the WAL; reads filter by seq, so entries that are not durable yet are never returned.
 *
 * A memtable only grows. When it reaches `l0SstBytes` the engine freezes it (no more adds)
 * and the L0 flusher writes it as an SST. Because entries are never removed, a scan can
 * resume after an await by seeking past the last (key, seq) it returned.
 */
import { createRequire } from "node:module";
import type * as btreeTypes from "sorted-btree";
import { InternalError, assert } from "../errors.js";
import { compareEntries, compareKeys, inRange, type Entry, type KeyRange } from "./entry.js";

type BTreeCtor = typeof btreeTypes.default.default;
// sorted-btree is CommonJS with a default export; load it the way Node resolves it.
const BTree = (createRequire(import.meta.url)("sorted-btree") as { default: BTreeCtor }).default;

/**
 * Heap bytes per entry on top of key and value bytes: the Entry object, two typed arrays with
 * their backing stores, and the tree slot. Measured on Node 20 (scratch: 200k entries with a
 * 25-byte key and a 3-byte value took 523 bytes each); `sizeBytes` must track real memory, since
 * it drives both the L0 size and the `maxUnflushedBytes` backpressure.
 */
const ENTRY_OVERHEAD_BYTES = 480;
/** Entries a scan takes from the tree per synchronous step. */
const SCAN_CHUNK_ENTRIES = 256;

export class Memtable {
  readonly #tree = new BTree<Entry, Entry>(undefined, compareEntries);
  #bytes = 0;
  #minSeq = Number.POSITIVE_INFINITY;
  #maxSeq = 0;
  #frozen = false;

  get sizeBytes(): number {
    return this.#bytes;
  }

  get entryCount(): number {
    return this.#tree.size;
  }

  /** Highest seq added (0 when empty). */
  get maxSeq(): number {
    return this.#maxSeq;
  }

  get minSeq(): number {
    return this.#tree.size === 0 ? 0 : this.#minSeq;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  freeze(): void {
    this.#frozen = true;
  }

  add(entry: Entry): void {
    assert(!this.#frozen, "add to a frozen memtable");
    if (!(entry.seq >= this.#maxSeq)) throw new InternalError(`memtable seq went back from ${this.#maxSeq} to ${entry.seq}`);
    const added = this.#tree.set(entry, entry, true);
    if (added) this.#bytes += entry.key.length + (entry.value?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
    this.#maxSeq = entry.seq;
    if (entry.seq < this.#minSeq) this.#minSeq = entry.seq;
  }

  /**
   * Yields entries in `range` with `seq <= maxSeq`, ascending (key asc, seq desc) or, with
   * `reverse`, keys descending (versions of one key in ascending seq order: the merge step
   * gathers all versions of a key, so their order within a key does not matter).
   */
  *scan(range: KeyRange, maxSeq: number, reverse = false): Generator<Entry[], void, void> {
    let cursor: Entry | undefined = reverse ? rangeHighCursor(range) : rangeLowCursor(range);
    let skipCursor = false;
    for (;;) {
      const chunk: Entry[] = [];
      let last: Entry | undefined;
      let done = true;
      const iterator = reverse ? this.#tree.entriesReversed(cursor) : this.#tree.entries(cursor);
      for (const [entry] of iterator) {
        if (skipCursor && cursor !== undefined && compareEntries(entry, cursor) === 0) continue;
        // Ascending, the cursor started at the range start: only the end can be passed.
        if (reverse ? !inRange(entry.key, range) : range.end !== undefined && compareKeys(entry.key, range.end) >= 0) {
          if (reverse ? range.start !== undefined && Buffer.compare(entry.key, range.start) < 0 : true) break;
          continue; // reverse scans start at the range end key itself, which is excluded
        }
        last = entry;
        if (entry.seq <= maxSeq) chunk.push(entry);
        if (chunk.length >= SCAN_CHUNK_ENTRIES) {
          done = false;
          break;
        }
      }
      if (chunk.length > 0) yield chunk;
      if (done || last === undefined) return;
      cursor = last;
      skipCursor = true;
    }
  }

  /** Every entry in order (for the L0 flush: the memtable is frozen then). */
  *entries(): Generator<Entry, void, void> {
    for (const [entry] of this.#tree.entries()) yield entry;
  }
}

/** The smallest (key, seq) at or after the range start: seq MAX sorts first for a key. */
function rangeLowCursor(range: KeyRange): Entry | undefined {
  return range.start === undefined ? undefined : { key: range.start, seq: Number.MAX_SAFE_INTEGER, value: null, expireAtMs: 0 };
}

/** For reverse scans: start at the range end (exclusive) with seq 0, the last position for that key. */
function rangeHighCursor(range: KeyRange): Entry | undefined {
  return range.end === undefined ? undefined : { key: range.end, seq: 0, value: null, expireAtMs: 0 };
}
