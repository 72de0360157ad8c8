/**
 * Named failpoints: places in the code where a test can make a step fail, to prove that every
 * kind of failure takes the one route it must (SlateDB names its failpoints the same way).
 *
 * In production nothing is armed and `failpoint()` is one comparison. A test arms a point with
 * `armFailpoint(name, action)`; the action usually throws an InternalError, as a broken
 * invariant at that site would, and the returned function disarms it.
 */

/** The sites, each named after the file and step it sits in. */
export type FailpointName =
  | "stream.validate" // stream/validate.ts: an append was validated and encoded, not yet handed to its streamer
  | "streamer.commit" // stream/streamer.ts: a batch was written to the engine, its reply not yet queued
  | "engine.write" // engine/engine.ts: a batch is in the memtable, not yet in the WAL buffer
  | "wal.flushed" // engine/wal-writer.ts: a WAL object was stored, the watermark not yet moved
  | "flusher.publish" // engine/memtable-flusher.ts: an L0 was stored, the manifest not yet written
  | "compactor.merge"; // engine/compactor.ts: a compaction merges its inputs

let armed: Map<FailpointName, () => void> | undefined;

/** Runs the action armed at `name`, if any (it may throw: that is the failure injected). */
export function failpoint(name: FailpointName): void {
  if (armed === undefined) return;
  armed.get(name)?.();
}

/** Tests only: arms `name` with `action` until the returned function is called. */
export function armFailpoint(name: FailpointName, action: () => void): () => void {
  armed ??= new Map();
  armed.set(name, action);
  return () => {
    armed?.delete(name);
    if (armed?.size === 0) armed = undefined;
  };
}
