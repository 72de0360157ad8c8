/**
 * Segment WAL format (version 1): names of the files in the WAL directory and the frames inside
 * segment files. Decision page: docs/decisions/0005-segment-wal.md.
 *
 * Directory `<LocalStore root>/.durastream-wal/` (LocalStore never lists reserved names):
 *   seg-<generation, 20 digits>       a segment: frames from offset 0, then zeros or stale bytes
 *   spare-<generation, 20 digits>     a segment being preallocated (zeros), not yet in use
 *   seal-<writerEpoch, 20 digits>     empty: that epoch is fenced (its writer must not ack)
 *   ack-<writerEpoch, 20 digits>      that epoch's acknowledged frames, for readers (below)
 *
 * A generation is `writerEpoch * 2^20 + index`: every use of a file gets a new one (a recycled
 * segment is renamed to its new generation), only the writer of that epoch creates it, and the
 * order of generations is the order of the segments. A segment holds frames of its epoch only.
 *
 * Frame (one per group commit), big-endian:
 *   field          width    meaning
 *   magic          4        "DSWF"
 *   generation     8 u64    the segment's generation: a frame left from an earlier use of a
 *                           recycled file has a correct checksum but another generation
 *   writerEpoch    8 u64    the epoch that wrote the frame (= generation >> 20)
 *   walId          8 u64    WAL id: contiguous across frames and WAL objects (one id space)
 *   firstSeq       8 u64    seq of the frame's first batch (0 when it holds none)
 *   payloadBytes   4 u32    length of the payload
 *   payload        n        batchCount u32, then the batches as `encodeBatch` writes them
 *   checksum       8 u64    xxhash64 of every byte before it (header and payload)
 *
 * Ack file (24 bytes, rewritten in place after every acknowledged group, never fsync'd: it is
 * a hint for readers on this machine, rebuilt by the next writer after a crash):
 *   startWalId     8 u64    the epoch's WAL fence: frames of older epochs below it are durable
 *                           (this epoch replayed and fdatasync'd them before it acked anything)
 *   ackedWalId     8 u64    the epoch's last acknowledged frame (startWalId before the first)
 *   checksum       8 u64    xxhash64 of the 16 bytes before it (a torn read is retried)
 *
 * Reading a segment stops at the first frame that does not check out (bad magic, generation,
 * length or checksum): that is the end of the segment's frames, whatever follows. A frame whose
 * checksum is right but whose payload does not decode is corruption (it was written so).
 */
import { CorruptionError, assert } from "../errors.js";
import { ByteReader, ByteWriter, DecodeError, unzeroedBytes, writeBigU64, writeU32, writeU64 } from "../util/bytes.js";
import { checksum64, checksum64Matches } from "../util/checksum.js";
import { parseId } from "./paths.js";
import { readBatches, type WalBatch } from "./wal-format.js";

export const SEGMENT_FRAME_MAGIC = Buffer.from("DSWF", "latin1");
export const FRAME_HEADER_BYTES = 4 + 8 + 8 + 8 + 8 + 4;
export const FRAME_CHECKSUM_BYTES = 8;
/** Segments per epoch: the index part of a generation. */
export const SEGMENT_INDEX_LIMIT = 2 ** 20;

export const SEGMENT_PREFIX = "seg-";
export const SPARE_PREFIX = "spare-";
export const SEAL_PREFIX = "seal-";
export const ACK_PREFIX = "ack-";
export const ACK_FILE_BYTES = 24;
const ID_DIGITS = 20;

export interface FrameHeader {
  generation: number;
  writerEpoch: number;
  walId: number;
  firstSeq: number;
}

export interface Frame extends FrameHeader {
  batches: WalBatch[];
  /** Offset of the frame in its segment, and its length in bytes. */
  offsetBytes: number;
  frameBytes: number;
}

export function generationOf(writerEpoch: number, index: number): number {
  if (!(index >= 0 && index < SEGMENT_INDEX_LIMIT)) throw new RangeError(`segment index ${index} out of range`);
  const generation = writerEpoch * SEGMENT_INDEX_LIMIT + index;
  if (!Number.isSafeInteger(generation)) throw new RangeError(`writer epoch ${writerEpoch} too large for a segment generation`);
  return generation;
}

