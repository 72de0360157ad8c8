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
import { MERGE_CHUNK_ENTRIES } from "../limits.js";

/** A source of entries in scan order, delivered in chunks. */
export type EntrySource = AsyncIterator<Entry[]> | Iterator<Entry[]>;

export interface MergeOptions {
  reverse: boolean;
  snapshotSeq: number;
  nowMs: () => number;
}

class Cursor {
  /** The chunk at hand and the position of the head in it (read directly by the merge's fast path). */
  chunk: Entry[] = [];
  index = 0;
  #done = false;

  constructor(private readonly source: EntrySource) {}

  get head(): Entry | undefined {
    return this.chunk[this.index];
  }

  /** Moves to the next entry; returns a promise only when a new chunk must be awaited. */
  advance(): Promise<void> | undefined {
    this.index++;
    return this.index < this.chunk.length ? undefined : this.fill();
  }

  /**
   * Takes chunks until one has entries or the source ends. A synchronous source (a memtable's
   * scan) is read without a promise, so that the merge goes on filling its output chunk instead
   * of handing on a short one as it does before it waits for an asynchronous source.
   */
  fill(): Promise<void> | undefined {
    while (!this.#done && this.index >= this.chunk.length) {
      let next: IteratorResult<Entry[]> | PromiseLike<IteratorResult<Entry[]>>;
      try {
        next = this.source.next();
      } catch (error) {
        return Promise.reject(error); // as from an asynchronous source: after the entries before it are handed on
      }
      if (isThenable(next)) return Promise.resolve(next).then((step) => this.#take(step) ?? this.fill());
      this.#take(next);
    }
    return undefined;
  }

  #take(step: IteratorResult<Entry[]>): undefined {
    if (step.done === true) {
      this.#done = true;
      this.chunk = [];
    } else {
      this.chunk = step.value;
    }
    this.index = 0;
    return undefined;
  }

  async close(): Promise<void> {
    this.#done = true;
    await this.source.return?.();
  }
}


function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === "function";
}

/**
 * Merges sources into the newest version of each key with `seq <= snapshotSeq`, tombstones
 * and expired versions included (compaction needs them), in key order, in chunks. A chunk is
 * handed on before the merge waits for a source to fetch more, so it never sits on ready data.
 *
 * Sources mostly hold disjoint runs of keys (a stream's records: the memtable has the newest,
 * each SST an older span), so each step first looks for a run of the leading source's chunk
 * that sorts before every other source's head: that run needs no merging, only picking each
 * key's newest visible version, and costs one key comparison per entry. Only keys that more
 * than one source may hold, and the last key of a chunk (its versions may go on in the next
 * chunk), go through the general step.
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
    while (active.length > 0) {
      const { lead, bound } = leadAndBound(active, direction);
      const stop = unmergedRunEnd(lead, bound, direction);
      if (stop > lead.index) {
        if (direction > 0) pushNewestVisibleAscending(lead.chunk, lead.index, stop, options.snapshotSeq, out);
        else pushNewestVisible(lead.chunk, lead.index, stop, options.snapshotSeq, out);
        lead.index = stop;
      } else {
        // The general step: every version of the smallest key, from every source that has it.
        const key = lead.head!.key;
        let best: Entry | undefined;
        for (const cursor of active) {
          for (let head = cursor.head; head !== undefined && compareKeys(head.key, key) === 0; head = cursor.head) {
            if (head.seq <= options.snapshotSeq && (best === undefined || head.seq > best.seq)) best = head;
            const pending = cursor.advance();
            if (pending === undefined) continue;
            if (out.length > 0) {
              // The fetch runs while the consumer holds `out` (or abandons the scan): its failure
              // must not go unobserved meanwhile (an unhandled rejection); it is awaited below.
              pending.catch(() => undefined);
              yield out;
              out = [];
            }
            await pending;
          }
        }
        if (best !== undefined) out.push(best);
        if (active.some((cursor) => cursor.head === undefined)) active = active.filter((cursor) => cursor.head !== undefined);
      }
      if (out.length >= MERGE_CHUNK_ENTRIES) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.all(cursors.map((cursor) => cursor.close()));
  }
}

/** The cursor whose head sorts first, and the first head among the others (undefined if none). */
function leadAndBound(active: Cursor[], direction: number): { lead: Cursor; bound: Uint8Array | undefined } {
  let lead = active[0]!;
  let bound: Uint8Array | undefined;
  for (let i = 1; i < active.length; i++) {
    const cursor = active[i]!;
    const key = cursor.head!.key;
    if (direction * compareKeys(key, lead.head!.key) < 0) {
      const leadKey = lead.head!.key;
      if (bound === undefined || direction * compareKeys(leadKey, bound) < 0) bound = leadKey;
      lead = cursor;
    } else if (bound === undefined || direction * compareKeys(key, bound) < 0) {
      bound = key;
    }
  }
  return { lead, bound };
}

