/**
 * The read path: merges every source of a version (memtables, L0 SSTs newest first, sorted
 * runs newest first) into one ordered stream of live entries.
 *
 * For each key, the newest version with `seq <= snapshotSeq` wins; if it is a tombstone, or
 * expired at the time of the read, the key is hidden (an expired newer version never lets an
 * older one show through). Sources are pulled lazily, so SST blocks are fetched only as the
 * consumer advances.
 */
import { compareKeys, isExpired, type Entry, type KeyRange } from "./entry.js";

/** A source of entries in scan order, delivered in chunks. */
export type EntrySource = AsyncIterator<Entry[]> | Iterator<Entry[]>;

export interface MergeOptions {
  reverse: boolean;
  snapshotSeq: number;
  nowMs: () => number;
}

class Cursor {
  #chunk: Entry[] = [];
  #index = 0;
  #done = false;

  constructor(private readonly source: EntrySource) {}

  get head(): Entry | undefined {
    return this.#chunk[this.#index];
  }

  /** Moves to the next entry; returns a promise only when a new chunk must be fetched. */
  advance(): Promise<void> | undefined {
    this.#index++;
    return this.#index < this.#chunk.length ? undefined : this.fill();
  }

  async fill(): Promise<void> {
    while (!this.#done && this.#index >= this.#chunk.length) {
      const next = await this.source.next();
      if (next.done === true) {
        this.#done = true;
        this.#chunk = [];
      } else {
        this.#chunk = next.value;
      }
      this.#index = 0;
    }
  }

  async close(): Promise<void> {
    this.#done = true;
    await this.source.return?.();
  }
}

/**
 * Merges sources into the newest version of each key with `seq <= snapshotSeq`, tombstones
 * and expired versions included (compaction needs them), in key order.
 */
export async function* newestVersions(
  sources: EntrySource[],
  options: { reverse: boolean; snapshotSeq: number },
): AsyncGenerator<Entry, void, void> {
  const cursors = sources.map((source) => new Cursor(source));
  const direction = options.reverse ? -1 : 1;
  try {
    await Promise.all(cursors.map((cursor) => cursor.fill()));
    for (;;) {
      let key: Uint8Array | undefined;
      for (const cursor of cursors) {
        const head = cursor.head;
        if (head !== undefined && (key === undefined || direction * compareKeys(head.key, key) < 0)) key = head.key;
      }
      if (key === undefined) return;
      let best: Entry | undefined;
      for (const cursor of cursors) {
        for (let head = cursor.head; head !== undefined && compareKeys(head.key, key) === 0; head = cursor.head) {
          if (head.seq <= options.snapshotSeq && (best === undefined || head.seq > best.seq)) best = head;
          const pending = cursor.advance();
          if (pending !== undefined) await pending;
        }
      }
      if (best !== undefined) yield best;
    }
  } finally {
    await Promise.all(cursors.map((cursor) => cursor.close()));
  }
}

/** Merges sources into live entries: tombstones and versions expired at `nowMs()` hide their key. */
export async function* mergeSources(sources: EntrySource[], options: MergeOptions): AsyncGenerator<Entry, void, void> {
  for await (const entry of newestVersions(sources, options)) {
    if (entry.value !== null && !isExpired(entry, options.nowMs())) yield entry;
  }
}

/** Concatenates sources that cover disjoint, ordered key ranges (the SSTs of one sorted run). */
export async function* concatSources(parts: (() => AsyncIterable<Entry[]>)[]): AsyncGenerator<Entry[], void, void> {
  for (const part of parts) yield* part();
}

/** True when the SST with keys [first, last] can hold keys in `range`. */
export function overlaps(first: Uint8Array, last: Uint8Array, range: KeyRange): boolean {
  if (range.start !== undefined && compareKeys(last, range.start) < 0) return false;
  if (range.end !== undefined && compareKeys(first, range.end) >= 0) return false;
  return true;
}
