/**
 * The segment WAL as a read-only reader sees it: the frame with a given WAL id, once it is
 * acknowledged. Used by the WAL follower (wal-follower.ts) for ids that have no WAL object.
 *
 * A reader must never show a frame that a crash could take back, nor a sealed writer's late
 * frame. Frames sit in the page cache before their fdatasync, so their presence proves nothing;
 * the ack files (segment-format.ts) do. A frame with id w of epoch e is
 *   - void when a newer epoch E's ack file has startWalId <= w (E's fence is at or below it);
 *   - acknowledged when ack-<e> has ackedWalId >= w (its writer fdatasync'd it and passed its
 *     seal check), or a newer epoch's ack file has startWalId > w (that writer replayed it and
 *     fdatasync'd it before it created its ack file);
 *   - otherwise not yet readable: the reader waits (the next poll looks again).
 *
 * The tail keeps a cursor (segment, offset) on the frame it expects next, so following costs a
 * read or two per group commit; when the frame there does not check out (the writer moved to
 * the next segment, or the segment was recycled: its generation changed), it looks the id up
 * again among the segments, newest epoch first.
 */
import {
  ACK_PREFIX,
  FRAME_CHECKSUM_BYTES,
  FRAME_HEADER_BYTES,
  SEGMENT_PREFIX,
  decodeAck,
  decodeFrameAt,
  SEGMENT_FRAME_MAGIC,
  parseWalFileName,
  type AckRecord,
  type Frame,
} from "./segment-format.js";
import type { WalDirectory, WalFile } from "./wal-files.js";
import type { WalBatch } from "./wal-format.js";
import { MAX_WAL_FRAME_PAYLOAD_BYTES, WAL_ACK_READ_ATTEMPTS } from "../limits.js";
import { readU64 } from "../util/bytes.js";

interface Cursor {
  name: string;
  generation: number;
  file: WalFile;
  offsetBytes: number;
}

type Standing = "acked" | "void" | "pending";

export class SegmentTail {
  readonly #dir: WalDirectory;
  #cursor: Cursor | undefined;
  #acks = new Map<number, AckRecord>();

  constructor(dir: WalDirectory) {
    this.#dir = dir;
  }

  /** The batches of frame `walId` once it is acknowledged; undefined when there is none (yet). */
  async batchesOf(walId: number): Promise<WalBatch[] | undefined> {
    const atCursor = await this.#frameAtCursor();
    if (atCursor !== undefined && atCursor.walId === walId) {
      const standing = await this.#standingOf(atCursor.writerEpoch, walId);
      if (standing === "acked") return this.#advance(atCursor);
      if (standing === "pending") return undefined;
    }
    // Nothing written at the cursor yet, and no newer segment: the writer is idle (the common
    // case of a poll); do not walk the segments.
    if (atCursor === undefined && this.#cursor !== undefined && !(await this.#newerSegmentExists(this.#cursor.generation))) return undefined;
    return this.#locate(walId);
  }

  async close(): Promise<void> {
    await this.#cursor?.file.close().catch(() => undefined);
    this.#cursor = undefined;
  }

  #advance(frame: Frame): WalBatch[] {
    this.#cursor!.offsetBytes += frame.frameBytes;
    return frame.batches;
  }

