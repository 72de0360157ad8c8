/**
 * The memtable: the newest writes, ordered by (key ascending, seq descending). Every write goes
 * here synchronously right after its batch is encoded for the WAL; reads filter by seq, so
 * entries that are not durable yet are never returned.
 *
 * A memtable only grows. When it reaches `l0SstBytes` the engine freezes it (no more adds)
 * and the L0 flusher writes it as an SST. Because entries are never removed, a scan can
 * resume after an await by seeking past the last (key, seq) it returned.
 *
 * The entries sit in sorted chunks of at most CHUNK_MAX_ENTRIES (a two-level sorted array):
 *
 *   chunks: [ e0 e1 ... e511 ] [ e512 ... ] ... [ ... eN ]     each sorted, and in order
 *
 * An add finds its chunk by binary search over the chunks' last entries, then its slot in the
 * chunk, and splices it in (a full chunk splits in two). Most adds come in order per stream
 * (ascending seqs), so an entry that sorts right after the previous add with the same first key
 * byte goes next to it at the cost of two comparisons (a "finger" per first byte: the stream
 * layer's key kind). A full chunk added to at its end is followed by a new one instead of split,
 * and one added to in order in its middle (a stream's next record, in front of the index keys that
 * follow every record) is split right there, so that the next adds are pushes, not splices. This
 * replaced a B+tree (sorted-btree): an add cost about half as much, with fewer objects for the GC
 * to walk (bench/README.md, "Append path CPU").
 *
 * The chunks hold row numbers, not entries: an add puts the entry into the memtable's rows
 * (memtable-rows.ts: the key copied into slabs, a long value kept by reference to its buffer,
 * the rest in typed-array columns), so that the memtable is a few large objects, not four heap
 * objects per entry for the garbage collector to copy until the L0 flush. Scans and `entries`
 * hand out Entry objects whose key and value are views of the rows' bytes, which nothing
 * overwrites.
 *
 * Invariants: the chunks' concatenation is strictly ascending by compareEntries (an add of an
 * existing (key, seq) replaces it, as a later op of the same batch wins); no chunk is empty.
 */
import { assert } from "../errors.js";
import { compareKeys, inRange, type Entry, type KeyRange } from "./entry.js";
import { MemtableRows, ROW_OVERHEAD_BYTES } from "./memtable-rows.js";
import { countWhile, isAtOrBeforeFloor } from "./read-path.js";
import { SstSizeBound } from "./sst-format.js";

/** Entries a scan takes per synchronous step. */
const SCAN_CHUNK_ENTRIES = 256;
/** Most entries in one chunk: a splice moves at most this many slots; fewer chunks to search. */
const CHUNK_MAX_ENTRIES = 512;

/** A position: chunk index and index in it; `chunk === chunks.length` is the end. */
interface Position {
  chunk: number;
  index: number;
}

/** The position of a row added, and the row. */
interface Finger extends Position {
  row: number;
}

export class Memtable {
  readonly #rows = new MemtableRows();
  /** Row numbers in entry order. */
  readonly #chunks: number[][] = [];
  /**
   * Where the last add of each key's first byte put its row (the stream layer's key kind): one
   * stream's records keep their finger while its tail and index keys are added elsewhere. A
   * finger is trusted only while its row is still at its position.
   */
  readonly #fingers: (Finger | undefined)[] = new Array<Finger | undefined>(256);
  #count = 0;
  #bytes = 0;
  /** Bounds the L0 of this memtable, kept as entries arrive (a second pass at the flush cost more). */
  readonly #sstBound = new SstSizeBound();
  #minSeq = Number.POSITIVE_INFINITY;
  #maxSeq = 0;
  #frozen = false;
  /** Scans reading this memtable now (Version.scanChunks), and whether it was dropped (flushed, out of the read view). */
  #scans = 0;
  #dropped = false;

  /**
   * Memory held: its entries at `entryBytes` each. What its rows allocated and have not used yet
   * (the end of the last slab, the columns' room) is not counted: at most a slab (SLAB_MAX_BYTES)
   * and the columns' doubling, next to the l0SstBytes a memtable is flushed at.
   */
  get sizeBytes(): number {
    return this.#bytes;
  }

