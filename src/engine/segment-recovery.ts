/**
 * Taking over the segment WAL at open: seal older epochs, read their frames, and later make the
 * replayed ones durable. Decision page: docs/decisions/0005-segment-wal.md (the proof sketch).
 *
 *   1. list the directory; for every older epoch that has a segment or spare file, create
 *      `seal-<epoch>` (create-only, fsync'd, then one directory fsync): from now on that epoch's
 *      writer acks nothing (it checks its seal after every fdatasync, before it acks);
 *   2. list again (segments created before the seal are all listed now) and read every older
 *      segment: its frames from offset 0 up to the first that does not check out;
 *   3. the caller places the WAL fence object above every frame and object id, replays ids
 *      (replayAfterWalId, fence) (an object wins over a frame with the same id: the frame is a
 *      late write of a sealed writer), then calls `syncReplayed` before it acks anything: frames
 *      read from the page cache that their writer never fdatasync'd become durable, so no power
 *      cut can leave a seq gap under the new writer's first acked seq.
 */
import { CorruptionError } from "../errors.js";
import {
  ACK_PREFIX,
  ackName,
  encodeAck,
  decodeSegment,
  epochOfGeneration,
  parseWalFileName,
  sealName,
  SEAL_PREFIX,
  SEGMENT_PREFIX,
  SPARE_PREFIX,
  type Frame,
} from "./segment-format.js";
import type { WalDirectory } from "./wal-files.js";
import type { WalBatch } from "./wal-format.js";

/** A frame found at takeover, above the replay point. */
export interface ScannedFrame {
  walId: number;
  batches: WalBatch[];
  maxSeq: number;
  segment: string;
}

/** A file of an older epoch, removable once the replay point covers `maxWalId`. */
export interface ForeignWalFile {
  name: string;
  writerEpoch: number;
  /** Highest frame id in it (0 for a spare or a segment without frames). */
  maxWalId: number;
}

export interface SegmentTakeover {
  /** Frames with walId > replayAfterWalId, by walId. */
  frames: Map<number, ScannedFrame>;
  /** Highest frame id seen (any, also at or below the replay point); 0 when none. */
  maxWalId: number;
  /** Files of older epochs, for the garbage collector. */
  foreign: ForeignWalFile[];
  /** Epochs sealed by this takeover. */
  sealedEpochs: number[];
  /** Older epochs with an ack file, for the garbage collector (removed once their files are gone). */
  ackEpochs: number[];
}

/** Steps 1 and 2 above. `ourEpoch` is the epoch just claimed in the manifest. */
export async function takeOverSegments(
  dir: WalDirectory,
  options: { ourEpoch: number; replayAfterWalId: number; cleanlyClosedEpochs?: readonly number[] },
): Promise<SegmentTakeover> {
  const sealedEpochs = await sealOlderEpochs(dir, options.ourEpoch, new Set(options.cleanlyClosedEpochs));
  const frames = new Map<number, ScannedFrame>();
  const foreign: ForeignWalFile[] = [];
  const ackEpochs: number[] = [];
  let maxWalId = 0;
  for (const name of (await dir.list()).sort()) {
    const ack = parseWalFileName(ACK_PREFIX, name);
    if (ack !== undefined && ack < options.ourEpoch) ackEpochs.push(ack);
    const spare = parseWalFileName(SPARE_PREFIX, name);
    if (spare !== undefined && epochOfGeneration(spare) < options.ourEpoch) foreign.push({ name, writerEpoch: epochOfGeneration(spare), maxWalId: 0 });
    const generation = parseWalFileName(SEGMENT_PREFIX, name);
    if (generation === undefined || epochOfGeneration(generation) >= options.ourEpoch) continue;
    const segmentFrames = await readSegment(dir, name, generation);
    const last = segmentFrames.at(-1)?.walId ?? 0;
    foreign.push({ name, writerEpoch: epochOfGeneration(generation), maxWalId: last });
    maxWalId = Math.max(maxWalId, last);
    for (const frame of segmentFrames) {
      if (frame.walId <= options.replayAfterWalId) continue;
      const other = frames.get(frame.walId);
      if (other !== undefined) {
        throw new CorruptionError(`${dir.description}/${name}`, `WAL id ${frame.walId} is also in ${other.segment}: two epochs wrote one id`);
      }
      frames.set(frame.walId, { walId: frame.walId, batches: frame.batches, maxSeq: frame.batches.at(-1)?.seq ?? 0, segment: name });
    }
  }
  return { frames, maxWalId, foreign, sealedEpochs, ackEpochs };
}

/**
 * Step 1: seals every older epoch that has files here, except those the manifest says closed
 * cleanly (they ack nothing more). Returns the epochs sealed now.
 * Seals are never deleted: a zombie that found its seal gone would ack again. So they accumulate
 * one per writer of the segment WAL that did not close cleanly (0005-segment-wal.md).
 */
async function sealOlderEpochs(dir: WalDirectory, ourEpoch: number, cleanlyClosed: ReadonlySet<number>): Promise<number[]> {
  const names = await dir.list();
  const sealed = new Set(names.map((name) => parseWalFileName(SEAL_PREFIX, name)).filter((e): e is number => e !== undefined));
  const toSeal = new Set<number>();
  for (const name of names) {
    const generation = parseWalFileName(SEGMENT_PREFIX, name) ?? parseWalFileName(SPARE_PREFIX, name);
    if (generation === undefined) continue;
    const epoch = epochOfGeneration(generation);
    if (epoch < ourEpoch && !cleanlyClosed.has(epoch) && !sealed.has(epoch)) toSeal.add(epoch);
  }
  const created: number[] = [];
  for (const epoch of [...toSeal].sort((a, b) => a - b)) {
    if (await dir.createSmall(sealName(epoch), new Uint8Array(0))) created.push(epoch);
  }
  if (toSeal.size > 0) await dir.syncDirectory();
  return created;
}

/** Reads one segment whole and decodes its frames (a missing file has none). */
export async function readSegment(dir: WalDirectory, name: string, generation: number): Promise<Frame[]> {
  const file = await dir.openFile(name);
  if (file === undefined) return [];
  try {
    const bytes = await file.read(0, await file.sizeBytes());
    return decodeSegment(bytes, generation, `${dir.description}/${name}`);
  } finally {
    await file.close();
  }
}

/**
 * After `syncReplayedSegments`: creates the ack file of `writerEpoch`, telling readers that
 * frames of older epochs below `startWalId` are durable (and everything at or above it is
 * this epoch's). Readers never apply a frame that no ack file covers.
 */
export async function publishTakeover(dir: WalDirectory, writerEpoch: number, startWalId: number): Promise<void> {
  await dir.createSmall(ackName(writerEpoch), encodeAck({ startWalId, ackedWalId: startWalId }));
}

/** Step 3's last part: fdatasyncs every segment that holds a replayed frame. */
export async function syncReplayedSegments(dir: WalDirectory, takeover: SegmentTakeover): Promise<void> {
  const names = new Set([...takeover.frames.values()].map((frame) => frame.segment));
  for (const name of names) {
    const file = await dir.openFile(name);
    if (file === undefined) throw new CorruptionError(`${dir.description}/${name}`, "a replayed WAL segment vanished before it was made durable");
    try {
      await file.datasync();
    } finally {
      await file.close();
    }
  }
}