  async #frameAtCursor(): Promise<Frame | undefined> {
    const cursor = this.#cursor;
    if (cursor === undefined) return undefined;
    return readFrameAt(cursor.file, cursor.offsetBytes, cursor.generation, cursor.name);
  }

  async #newerSegmentExists(generation: number): Promise<boolean> {
    for (const name of await this.#dir.list()) {
      const other = parseWalFileName(SEGMENT_PREFIX, name);
      if (other !== undefined && other > generation) return true;
    }
    return false;
  }

  /**
   * Finds frame `walId` among the segments, newest generation first, and moves the cursor to it.
   * When no segment holds it yet but the newest one ends with frames below it (a reader that
   * caught up with an idle writer, the common case after a read-only open), the cursor moves to
   * that end, where the writer puts its next frame: the polls that follow read there and do not
   * walk every segment again (which read and checked the whole WAL, hundreds of MiB, every poll).
   * Nor does it look at older segments then: no older segment can hold `walId`, now or later, as
   * one writer's frames go to its segments in order, and an older epoch's frame at or past a
   * newer epoch's frames is void.
   */
  async #locate(walId: number): Promise<WalBatch[] | undefined> {
    const generations = (await this.#dir.list())
      .map((name) => parseWalFileName(SEGMENT_PREFIX, name))
      .filter((generation): generation is number => generation !== undefined)
      .sort((a, b) => b - a);
    let end: Cursor | undefined;
    try {
      for (const generation of generations) {
        const name = SEGMENT_PREFIX + String(generation).padStart(20, "0");
        const file = await this.#dir.openFile(name);
        if (file === undefined) continue;
        let offsetBytes = 0;
        let found: Frame | undefined;
        let below = false;
        for (;;) {
          // Frames below walId are stepped over by their headers: none of them is returned.
          const header = await readFrameHeaderAt(file, offsetBytes, generation);
          if (header === undefined || header.walId > walId) break;
          if (header.walId === walId) {
            found = await readFrameAt(file, offsetBytes, generation, name);
            break;
          }
          below = true;
          offsetBytes += header.frameBytes;
        }
        if (found !== undefined) {
          const standing = await this.#standingOf(found.writerEpoch, walId);
          if (standing !== "void") {
            await this.#moveCursor({ name, generation, file, offsetBytes });
            return standing === "acked" ? this.#advance(found) : undefined;
          }
        }
        if (generation === generations[0] && below && found === undefined) {
          end = { name, generation, file, offsetBytes }; // kept open: the new cursor
          break; // no older segment can hold walId (see above)
        }
        await file.close().catch(() => undefined);
      }
      if (end !== undefined) {
        await this.#moveCursor(end);
        end = undefined;
      }
      return undefined;
    } finally {
      await end?.file.close().catch(() => undefined);
    }
  }

  async #moveCursor(cursor: Cursor): Promise<void> {
    if (this.#cursor?.file !== cursor.file) await this.#cursor?.file.close().catch(() => undefined);
    this.#cursor = cursor;
  }

  async #standingOf(writerEpoch: number, walId: number): Promise<Standing> {
    let standing = standingFrom(this.#acks, writerEpoch, walId);
    if (standing === "pending") {
      this.#acks = await this.#readAcks();
      standing = standingFrom(this.#acks, writerEpoch, walId);
    }
    return standing;
  }

  async #readAcks(): Promise<Map<number, AckRecord>> {
    const acks = new Map<number, AckRecord>();
    for (const name of await this.#dir.list()) {
      const epoch = parseWalFileName(ACK_PREFIX, name);
      if (epoch === undefined) continue;
      const file = await this.#dir.openFile(name);
      if (file === undefined) continue;
      try {
        for (let attempt = 0; attempt < WAL_ACK_READ_ATTEMPTS; attempt++) {
          const record = decodeAck(await file.read(0, 64));
          if (record !== undefined) {
            acks.set(epoch, record);
            break;
          }
        }
      } finally {
        await file.close().catch(() => undefined);
      }
    }
    return acks;
  }
}

function standingFrom(acks: Map<number, AckRecord>, writerEpoch: number, walId: number): Standing {
  let replayedByNewer = false;
  for (const [epoch, record] of acks) {
    if (epoch <= writerEpoch) continue;
    if (record.startWalId <= walId) return "void";
    replayedByNewer = true;
  }
  if (replayedByNewer) return "acked";
  const own = acks.get(writerEpoch);
  return own !== undefined && own.ackedWalId >= walId ? "acked" : "pending";
}

/**
 * The WAL id and length of the frame whose header is at `offsetBytes`, or undefined when no
 * header of this segment's generation is there. Only the header is read and nothing is
 * checksummed: enough to step over a frame, never to use one (readFrameAt checks it all).
 */
async function readFrameHeaderAt(file: WalFile, offsetBytes: number, generation: number): Promise<{ walId: number; frameBytes: number } | undefined> {
  const header = await file.read(offsetBytes, FRAME_HEADER_BYTES);
  if (header.length < FRAME_HEADER_BYTES) return undefined;
  const view = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (!view.subarray(0, 4).equals(SEGMENT_FRAME_MAGIC) || readU64(view, 4) !== generation) return undefined;
  const walId = readU64(view, 4 + 8 + 8);
  const payloadBytes = view.readUInt32BE(FRAME_HEADER_BYTES - 4);
  if (walId < 0 || payloadBytes < 4 || payloadBytes > MAX_WAL_FRAME_PAYLOAD_BYTES) return undefined;
  return { walId, frameBytes: FRAME_HEADER_BYTES + payloadBytes + FRAME_CHECKSUM_BYTES };
}

/** Reads the frame at `offsetBytes` of a segment file, or undefined when none checks out there. */
async function readFrameAt(file: WalFile, offsetBytes: number, generation: number, name: string): Promise<Frame | undefined> {
  const header = await file.read(offsetBytes, FRAME_HEADER_BYTES);
  if (header.length < FRAME_HEADER_BYTES) return undefined;
  const view = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  // Check the magic and generation before reading a payload whose length may be garbage.
  if (!view.subarray(0, 4).equals(SEGMENT_FRAME_MAGIC) || readU64(view, 4) !== generation) return undefined;
  const payloadBytes = view.readUInt32BE(FRAME_HEADER_BYTES - 4);
  if (payloadBytes > MAX_WAL_FRAME_PAYLOAD_BYTES) return undefined;
  const frameBytes = FRAME_HEADER_BYTES + payloadBytes + FRAME_CHECKSUM_BYTES;
  const bytes = await file.read(offsetBytes, frameBytes);
  const frame = decodeFrameAt(bytes, 0, generation, name);
  return frame === undefined ? undefined : { ...frame, offsetBytes };
}
