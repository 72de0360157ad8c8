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

/** Entries a merge hands on at a time (fewer async steps per entry for long scans). */
const MERGE_CHUNK_ENTRIES = 256;

/**
 * Merges sources into the newest version of each key with `seq <= snapshotSeq`, tombstones
 * and expired versions included (compaction needs them), in key order, in chunks. A chunk is
 * handed on before the merge waits for a source to fetch more, so it never sits on ready data.
 */
export async function* newestVersionChunks(
  sources: EntrySource[],
  options: { reverse: boolean; snapshotSeq: number },
): AsyncGenerator<Entry[], void, void> {
  const cursors = sources.map((source) => new Cursor(source));
  const direction = options.reverse ? -1 : 1;
  let out: Entry[] = [];
  try {
    await Promise.all(cursors.map((cursor) => cursor.fill()));
    let active = cursors.filter((cursor) => cursor.head !== undefined);
    while (active.length > 1) {
      let key: Uint8Array | undefined;
      for (const cursor of active) {
        const head = cursor.head!;
        if (key === undefined || direction * compareKeys(head.key, key) < 0) key = head.key;
      }
      let best: Entry | undefined;
      for (const cursor of active) {
        for (let head = cursor.head; head !== undefined && compareKeys(head.key, key!) === 0; head = cursor.head) {
          if (head.seq <= options.snapshotSeq && (best === undefined || head.seq > best.seq)) best = head;
          const pending = cursor.advance();
          if (pending === undefined) continue;
          if (out.length > 0) {
            yield out;
            out = [];
          }
          await pending;
        }
      }
      if (best !== undefined) out.push(best);
      if (out.length >= MERGE_CHUNK_ENTRIES) {
        yield out;
        out = [];
      }
      if (active.some((cursor) => cursor.head === undefined)) active = active.filter((cursor) => cursor.head !== undefined);
    }
    // One source left: no merging, only the newest visible version of each key (versions of a
    // key may come in either seq order, so the best of a key is pushed when the key changes).
    const last = active[0];
    let groupKey: Uint8Array | undefined;
    let groupBest: Entry | undefined;
    for (let head = last?.head; head !== undefined; head = last!.head) {
      if (groupKey === undefined || compareKeys(head.key, groupKey) !== 0) {
        if (groupBest !== undefined) out.push(groupBest);
        groupKey = head.key;
        groupBest = undefined;
      }
      if (head.seq <= options.snapshotSeq && (groupBest === undefined || head.seq > groupBest.seq)) groupBest = head;
      const pending = last!.advance();
      if (pending !== undefined) {
        if (out.length > 0) {
          yield out;
          out = [];
        }
        await pending;
      } else if (out.length >= MERGE_CHUNK_ENTRIES) {
        yield out;
        out = [];
      }
    }
    if (groupBest !== undefined) out.push(groupBest);
    if (out.length > 0) yield out;
  } finally {
    await Promise.all(cursors.map((cursor) => cursor.close()));
  }
}

/** `newestVersionChunks`, one entry at a time (compaction's input). */
export async function* newestVersions(
  sources: EntrySource[],
  options: { reverse: boolean; snapshotSeq: number },
): AsyncGenerator<Entry, void, void> {
  for await (const chunk of newestVersionChunks(sources, options)) yield* chunk;
}

/** Merges sources into chunks of live entries: tombstones and versions expired at `nowMs()` hide their key. */
export async function* mergeSources(sources: EntrySource[], options: MergeOptions): AsyncGenerator<Entry[], void, void> {
  for await (const chunk of newestVersionChunks(sources, options)) {
    const nowMs = options.nowMs();
    const live = chunk.filter((entry) => entry.value !== null && !isExpired(entry, nowMs));
    if (live.length > 0) yield live;
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
