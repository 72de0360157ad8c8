/**
 * SST ids: where a writer epoch's ids start, and how a new SST gets a fresh one.
 *
 * SSTs are created create-only under ids that only grow. The manifest's `nextSstId` says which
 * ids a published manifest may refer to, but a writer can upload SSTs and never publish them: a
 * close, a crash or a fence in the middle of an L0 flush or a compaction leaves them above
 * `nextSstId`. A new epoch therefore starts past every SST that exists (one LIST above
 * `nextSstId`, normally empty), not at `nextSstId`: if it started there, each epoch would probe
 * the same leftovers again, and enough of them would wedge every flush (issue 16, defect 2).
 * Every id below the epoch's first id that no manifest references is an orphan the garbage
 * collector deletes (garbage-collector.ts): the writers that made them are fenced or gone.
 */
import { PreconditionFailedError, StorageError } from "../errors.js";
import { handOverBytes } from "../store/memory-store.js";
import type { ObjectStore } from "../store/object-store.js";
import type { SstHandle } from "./manifest-format.js";
import { SST_PREFIX, parseId, sstKey } from "./paths.js";
import { MAX_SST_ID_ATTEMPTS } from "../limits.js";

/** The lowest id above `fromId - 1` that is free and above every SST id that exists. */
export async function firstFreeSstId(store: ObjectStore, fromId: number): Promise<number> {
  let next = fromId;
  const startAfter = fromId > 0 ? sstKey(fromId - 1) : undefined;
  for await (const entry of store.list(SST_PREFIX, startAfter === undefined ? {} : { startAfter })) {
    const id = parseId(SST_PREFIX, entry.key);
    if (id !== undefined && id >= next) next = id + 1;
  }
  return next;
}

/** What `putNewSst` needs of the writer epoch: its id counter. */
export interface SstIdSource {
  nextSstId: number;
}

/**
 * Creates an SST under a fresh id (create-only, so no other writer's object is ever overwritten).
 * `bytes` (an SstBuilder's output) is handed over to the store: the caller never changes it again.
 */
export async function putNewSst(store: ObjectStore, ids: SstIdSource, bytes: Uint8Array, info: SstHandle["info"]): Promise<SstHandle> {
  for (let attempt = 0; attempt < MAX_SST_ID_ATTEMPTS; attempt++) {
    const id = ids.nextSstId++;
    try {
      await store.put(sstKey(id), handOverBytes(bytes), { ifNoneMatch: "*" });
      return { id, info };
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      ids.nextSstId = Math.max(ids.nextSstId, await firstFreeSstId(store, id + 1));
    }
  }
  throw new StorageError(`could not find a free SST id after ${MAX_SST_ID_ATTEMPTS} attempts: another process is writing SSTs here`, { retryable: true });
}
