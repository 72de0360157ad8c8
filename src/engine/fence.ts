/**
 * Writer fencing: how a new writer takes over a store root and stops every older one.
 *
 *   1. Read the newest manifest N and write N+1 with `writerEpoch + 1` (create-only). From now
 *      on an older writer's manifest writes conflict, and on re-reading it sees a higher epoch.
 *   2. Find the first free WAL id above `replayAfterWalId` and create a fence object there
 *      (wal-format.ts: magic, epoch and id). An older writer writes WAL ids one after another,
 *      so its next WAL PUT hits the fence and fails. If the id is taken (the old writer got
 *      there first), the object is replayed like any other and the fence moves to the next id.
 *   3. The caller replays WAL objects in (replayAfterWalId, fence) and writes from fence + 1.
 *
 * Which fences are kept (docs/decisions/0003-wal-fencing.md, "How many fences"): a fence at id F
 * stops the one writer whose next WAL id is F, the writer of F - 1 (ids are written one after
 * another). While that writer may still write, the fence stays forever (SlateDB issue 1622:
 * deleting one let a stalled writer's late PUT succeed at a garbage-collected id, and an
 * acknowledged write was lost). A writer that closes cleanly says so in its last manifest
 * (`cleanCloseNextWalId`: it wrote every id below and will write none again). When the next
 * writer's fence lands exactly there, the fence stops nobody: it is listed in the manifest's
 * `collectableFenceIds`, and the garbage collector deletes it once the replay point passes it.
 * So fences accumulate one per writer that did not close cleanly (a crash, a kill, a takeover).
 *
 * Versions before fences had a body wrote zero-byte fences. The first claim by this version
 * records in the manifest the highest WAL id that existed then (`zeroByteFencesThroughWalId`):
 * only up to it may a zero-byte object be an old fence; above it, it is a damaged WAL object.
 */
import { FencedError, PreconditionFailedError, StorageError } from "../errors.js";
import type { ObjectStore } from "../store/object-store.js";
import { MAX_EPOCH_CLAIM_ATTEMPTS } from "../limits.js";
import { emptyManifest } from "./manifest-format.js";
import { ManifestConflictError, readLatestManifest, writeNextManifest, type StoredManifest } from "./manifest-store.js";
import { WAL_PREFIX, parseId, walKey } from "./paths.js";
import { encodeWalFence } from "./wal-format.js";


/** A claimed epoch, and what the manifest it took over from says about the previous writer. */
export interface ClaimedEpoch {
  /** The manifest that holds our epoch. */
  claimed: StoredManifest;
  /**
   * Set when the previous writer (epoch `claimed.writerEpoch - 1`) closed cleanly: it wrote every
   * WAL id below this one and will never write again.
   */
  predecessorClosedAtWalId: number | undefined;
}

/** Step 1: bumps the writer epoch. */
export async function claimWriterEpoch(store: ObjectStore): Promise<ClaimedEpoch> {
  for (let attempt = 0; attempt < MAX_EPOCH_CLAIM_ATTEMPTS; attempt++) {
    const current = (await readLatestManifest(store)) ?? { id: 0, manifest: { ...emptyManifest(), zeroByteFencesThroughWalId: 0 } };
    const { cleanCloseNextWalId, ...m } = current.manifest;
    const zeroByteFencesThroughWalId = m.zeroByteFencesThroughWalId ?? (await highestWalId(store, m.replayAfterWalId));
    const next = { ...m, writerEpoch: m.writerEpoch + 1, zeroByteFencesThroughWalId };
    try {
      return { claimed: await writeNextManifest(store, current.id, next), predecessorClosedAtWalId: cleanCloseNextWalId };
    } catch (error) {
      if (!(error instanceof ManifestConflictError)) throw error;
    }
  }
  throw new StorageError(`could not claim the writer epoch after ${MAX_EPOCH_CLAIM_ATTEMPTS} attempts: other writers keep racing`, {
    retryable: true,
    outcome: "not_applied",
  });
}

/** Lists WAL ids strictly after `afterId`, ascending, with their sizes. */
export async function listWalIds(store: ObjectStore, afterId: number): Promise<{ id: number; size: number }[]> {
  const ids: { id: number; size: number }[] = [];
  for await (const entry of store.list(WAL_PREFIX, { startAfter: walKey(afterId) })) {
    const id = parseId(WAL_PREFIX, entry.key);
    if (id !== undefined && id > afterId) ids.push({ id, size: entry.size });
  }
  return ids;
}

/** The highest WAL id in the store (at least `afterId`): every zero-byte object up to it may be an older version's fence. */
async function highestWalId(store: ObjectStore, afterId: number): Promise<number> {
  return Math.max(afterId, ...(await listWalIds(store, afterId)).map((wal) => wal.id));
}

/**
 * Step 2: writes the fence above every listed WAL object and above `aboveWalId` (the highest
 * frame id of the segment WAL, segment-recovery.ts). Returns its id. Throws FencedError when a newer writer claimed
 * the root in the meantime.
 */
export async function writeWalFence(store: ObjectStore, ours: StoredManifest, aboveWalId = 0): Promise<number> {
  const listed = await listWalIds(store, ours.manifest.replayAfterWalId);
  let fenceId = Math.max(ours.manifest.replayAfterWalId, aboveWalId, ...listed.map((w) => w.id)) + 1;
  for (let attempt = 0; attempt < MAX_EPOCH_CLAIM_ATTEMPTS; attempt++) {
    try {
      await store.put(walKey(fenceId), encodeWalFence(ours.manifest.writerEpoch, fenceId), { ifNoneMatch: "*" });
      await assertStillOurs(store, ours);
      return fenceId;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      await assertStillOurs(store, ours);
      fenceId++;
    }
  }
  throw new StorageError(`could not place a WAL fence after ${MAX_EPOCH_CLAIM_ATTEMPTS} attempts`, { retryable: true });
}

/** Throws FencedError if a newer epoch than ours holds the store. */
export async function assertStillOurs(store: ObjectStore, ours: StoredManifest): Promise<void> {
  const latest = await readLatestManifest(store);
  if (latest !== undefined && latest.manifest.writerEpoch > ours.manifest.writerEpoch) {
    throw new FencedError(`epoch ${latest.manifest.writerEpoch} took over from our epoch ${ours.manifest.writerEpoch}`);
  }
}
