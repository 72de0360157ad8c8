/**
 * Reading and writing manifests. A manifest version is committed by creating
 * `manifest/<id + 1>` create-only: of two writers racing for the same id exactly one wins,
 * and the loser re-reads. After a successful write the writer checks that no higher id exists,
 * because a stalled writer's create-only PUT can succeed on an id that garbage collection has
 * already deleted (SlateDB RFC-0026); such a write is not the newest and must not be trusted.
 */
import { NotFoundError, PreconditionFailedError, StorageError } from "../errors.js";
import type { ObjectStore } from "../store/object-store.js";
import { decodeManifest, encodeManifest, type Manifest } from "./manifest-format.js";
import { MANIFEST_PREFIX, manifestKey, parseId } from "./paths.js";
import { MANIFEST_READ_LIST_RACES } from "../limits.js";

export interface StoredManifest {
  id: number;
  manifest: Manifest;
}

export class ManifestConflictError extends Error {
  constructor(readonly id: number) {
    super(`manifest ${id} already exists`);
  }
}

/** Lists manifest ids in ascending order. */
export async function listManifestIds(store: ObjectStore): Promise<number[]> {
  const ids: number[] = [];
  for await (const entry of store.list(MANIFEST_PREFIX)) {
    const id = parseId(MANIFEST_PREFIX, entry.key);
    if (id !== undefined) ids.push(id);
  }
  return ids;
}

/** The newest manifest, or undefined for an empty store. */
export async function readLatestManifest(store: ObjectStore): Promise<StoredManifest | undefined> {
  for (let race = 0; race < MANIFEST_READ_LIST_RACES; race++) {
    const ids = await listManifestIds(store);
    const id = ids[ids.length - 1];
    if (id === undefined) return undefined;
    try {
      return { id, manifest: decodeManifest(manifestKey(id), await store.get(manifestKey(id))) };
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      // Deleted between LIST and GET: a newer one exists; list again.
    }
  }
  throw new StorageError("manifests kept disappearing while being read", { retryable: true });
}

/**
 * Writes `next` as version `current.id + 1`. Throws ManifestConflictError when that id is
 * taken, or when a higher id exists afterwards (the write landed behind the newest manifest).
 */
export async function writeNextManifest(store: ObjectStore, currentId: number, next: Manifest): Promise<StoredManifest> {
  const id = currentId + 1;
  try {
    await store.put(manifestKey(id), encodeManifest(next, id), { ifNoneMatch: "*" });
  } catch (error) {
    if (error instanceof PreconditionFailedError) throw new ManifestConflictError(id);
    throw error;
  }
  for await (const entry of store.list(MANIFEST_PREFIX, { startAfter: manifestKey(id) })) {
    if (parseId(MANIFEST_PREFIX, entry.key) !== undefined) throw new ManifestConflictError(id);
  }
  return { id, manifest: next };
}
