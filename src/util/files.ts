/**
 * The few file-system steps both local-disk writers share (store/local-store.ts and the segment
 * WAL's directory, engine/wal-files.ts): the errno of a failed call, a whole body written and
 * fsync'd before its handle closes, and a directory fsync that makes new or removed names durable.
 */
import { constants as fsConstants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

/** The errno code of a Node fs error ("ENOENT", ...), or undefined. */
export function errnoOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

/** Writes `bytes` as the file's whole content and fsyncs it; the handle is closed either way. */
export async function writeSyncedAndClose(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Fsyncs the directory `dir`, so that the names created, renamed or unlinked in it are durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