export const epochOfGeneration = (generation: number): number => Math.floor(generation / SEGMENT_INDEX_LIMIT);

const formatId = (id: number): string => String(id).padStart(ID_DIGITS, "0");
export const segmentName = (generation: number): string => SEGMENT_PREFIX + formatId(generation);
export const spareName = (generation: number): string => SPARE_PREFIX + formatId(generation);
export const sealName = (writerEpoch: number): string => SEAL_PREFIX + formatId(writerEpoch);
export const ackName = (writerEpoch: number): string => ACK_PREFIX + formatId(writerEpoch);

export interface AckRecord {
  startWalId: number;
  ackedWalId: number;
}

export function encodeAck(record: AckRecord): Uint8Array {
  const writer = new ByteWriter(ACK_FILE_BYTES);
  writer.u64(record.startWalId).u64(record.ackedWalId);
  writer.bigU64(checksum64(writer.view()));
  return writer.view();
}

/** Decodes an ack file; undefined when it does not check out (torn by a concurrent rewrite). */
export function decodeAck(bytes: Uint8Array): AckRecord | undefined {
  if (bytes.length < ACK_FILE_BYTES) return undefined;
  if (!checksum64Matches(bytes, 0, 16)) return undefined;
  try {
    const reader = new ByteReader(bytes);
    return { startWalId: reader.u64(), ackedWalId: reader.u64() };
  } catch {
    return undefined;
  }
}

/** Parses `<prefix><20 digits>`; undefined for any other name (the object keys' parser, paths.ts). */
export const parseWalFileName: (prefix: string, name: string) => number | undefined = parseId;

/** Where a frame's payload starts: after the header, with the batch count as its first field. */
const FRAME_BATCHES_OFFSET = FRAME_HEADER_BYTES + 4;

/** Encodes one frame from batches already encoded with `encodeBatch` (one exactly-sized copy). */
export function encodeFrame(header: FrameHeader, encodedBatches: readonly Uint8Array[]): Uint8Array {
  let batchBytes = 0;
  for (const batch of encodedBatches) batchBytes += batch.length;
  const size = FRAME_BATCHES_OFFSET + batchBytes + FRAME_CHECKSUM_BYTES;
  const out = unzeroedBytes(size);
  let pos = FRAME_BATCHES_OFFSET;
  for (const batch of encodedBatches) {
    out.set(batch, pos);
    pos += batch.length;
  }
  return sealFrame(out, pos, header, encodedBatches.length);
}

/** Writes header and batch count in front of the batches in `out[FRAME_BATCHES_OFFSET, end)` and the checksum after them; returns the frame. */
function sealFrame(out: Uint8Array, end: number, header: FrameHeader, batchCount: number): Uint8Array {
  out.set(SEGMENT_FRAME_MAGIC, 0);
  writeU64(out, 4, header.generation);
  writeU64(out, 12, header.writerEpoch);
  writeU64(out, 20, header.walId);
  writeU64(out, 28, header.firstSeq);
  writeU32(out, 36, end - FRAME_HEADER_BYTES);
  writeU32(out, FRAME_HEADER_BYTES, batchCount);
  writeBigU64(out, end, checksum64(out.subarray(0, end)));
  return out.subarray(0, end + FRAME_CHECKSUM_BYTES);
}

/**
 * A frame built in place (the segment WAL's writer): batches are encoded straight into its
 * payload, and `finish` writes the header, the batch count and the checksum around them, so the
 * batches are never copied into the frame. The same bytes as `encodeFrame` of the same batches.
 *
 * Unlike a WAL object's buffer, which is handed over to the store, a frame's buffer goes no
 * further than a write into the page cache (WalFile.write copies it): the writer reuses it for a
 * later frame once that write returned, so a busy writer makes no new buffer per group commit.
 */
export class FrameBuilder {
  /** End of the batches reserved so far. */
  #end = FRAME_BATCHES_OFFSET;
  #finished = false;

  /** `bytes`: the buffer to build in (its old contents are overwritten: every byte of the frame is written). */
  constructor(readonly bytes: Uint8Array) {
    assert(bytes.length >= FrameBuilder.capacityFor(0), () => `a frame buffer of ${bytes.length} bytes cannot hold an empty frame`);
  }

