/**
 * Which frozen memtables one L0 flush takes, and their entries merged in one order.
 *
 * The flusher writes the memtables waiting in line oldest first. When several small ones wait
 * (a small `l0SstBytes`, or memtables frozen early by a flush or close), it merges a prefix of
 * the line into one L0: the per-L0 costs (an SST PUT, a manifest write, an L0 slot the compactor
 * must empty) are paid once for all of them. The prefix keeps the L0 order intact: the merged
 * SST holds exactly the seqs of the memtables it replaces, all newer than every published L0
 * and older than every memtable left in line.
 */
import { compareEntries, type Entry } from "./entry.js";
import type { Memtable } from "./memtable.js";
import { L0_FLUSH_MERGE_FLOOR_BYTES, L0_FLUSH_MERGE_MAX_MEMTABLES } from "../limits.js";
import { assert } from "../errors.js";

/**
 * How many memtables from the front of `line` the next L0 takes: at least one, then more while
 * their sizes add up to at most max(`l0SstBytes`, L0_FLUSH_MERGE_FLOOR_BYTES), up to
 * L0_FLUSH_MERGE_MAX_MEMTABLES.
 */
export function flushBatchLength(line: readonly { memtable: Pick<Memtable, "sizeBytes"> }[], l0SstBytes: number): number {
  if (line.length === 0) return 0;
  const budgetBytes = Math.max(l0SstBytes, L0_FLUSH_MERGE_FLOOR_BYTES);
  let takenBytes = line[0]!.memtable.sizeBytes;
  let count = 1;
  while (count < line.length && count < L0_FLUSH_MERGE_MAX_MEMTABLES) {
    const nextBytes = line[count]!.memtable.sizeBytes;
    if (takenBytes + nextBytes > budgetBytes) break;
    takenBytes += nextBytes;
    count++;
  }
  return count;
}

/**
 * Every entry of `memtables` in entry order (key ascending, then seq descending), as one memtable
 * holding them all would yield them. The memtables hold disjoint seqs, so no two entries are equal.
 */
export function* mergeMemtableEntries(memtables: readonly Pick<Memtable, "entries">[]): Generator<Entry, void, void> {
  if (memtables.length === 1) {
    yield* memtables[0]!.entries();
    return;
  }
  const cursors = memtables.map((memtable) => memtable.entries());
  const heads: (Entry | undefined)[] = cursors.map((cursor) => cursor.next().value ?? undefined);
  let previous: Entry | undefined;
  for (;;) {
    let lowest = -1;
    for (let i = 0; i < heads.length; i++) {
      const head = heads[i];
      if (head !== undefined && (lowest < 0 || compareEntries(head, heads[lowest]!) < 0)) lowest = i;
    }
    if (lowest < 0) return;
    const entry = heads[lowest]!;
    assert(previous === undefined || compareEntries(previous, entry) < 0, "frozen memtables hold an entry twice (the same key and seq)");
    previous = entry;
    yield entry;
    heads[lowest] = cursors[lowest]!.next().value ?? undefined;
  }
}