/**
 * Where the run of `cursor`'s chunk that needs no merging ends: its entries from the head on
 * whose keys sort strictly before `bound` (every other source's head), minus the chunk's last
 * key when the run reaches the chunk's end (more versions of it may follow in the next chunk).
 */
function unmergedRunEnd(cursor: Cursor, bound: Uint8Array | undefined, direction: number): number {
  const { chunk, index } = cursor;
  let stop = chunk.length;
  if (bound !== undefined && direction * compareKeys(chunk[stop - 1]!.key, bound) >= 0) {
    // Binary search for the first entry at or past the bound (the head itself is before it).
    let lo = index;
    let hi = stop - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (direction * compareKeys(chunk[mid]!.key, bound) >= 0) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
  const lastKey = chunk[stop - 1]!.key;
  while (stop > index && equalKeys(chunk[stop - 1]!.key, lastKey)) stop--;
  return stop;
}

/** Pushes the newest version with seq <= snapshotSeq of each key in chunk[from, to) (whole key groups). */
function pushNewestVisible(chunk: Entry[], from: number, to: number, snapshotSeq: number, out: Entry[]): void {
  let groupKey: Uint8Array | undefined;
  let best: Entry | undefined;
  for (let i = from; i < to; i++) {
    const entry = chunk[i]!;
    if (groupKey === undefined || !equalKeys(entry.key, groupKey)) {
      if (best !== undefined) out.push(best);
      groupKey = entry.key;
      best = undefined;
    }
    // Versions of a key may come in either seq order (a memtable's reverse scan): keep the newest.
    if (entry.seq <= snapshotSeq && (best === undefined || entry.seq > best.seq)) best = entry;
  }
  if (best !== undefined) out.push(best);
}

/**
 * pushNewestVisible for an ascending scan, where every source gives a key's versions seq
 * descending (entry.ts): an entry whose seq is not below its predecessor's therefore starts a
 * new key, and only a drop in seq costs a key comparison. A stream's records, whose seqs never
 * drop along their keys, are grouped without comparing a single key (a catch-up scan spent a
 * tenth of the merge there).
 */
function pushNewestVisibleAscending(chunk: Entry[], from: number, to: number, snapshotSeq: number, out: Entry[]): void {
  let previous: Entry | undefined;
  let best: Entry | undefined;
  for (let i = from; i < to; i++) {
    const entry = chunk[i]!;
    if (previous !== undefined && (entry.seq >= previous.seq || !equalKeys(entry.key, previous.key))) {
      if (best !== undefined) out.push(best);
      best = undefined;
    }
    previous = entry;
    if (entry.seq <= snapshotSeq && (best === undefined || entry.seq > best.seq)) best = entry;
  }
  if (best !== undefined) out.push(best);
}

/**
 * Key equality, from the last byte: neighbouring keys of a scan share their prefix and mostly
 * differ near the end.
 */
function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** `newestVersionChunks`, one entry at a time (compaction's input). */
export function newestVersions(sources: EntrySource[], options: { reverse: boolean; snapshotSeq: number }): AsyncIterableIterator<Entry> {
  return flattenChunks(newestVersionChunks(sources, options));
}

/**
 * The items of `chunks` one at a time. An item from the chunk at hand costs one resolved
 * promise; an async generator's `yield*` costs several awaits per item, which for a scan of
 * small entries was a good part of the whole. Calls to next() made without waiting are answered
 * in order; return() ends `chunks`.
 */
export function flattenChunks<T>(chunks: AsyncIterator<T[]>): AsyncIterableIterator<T> {
  let chunk: T[] = [];
  let index = 0;
  let pulling: Promise<unknown> | undefined;
  const pull = async (): Promise<IteratorResult<T, undefined>> => {
    for (;;) {
      const step = await chunks.next();
      if (step.done === true) return { value: undefined, done: true };
      chunk = step.value;
      index = 0;
      if (index < chunk.length) return { value: chunk[index++]!, done: false };
    }
  };
  const iterator: AsyncIterableIterator<T> = {
    next(): Promise<IteratorResult<T, undefined>> {
      if (pulling !== undefined) return pulling.then(() => iterator.next());
      if (index < chunk.length) return Promise.resolve({ value: chunk[index++]!, done: false });
      const pending = pull();
      pulling = pending;
      const clear = (): void => {
        if (pulling === pending) pulling = undefined;
      };
      pending.then(clear, clear);
      return pending;
    },
    async return(): Promise<IteratorResult<T, undefined>> {
      chunk = [];
      index = 0;
      await pulling?.catch(() => undefined);
      await chunks.return?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** Merges sources into chunks of live entries: tombstones and versions expired at `nowMs()` hide their key. */
export async function* mergeSources(sources: EntrySource[], options: MergeOptions): AsyncGenerator<Entry[], void, void> {
  for await (const chunk of newestVersionChunks(sources, options)) {
    const nowMs = options.nowMs();
    const live = chunk.every((entry) => isLive(entry, nowMs)) ? chunk : chunk.filter((entry) => isLive(entry, nowMs));
    if (live.length > 0) yield live;
  }
}

function isLive(entry: Entry, nowMs: number): boolean {
  return entry.value !== null && !isExpired(entry, nowMs);
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

/**
 * For a floor seek (`Version.floorKey`): true when `key` sorts before `range`, or lies in it and
 * `isBelow(key)` holds. With `isBelow` monotone over the range (true for its first keys, false
 * from some key on), this is true for a prefix of all keys in order and false after, so a binary
 * search can find its last true key. `isBelow` only ever sees keys in the range.
 */
export function isAtOrBeforeFloor(key: Uint8Array, range: KeyRange, isBelow: (key: Uint8Array) => boolean): boolean {
  if (range.start !== undefined && compareKeys(key, range.start) < 0) return true;
  if (range.end !== undefined && compareKeys(key, range.end) >= 0) return false;
  return isBelow(key);
}

/** How many of the first `n` positions pass `test`, which holds for a prefix of them (a binary search). */
export function countWhile(n: number, test: (i: number) => boolean): number {
  let low = 0;
  let high = n;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (test(mid)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * A floor seek's state (`Version.floorKey`): of the keys offered (keys that some source holds),
 * the last in the range for which `isBelow` holds (`best`), and the first for which
 * `isAtOrBeforeFloor` fails (`bound`). The exact floor lies in [best, bound) (from the start of
 * the range, or to its end, while one is unknown): only a source whose keys reach into that
 * interval can improve on `best`.
 */
export class FloorSeek {
  best: Uint8Array | undefined;
  bound: Uint8Array | undefined;

  constructor(
    private readonly range: KeyRange,
    private readonly isBelow: (key: Uint8Array) => boolean,
  ) {}

  offer(key: Uint8Array | undefined): void {
    if (key === undefined) return;
    if (!isAtOrBeforeFloor(key, this.range, this.isBelow)) {
      if (this.bound === undefined || compareKeys(key, this.bound) < 0) this.bound = key;
    } else if (this.range.start === undefined || compareKeys(key, this.range.start) >= 0) {
      if (this.best === undefined || compareKeys(key, this.best) > 0) this.best = key;
    }
  }

  /** Whether a source holding keys in [first, last] may hold a key in (best, bound). */
  mayImprove(first: Uint8Array, last: Uint8Array): boolean {
    return (this.best === undefined || compareKeys(last, this.best) > 0) && (this.bound === undefined || compareKeys(first, this.bound) < 0);
  }

  /**
   * Offers an SST's index samples: the keys around the floor among its blocks' first and last
   * keys, found by binary search (in index order they ascend: first <= last <= next first).
   */
  offerBlocks(blocks: readonly { firstKey: Uint8Array; lastKey: Uint8Array }[]): void {
    const sample = (j: number): Uint8Array => (j % 2 === 0 ? blocks[j >>> 1]!.firstKey : blocks[j >>> 1]!.lastKey);
    const n = countWhile(2 * blocks.length, (j) => isAtOrBeforeFloor(sample(j), this.range, this.isBelow));
    if (n > 0) this.offer(sample(n - 1));
    if (n < 2 * blocks.length) this.offer(sample(n));
  }
}