  get entryCount(): number {
    return this.#count;
  }

  /** Highest seq added (0 when empty). */
  get maxSeq(): number {
    return this.#maxSeq;
  }

  get minSeq(): number {
    return this.#count === 0 ? 0 : this.#minSeq;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  freeze(): void {
    this.#frozen = true;
  }

  /**
   * An upper bound of the size of an SST of any ordered subset of the entries (an L0 keeps the
   * newest version per key), with data blocks of `blockBytes`: `SstSizeBound` over every add.
   */
  sstSizeBound(blockBytes: number): number {
    return this.#sstBound.bytes(blockBytes);
  }

  /** What an entry of `key` and `value` adds to `sizeBytes` (the accounting of `add`). */
  static entryBytes(key: Uint8Array, value: Uint8Array | null): number {
    return key.length + (value?.length ?? 0) + ROW_OVERHEAD_BYTES;
  }

  /** Adds `entry` as a row: its key is copied, a value longer than VALUE_COPY_MAX_BYTES kept by reference (WriteOp). */
  add(entry: Entry): void {
    assert(!this.#frozen, "add to a frozen memtable");
    assert(entry.seq >= this.#maxSeq, () => `memtable seq went back from ${this.#maxSeq} to ${entry.seq}`);
    this.#sstBound.add(entry); // a replaced entry stays counted: the bound only grows
    const row = this.#rows.append(entry);
    if (this.#insert(row, entry.key, entry.seq)) {
      this.#count++;
      this.#bytes += Memtable.entryBytes(entry.key, entry.value);
    } else {
      this.#bytes += entry.key.length + (entry.value?.length ?? 0); // the replaced row's bytes stay in the slabs
    }
    this.#maxSeq = entry.seq;
    if (entry.seq < this.#minSeq) this.#minSeq = entry.seq;
  }

  /** Puts `row` (of `key`, `seq`) in order; false when it replaced a row with the same (key, seq). */
  #insert(row: number, key: Uint8Array, seq: number): boolean {
    const chunks = this.#chunks;
    const kind = key[0]!;
    if (chunks.length === 0) {
      chunks.push([row]);
      this.#fingers[kind] = { chunk: 0, index: 0, row };
      return true;
    }
    const afterFinger = this.#slotAfterFinger(kind, key, seq);
    let at = afterFinger ?? this.#bound(key, seq, false);
    if (at.chunk === chunks.length) at = { chunk: at.chunk - 1, index: chunks[at.chunk - 1]!.length };
    const chunk = chunks[at.chunk]!;
    if (at.index < chunk.length && this.#rows.compare(chunk[at.index]!, key, seq) === 0) {
      chunk[at.index] = row;
      this.#fingers[kind] = { chunk: at.chunk, index: at.index, row };
      return false;
    }
    let placed: Position = at;
    if (chunk.length < CHUNK_MAX_ENTRIES) {
      if (at.index === chunk.length) chunk.push(row);
      else chunk.splice(at.index, 0, row);
    } else if (at.index === chunk.length) {
      chunks.splice(at.chunk + 1, 0, [row]); // a full chunk is followed, not split: in-order adds keep chunks full
      placed = { chunk: at.chunk + 1, index: 0 };
    } else if (afterFinger !== undefined) {
      // An in-order add in front of other entries (a stream's next record before the timestamp
      // index keys that follow all records): split right here, so that the next adds of its kind
      // are pushes at a chunk's end instead of splices that shift those entries every time.
      chunks.splice(at.chunk + 1, 0, chunk.splice(at.index));
      chunk.push(row);
    } else {
      chunk.splice(at.index, 0, row);
      const half = chunk.length >>> 1;
      chunks.splice(at.chunk + 1, 0, chunk.splice(half));
      if (at.index >= half) placed = { chunk: at.chunk + 1, index: at.index - half };
    }
    this.#fingers[kind] = { chunk: placed.chunk, index: placed.index, row };
    return true;
  }

  /**
   * Where (`key`, `seq`) goes when it sorts right after the last row added with the same first
   * key byte and before the one that follows that (adds of one stream come in order): no search
   * then. Undefined otherwise.
   */
  #slotAfterFinger(kind: number, key: Uint8Array, seq: number): Position | undefined {
    const finger = this.#fingers[kind];
    if (finger === undefined) return undefined;
    const chunks = this.#chunks;
    const chunk = chunks[finger.chunk];
    if (chunk === undefined || chunk[finger.index] !== finger.row) return undefined; // moved since
    const rows = this.#rows;
    if (rows.compare(finger.row, key, seq) >= 0) return undefined;
    const next = finger.index + 1 < chunk.length ? chunk[finger.index + 1] : chunks[finger.chunk + 1]?.[0];
    if (next !== undefined && rows.compare(next, key, seq) <= 0) return undefined; // equal: #bound finds it to replace
    return { chunk: finger.chunk, index: finger.index + 1 };
  }

  /** The first position whose row is >= (`key`, `seq`) (or > it, with `after`). */
  #bound(key: Uint8Array, seq: number, after: boolean): Position {
    const chunks = this.#chunks;
    const rows = this.#rows;
    let low = 0;
    let high = chunks.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const chunk = chunks[mid]!;
      const order = rows.compare(chunk[chunk.length - 1]!, key, seq);
      if (order < 0 || (after && order === 0)) low = mid + 1;
      else high = mid;
    }
    if (low === chunks.length) return { chunk: low, index: 0 };
    const chunk = chunks[low]!;
    let from = 0;
    let to = chunk.length;
    while (from < to) {
      const mid = (from + to) >>> 1;
      const order = rows.compare(chunk[mid]!, key, seq);
      if (order < 0 || (after && order === 0)) from = mid + 1;
      else to = mid;
    }
    return { chunk: low, index: from };
  }

  /** The position before `at` (chunk -1 when there is none). */
  #before(at: Position): Position {
    if (at.index > 0) return { chunk: at.chunk, index: at.index - 1 };
    const chunk = at.chunk - 1;
    return { chunk, index: chunk < 0 ? 0 : this.#chunks[chunk]!.length - 1 };
  }

  /**
   * Yields entries in `range` with `seq <= maxSeq`, ascending (key asc, seq desc) or, with
   * `reverse`, keys descending (versions of one key in ascending seq order: the merge step
   * gathers all versions of a key, so their order within a key does not matter).
   */
  /** A scan starts reading this memtable: its values stay valid until the matching `endScan`. */
  beginScan(): void {
    assert(!this.#dropped, "a scan began on a memtable dropped from the read view");
    this.#scans++;
  }

  endScan(): void {
    assert(this.#scans > 0, "endScan without beginScan");
    if (--this.#scans === 0 && this.#dropped) this.#rows.releaseValues();
  }

  /**
   * The memtable was flushed and left the read view: its values kept by reference go back to
   * the slabs they came from (MemtableRows.releaseValues) once no scan reads it any more. Only a
   * scan between beginScan and endScan may read a dropped memtable; a point read copies what it
   * returns (Version.getNewest).
   */
  drop(): void {
    assert(!this.#dropped, "a memtable dropped twice");
    this.#dropped = true;
    if (this.#scans === 0) this.#rows.releaseValues();
  }

  *scan(range: KeyRange, maxSeq: number, reverse = false): Generator<Entry[], void, void> {
    let at = reverse ? this.#reverseStart(range) : range.start === undefined ? { chunk: 0, index: 0 } : this.#bound(range.start, Number.MAX_SAFE_INTEGER, false);
    for (;;) {
      const step = reverse ? this.#stepDown(at, range, maxSeq) : this.#stepUp(at, range, maxSeq);
      if (step.entries.length > 0) yield step.entries;
      if (step.last === undefined) return;
      // Entries may have been added while the consumer held the chunk: seek past the last one.
      const last = step.last;
      at = reverse ? this.#before(this.#bound(last.key, last.seq, false)) : this.#bound(last.key, last.seq, true);
    }
  }

  /** One step of an ascending scan from `at`; `last` is undefined when the scan is done. */
  #stepUp(at: Position, range: KeyRange, maxSeq: number): { entries: Entry[]; last: Entry | undefined } {
    const chunks = this.#chunks;
    const rows = this.#rows;
    const entries: Entry[] = [];
    for (let c = at.chunk, i = at.index; c < chunks.length; c++, i = 0) {
      const chunk = chunks[c]!;
      for (; i < chunk.length; i++) {
        const row = chunk[i]!;
        if (range.end !== undefined && rows.compare(row, range.end, Number.MAX_SAFE_INTEGER) > 0) return { entries, last: undefined };
        if (rows.seqOf(row) > maxSeq) continue;
        const entry = rows.entryOf(row);
        entries.push(entry);
        if (entries.length >= SCAN_CHUNK_ENTRIES) return { entries, last: entry };
      }
    }
    return { entries, last: undefined };
  }

  /** Where a reverse scan starts: the last row at or before (range end, seq 0), or the very last. */
  #reverseStart(range: KeyRange): Position {
    if (range.end === undefined) {
      const chunk = this.#chunks.length - 1;
      return { chunk, index: chunk < 0 ? 0 : this.#chunks[chunk]!.length - 1 };
    }
    return this.#before(this.#bound(range.end, 0, true));
  }

  /** One step of a descending scan from `at`; `last` is undefined when the scan is done. */
  #stepDown(at: Position, range: KeyRange, maxSeq: number): { entries: Entry[]; last: Entry | undefined } {
    const chunks = this.#chunks;
    const rows = this.#rows;
    const entries: Entry[] = [];
    for (let c = at.chunk, i = at.index; c >= 0; c--, i = c >= 0 ? chunks[c]!.length - 1 : 0) {
      const chunk = chunks[c]!;
      for (; i >= 0; i--) {
        const row = chunk[i]!;
        const key = rows.keyOf(row);
        if (!inRange(key, range)) {
          if (range.start !== undefined && compareKeys(key, range.start) < 0) return { entries, last: undefined };
          continue; // the range end key itself, where a reverse scan starts, is excluded
        }
        if (rows.seqOf(row) > maxSeq) continue;
        const entry = rows.entryOf(row);
        entries.push(entry);
        if (entries.length >= SCAN_CHUNK_ENTRIES) return { entries, last: entry };
      }
    }
    return { entries, last: undefined };
  }

  /**
   * The last key of `range` with a version at `seq <= maxSeq` for which `isBelow` holds, found by
   * binary search (undefined when there is none). `isBelow` must be monotone over the range: true
   * for its first keys, false from some key on (Version.floorKey).
   */
  floorKey(range: KeyRange, maxSeq: number, isBelow: (key: Uint8Array) => boolean): Uint8Array | undefined {
    const chunks = this.#chunks;
    const rows = this.#rows;
    const atOrBefore = (row: number): boolean => isAtOrBeforeFloor(rows.keyOf(row), range, isBelow);
    const c = countWhile(chunks.length, (i) => atOrBefore(chunks[i]![0]!)) - 1;
    if (c < 0) return undefined;
    let at: Position = { chunk: c, index: countWhile(chunks[c]!.length, (i) => atOrBefore(chunks[c]![i]!)) - 1 };
    // Versions written but not durable yet sort in among the others: step back over them.
    while (at.chunk >= 0 && rows.seqOf(chunks[at.chunk]![at.index]!) > maxSeq) at = this.#before(at);
    const key = at.chunk >= 0 ? rows.keyOf(chunks[at.chunk]![at.index]!) : undefined;
    return key !== undefined && inRange(key, range) ? key : undefined;
  }

  /** Every entry in order (for the L0 flush: the memtable is frozen then). */
  *entries(): Generator<Entry, void, void> {
    const rows = this.#rows;
    for (const chunk of this.#chunks) for (const row of chunk) yield rows.entryOf(row);
  }
}