  /** Bytes a builder needs for batches of `batchBytes` in all. */
  static capacityFor(batchBytes: number): number {
    return FRAME_BATCHES_OFFSET + batchBytes + FRAME_CHECKSUM_BYTES;
  }

  /** The `size` bytes right after the previous batch, for the next batch to be encoded into; undefined when they do not fit. */
  reserve(size: number): Uint8Array | undefined {
    if (this.#finished || this.#end + size + FRAME_CHECKSUM_BYTES > this.bytes.length) return undefined;
    const out = this.bytes.subarray(this.#end, this.#end + size);
    this.#end += size;
    return out;
  }

  /** Whether `batches` are exactly the batches reserved here, in order (none left out, none from elsewhere). */
  holds(batches: readonly Uint8Array[]): boolean {
    let pos = FRAME_BATCHES_OFFSET;
    for (const batch of batches) {
      if (batch.buffer !== this.bytes.buffer || batch.byteOffset !== this.bytes.byteOffset + pos) return false;
      pos += batch.length;
    }
    return pos === this.#end && batches.length > 0;
  }

  /** The frame: header, the batches where they were encoded, checksum. Nothing can be reserved afterwards. */
  finish(header: FrameHeader, batchCount: number): Uint8Array {
    assert(!this.#finished, "FrameBuilder.finish() called twice");
    this.#finished = true;
    return sealFrame(this.bytes, this.#end, header, batchCount);
  }
}

/**
 * Decodes the frame at `offsetBytes` of a segment of `generation`, or returns undefined when
 * none checks out there (the end of the segment's frames). `bytes` holds the segment from 0.
 */
export function decodeFrameAt(bytes: Uint8Array, offsetBytes: number, generation: number, segment: string): Frame | undefined {
  if (offsetBytes + FRAME_HEADER_BYTES + FRAME_CHECKSUM_BYTES > bytes.length) return undefined;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!view.subarray(offsetBytes, offsetBytes + 4).equals(SEGMENT_FRAME_MAGIC)) return undefined;
  let header: FrameHeader;
  let payloadBytes: number;
  try {
    const reader = new ByteReader(bytes, offsetBytes + 4);
    header = { generation: reader.u64(), writerEpoch: reader.u64(), walId: reader.u64(), firstSeq: reader.u64() };
    payloadBytes = reader.u32();
  } catch {
    return undefined; // a u64 above 2^53: not a frame we wrote
  }
  if (header.generation !== generation || header.writerEpoch !== epochOfGeneration(generation)) return undefined;
  const end = offsetBytes + FRAME_HEADER_BYTES + payloadBytes;
  if (payloadBytes < 4 || end + FRAME_CHECKSUM_BYTES > bytes.length) return undefined;
  if (!checksum64Matches(bytes, offsetBytes, end)) return undefined;
  try {
    const reader = new ByteReader(bytes.subarray(0, end), offsetBytes + FRAME_HEADER_BYTES);
    const batches = readBatches(reader, reader.u32());
    if (reader.remaining !== 0) throw new DecodeError(`${reader.remaining} trailing payload bytes`);
    if (batches.length > 0 && batches[0]!.seq !== header.firstSeq) throw new DecodeError(`first batch seq ${batches[0]!.seq} != header ${header.firstSeq}`);
    return { ...header, batches, offsetBytes, frameBytes: end + FRAME_CHECKSUM_BYTES - offsetBytes };
  } catch (error) {
    if (error instanceof DecodeError) throw new CorruptionError(segment, `WAL frame ${header.walId} at offset ${offsetBytes}: ${error.message}`);
    throw error;
  }
}

/** Every frame of a segment, from offset 0 to the first that does not check out. */
export function decodeSegment(bytes: Uint8Array, generation: number, segment: string): Frame[] {
  const frames: Frame[] = [];
  let offsetBytes = 0;
  for (;;) {
    const frame = decodeFrameAt(bytes, offsetBytes, generation, segment);
    if (frame === undefined) return frames;
    if (frames.length > 0 && frame.walId !== frames[frames.length - 1]!.walId + 1) {
      throw new CorruptionError(segment, `WAL frame ${frame.walId} follows frame ${frames[frames.length - 1]!.walId}`);
    }
    frames.push(frame);
    offsetBytes += frame.frameBytes;
  }
}
